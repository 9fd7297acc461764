package admin

import (
	"errors"

	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// Errors of the admin API. A Client's errors match them (and the pairing,
// identity and store sentinels in the table below) with errors.Is.
var (
	// ErrNotRunning: no daemon listens on the socket.
	ErrNotRunning = errors.New("admin: the monitor is not running (no admin socket): start it with `systemctl start cradled` or `make run`")
	// ErrUnknownListener: Revoke named a fingerprint that is not trusted.
	ErrUnknownListener = errors.New("admin: no trusted listener has this fingerprint: see cradled listeners")
	// ErrUnknownDevice: Revoke named a device id that no paired web
	// device holds.
	ErrUnknownDevice = errors.New("admin: no paired device has this id: see cradled listeners")
	// ErrNoEffect: a simulated button press caused nothing within its
	// time (the monitor's log says why).
	ErrNoEffect = errors.New("admin: the simulated button press had no effect (see the monitor's log)")
	// ErrBadRequest: the request did not decode.
	ErrBadRequest = errors.New("admin: bad request")
	// ErrPermission: this user may not use the admin socket.
	ErrPermission = errors.New("admin: permission denied on the monitor's admin socket")
	// ErrUnknownCommand: the daemon does not know the command (it is older
	// than this cradled).
	ErrUnknownCommand = errors.New("admin: unknown command")
)

// codes maps the wire code of an error to its Go sentinel. It is the only
// place that does; the first entry a server-side error matches names it.
var codes = []struct {
	code string
	err  error
}{
	{"pairing_duration", pairing.ErrWindowDuration},
	{"unknown_listener", ErrUnknownListener},
	{"unknown_device", ErrUnknownDevice},
	{"bad_fingerprint", identity.ErrBadFingerprint},
	{"no_effect", ErrNoEffect},
	{"bad_request", ErrBadRequest},
	{"unknown_command", ErrUnknownCommand},
	{"store_closed", store.ErrClosed},
}

// codeOf names err for the wire; "" when no sentinel matches.
func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// sentinel returns the error a code stands for, or nil.
func sentinel(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// Error is an error the daemon returned. Its text is the daemon's, written
// for a parent; errors.Is matches the sentinel its Code names.
type Error struct {
	Code    string // "" when the daemon's error has no sentinel
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel named by Code, or nil.
func (e *Error) Unwrap() error { return sentinel(e.Code) }
