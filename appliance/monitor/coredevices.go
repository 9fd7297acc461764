package monitor

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// The web devices' side of Core: a phone paired on the monitor's page
// goes through the same pairing.Window as a listener's PAKE, so the
// window, the per-address limits and the wrong-code reports hold for
// both paths.
//
// A web attempt is two steps. WebPairStart asks the window for a turn
// (Begin, with the page's address as the source) before the shell looks
// at the typed code: a closed window, a busy one and an address whose
// turn is over are refused there, so the web path gives no guess the
// PAKE path would not. WebPairChecked carries the shell's constant-time
// comparison: a wrong code is the window's Fail (counted in the window
// and for the address, recorded, told to the trusted listeners and
// logged, exactly as a wrong key confirmation); a right one is the
// window's Succeed, and device-trusted is appended (Must) before the
// shell answers with the credential and before every trusted listener
// gets a device_added notice (name, id, time). The core never sees the code nor
// the credential, only the credential's hash inside the payload.
//
// Attempts live in the window under webKey(attempt), which no
// connection id reaches, so the window's expiry and cancellation of an
// attempt find no connection and end it silently.

// Errors a page turns into sentences; with pairing.ErrWindowClosed,
// pairing.ErrBusy, pairing.ErrSourceLocked and pairing.ErrNoSession they
// are what PairDevice returns.
var (
	// ErrWrongCode: the typed setup code is not the monitor's. It counts
	// as a wrong code in the pairing window.
	ErrWrongCode = errors.New("monitor: that is not the monitor's setup code: check the code on the card and try again")
	// ErrDeviceName: the device's name is empty, too long or holds a
	// control character. Refused before the window: not counted.
	ErrDeviceName = errors.New("monitor: give this device a name of at most 64 characters, such as \"Bedside phone\"")
	// ErrUnknownDevice: no trusted device has that id (it was revoked, or
	// the monitor was reset).
	ErrUnknownDevice = errors.New("monitor: no paired device has that id: list them with `cradled listeners`")
)

// webKey is the window's name for web attempt a: the top bit set, which
// connection ids (counted from 1) never reach.
func webKey(a uint64) uint64 { return 1<<63 | a }

// checkDeviceName enforces the rules of a device's name: 1 to
// store.MaxDeviceNameLen bytes of UTF-8, without control characters,
// not only spaces.
func checkDeviceName(name string) error {
	switch {
	case strings.TrimSpace(name) == "", len(name) > store.MaxDeviceNameLen, !utf8.ValidString(name),
		strings.IndexFunc(name, unicode.IsControl) >= 0:
		return ErrDeviceName
	}
	return nil
}

// webPairStart asks the window for a turn for a web attempt.
func (c *Core) webPairStart(ev WebPairStart) ([]Effect, error) {
	if err := checkDeviceName(ev.Name); err != nil {
		return nil, err // not a guess: not counted
	}
	eff, err := c.window.Begin(ev.At, webKey(ev.Attempt), ev.Source)
	return c.windowEffects(ev.At, eff), err
}

// webPairChecked applies the shell's verdict on the typed code.
func (c *Core) webPairChecked(ev WebPairChecked) ([]Effect, error) {
	key := webKey(ev.Attempt)
	if !ev.OK {
		weff := c.window.Fail(ev.At, key, "wrong setup code on the monitor's page")
		if !failed(weff, key) {
			// The attempt had ended (expired, or the window was closed
			// or reset in between): nothing was checked against it.
			return c.windowEffects(ev.At, weff), pairing.ErrNoSession
		}
		return c.windowEffects(ev.At, weff), ErrWrongCode
	}
	weff, err := c.window.Succeed(ev.At, key)
	if err != nil {
		return c.windowEffects(ev.At, weff), err
	}
	d := ev.Device
	if d.At.IsZero() {
		d.At = ev.At
	}
	// Durable before the shell hands out the credential, and before the
	// trusted listeners are told (a parent notices a device they do not
	// know).
	eff := []Effect{Append{Payload: d, Must: true}}
	note := control.DeviceAdded{ID: d.ID, Name: d.Name, PairedAtMillis: d.At.UnixMilli()}
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		if c.conns[id].trusted {
			eff = append(eff, Send{Conn: id, Msg: note})
		}
	}
	return append(eff, c.windowEffects(ev.At, weff)...), nil
}

// failed reports whether effs count a wrong code for key.
func failed(effs []pairing.Effect, key uint64) bool {
	for _, e := range effs {
		if f, ok := e.(pairing.AttemptFailed); ok && f.Conn == key {
			return true
		}
	}
	return false
}

// deviceGone turns a store event into the end of web devices' access.
func deviceGone(p store.Payload) []Effect {
	switch p := p.(type) {
	case store.DeviceRevoked:
		return []Effect{EndDevice{ID: p.ID}}
	case store.TrustReset:
		return []Effect{EndDevice{All: true}}
	}
	return nil
}
