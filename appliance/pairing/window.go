package pairing

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by Window. They are written for a parent; a listener app
// can show them as they are.
var (
	// ErrWindowClosed: a listener tried to pair while the monitor was not in
	// pairing mode.
	ErrWindowClosed = errors.New("pairing: the monitor is not in pairing mode: press its button briefly, then try again")
	// ErrBusy: another listener is pairing right now.
	ErrBusy = errors.New("pairing: another phone is pairing with the monitor right now: wait a minute and try again")
	// ErrLocked: the lifetime failure limit was reached.
	ErrLocked = errors.New("pairing is locked after too many failed attempts: factory-reset the monitor (hold the button 10 s)")
	// ErrNoSession: Succeed named a connection that holds no pairing
	// session (it was never begun, or it already failed or expired). The
	// caller must not trust that listener.
	ErrNoSession = errors.New("pairing: this pairing attempt is no longer active (it took too long): try again")
	// ErrWindowDuration: Open was asked for a negative duration or one
	// longer than the maximum (15 minutes by default).
	ErrWindowDuration = errors.New("pairing: invalid pairing window duration")
)

// Defaults for WindowConfig, from Matter (window, session, failures per
// window) and HomeKit (lifetime failures).
const (
	DefaultWindowOpen          = 3 * time.Minute
	DefaultWindowMax           = 15 * time.Minute
	DefaultSessionTimeout      = 60 * time.Second
	DefaultMaxWindowFailures   = 20
	DefaultMaxLifetimeFailures = 100
)

// WindowConfig sets a Window's limits. Zero fields take the defaults.
type WindowConfig struct {
	DefaultOpen         time.Duration // Open(now, 0) opens for this long
	MaxOpen             time.Duration // Open refuses longer windows
	SessionTimeout      time.Duration // a session not finished by then fails
	MaxWindowFailures   int           // this many failures close the window
	MaxLifetimeFailures int           // this many failures ever lock pairing
}

func (c WindowConfig) withDefaults() WindowConfig {
	if c.DefaultOpen <= 0 {
		c.DefaultOpen = DefaultWindowOpen
	}
	if c.MaxOpen <= 0 {
		c.MaxOpen = DefaultWindowMax
	}
	if c.DefaultOpen > c.MaxOpen {
		c.DefaultOpen = c.MaxOpen
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.MaxWindowFailures <= 0 {
		c.MaxWindowFailures = DefaultMaxWindowFailures
	}
	if c.MaxLifetimeFailures <= 0 {
		c.MaxLifetimeFailures = DefaultMaxLifetimeFailures
	}
	return c
}

// CloseReason says why a pairing window closed.
type CloseReason int

// Close reasons. Manual and Reset are the ones a caller passes to Close; the
// Window produces the others itself.
const (
	CloseTimeout         CloseReason = iota + 1 // the window's time ran out
	CloseSuccess                                // a listener paired
	CloseTooManyFailures                        // the window or lifetime failure limit was reached
	CloseManual                                 // the parent closed it (`cradled pair --cancel`, button)
	CloseReset                                  // factory reset
)

func (r CloseReason) String() string {
	switch r {
	case CloseTimeout:
		return "timeout"
	case CloseSuccess:
		return "success"
	case CloseTooManyFailures:
		return "too-many-failures"
	case CloseManual:
		return "manual"
	case CloseReset:
		return "reset"
	}
	return fmt.Sprintf("CloseReason(%d)", int(r))
}

// Effect is something the Window's owner must do: record an event, update
// the LED and the mDNS "pairing open" flag, abort a connection's PAKE. The
// concrete types are listed below; a type switch handles them.
type Effect interface{ effect() }

// WindowOpened: the window is open until Until. Extended is true when it
// was already open (the owner moves its timer; the failure count carries on).
type WindowOpened struct {
	Until    time.Time
	Extended bool
}

// WindowClosed: the window closed; stop advertising pairing.
type WindowClosed struct{ Reason CloseReason }

// SessionStarted: Conn may now run the PAKE until Deadline.
type SessionStarted struct {
	Conn     uint64
	Deadline time.Time
}

// AttemptFailed: a pairing attempt failed. The owner appends it to the event
// log: the number of these since the last factory reset is the lifetime
// count given to NewWindow after a restart.
type AttemptFailed struct {
	Conn             uint64
	Reason           string
	WindowFailures   int // failures in this window, this one included
	LifetimeFailures int // failures since the last factory reset, this one included
}

// SessionExpired: Conn's session ran past its deadline. The owner aborts
// that connection's PAKE with pairing-failed. An AttemptFailed follows.
type SessionExpired struct{ Conn uint64 }

// SessionCancelled: the window was closed (manually or by a reset) while
// Conn was pairing. The owner aborts that connection's PAKE; it is not
// counted as a failure.
type SessionCancelled struct{ Conn uint64 }

// Paired: Conn completed pairing. The owner may now add its fingerprint to
// the allowlist. WindowClosed{CloseSuccess} follows.
type Paired struct{ Conn uint64 }

// Locked: the lifetime failure limit was reached; pairing is refused until a
// factory reset. The owner shows this (LED pattern, log).
type Locked struct{ LifetimeFailures int }

func (WindowOpened) effect()     {}
func (WindowClosed) effect()     {}
func (SessionStarted) effect()   {}
func (AttemptFailed) effect()    {}
func (SessionExpired) effect()   {}
func (SessionCancelled) effect() {}
func (Paired) effect()           {}
func (Locked) effect()           {}

// WindowStatus is a snapshot of a Window.
type WindowStatus struct {
	Open               bool
	Until              time.Time // when the window closes (meaningful if Open)
	InSession          bool
	Session            uint64 // the pairing connection (meaningful if InSession)
	SessionDeadline    time.Time
	FailuresThisWindow int
	LifetimeFailures   int
	Locked             bool
}

// Window is the monitor's pairing-window state machine. It does no I/O and
// reads no clock: every call takes the time, and returns the Effects the
// owner carries out. It is not safe for concurrent use: one goroutine owns it.
//
// Rules:
//   - Open starts a window (DefaultOpen, 3 min, when d is 0; at most MaxOpen,
//     15 min: a longer d is an error rather than silently shortened, so
//     `cradled pair --for 20m` tells the parent). Opening an open window
//     extends it to now+d if that is later, keeping its failure count and
//     any session: pressing the button again gives more time, not more
//     guesses.
//   - One session at a time: Begin while another connection pairs is ErrBusy.
//   - A session that neither succeeds nor fails within SessionTimeout (60 s)
//     expires and counts as a failure. Abort (connection gone) also counts:
//     otherwise a guesser could disconnect instead of failing.
//   - MaxWindowFailures (20) failures in one window close it; it takes a new
//     Open to try again.
//   - MaxLifetimeFailures (100) failures since the last Reset lock pairing:
//     even Open is refused (ErrLocked).
//   - A session begun before the window's deadline may finish after it (at
//     most SessionTimeout later): a parent who typed the code at 2:59 is not
//     failed. No new session starts after the deadline, and the window
//     closes (timeout) when that last session ends, unless it succeeded.
//
// Every method first applies the timeouts due at now, so the owner need not
// call Tick before each call; Tick (at NextDeadline) makes sure timeouts
// take effect when nothing else happens.
type Window struct {
	cfg WindowConfig

	open           bool
	until          time.Time
	windowFailures int
	lifetime       int

	inSession bool
	session   uint64
	deadline  time.Time
}

// NewWindow returns a closed window. lifetimeFailures is the number of
// AttemptFailed events recorded since the last factory reset; at or above
// cfg.MaxLifetimeFailures the window starts locked.
func NewWindow(cfg WindowConfig, lifetimeFailures int) *Window {
	return &Window{cfg: cfg.withDefaults(), lifetime: max(lifetimeFailures, 0)}
}

func (w *Window) locked() bool { return w.lifetime >= w.cfg.MaxLifetimeFailures }

// Open opens the window for d (0 means the default) or extends it. It
// returns ErrLocked after too many failures, ErrWindowDuration for d < 0 or
// d > MaxOpen.
func (w *Window) Open(now time.Time, d time.Duration) ([]Effect, error) {
	effs := w.advance(now)
	if w.locked() {
		return effs, ErrLocked
	}
	if d == 0 {
		d = w.cfg.DefaultOpen
	}
	if d < 0 || d > w.cfg.MaxOpen {
		return effs, fmt.Errorf("%w: %v asked, a window lasts at most %v: ask for less", ErrWindowDuration, d, w.cfg.MaxOpen)
	}
	until := now.Add(d)
	if w.open {
		if until.After(w.until) {
			w.until = until
		}
		return append(effs, WindowOpened{Until: w.until, Extended: true}), nil
	}
	w.open, w.until, w.windowFailures = true, until, 0
	return append(effs, WindowOpened{Until: until}), nil
}

// Close closes the window if it is open (reason is normally CloseManual or
// CloseReset). A session in progress is cancelled without counting as a
// failure. Closing a closed window does nothing.
func (w *Window) Close(now time.Time, reason CloseReason) []Effect {
	effs := w.advance(now)
	return append(effs, w.close(reason)...)
}

// Begin starts a pairing session for conn. It returns ErrLocked,
// ErrWindowClosed (not open, or past its deadline) or ErrBusy (a session is
// already running, conn's own included).
func (w *Window) Begin(now time.Time, conn uint64) ([]Effect, error) {
	effs := w.advance(now)
	switch {
	case w.locked():
		return effs, ErrLocked
	case !w.open || !now.Before(w.until):
		return effs, ErrWindowClosed
	case w.inSession:
		return effs, ErrBusy
	}
	w.inSession, w.session, w.deadline = true, conn, now.Add(w.cfg.SessionTimeout)
	return append(effs, SessionStarted{Conn: conn, Deadline: w.deadline}), nil
}

// Fail records a failed attempt by conn (wrong code, bad confirmation,
// protocol error) and ends its session. A conn without a session is ignored
// (its failure was already counted, or it never began).
func (w *Window) Fail(now time.Time, conn uint64, reason string) []Effect {
	effs := w.advance(now)
	if !w.inSession || w.session != conn {
		return effs
	}
	effs = append(effs, w.fail(conn, reason)...)
	return append(effs, w.advance(now)...)
}

// Abort is Fail for a connection that went away mid-session: it counts as a
// failed attempt, so disconnecting is no way to guess for free.
func (w *Window) Abort(now time.Time, conn uint64) []Effect {
	return w.Fail(now, conn, "connection closed during pairing")
}

// Succeed records that conn completed pairing; it closes the window. It
// returns ErrNoSession when conn holds no session (for instance, it expired
// at now): the owner must then not trust conn.
func (w *Window) Succeed(now time.Time, conn uint64) ([]Effect, error) {
	effs := w.advance(now)
	if !w.inSession || w.session != conn {
		return effs, ErrNoSession
	}
	w.inSession = false
	effs = append(effs, Paired{Conn: conn})
	return append(effs, w.close(CloseSuccess)...), nil
}

// Tick applies the timeouts due at now: session expiry, window expiry.
func (w *Window) Tick(now time.Time) []Effect { return w.advance(now) }

// NextDeadline returns when Tick next has work to do, if ever.
func (w *Window) NextDeadline() (time.Time, bool) {
	switch {
	case w.inSession:
		return w.deadline, true // the window's deadline waits for the session
	case w.open:
		return w.until, true
	}
	return time.Time{}, false
}

// Status returns a snapshot of the window.
func (w *Window) Status() WindowStatus {
	st := WindowStatus{
		Open:               w.open,
		FailuresThisWindow: w.windowFailures,
		LifetimeFailures:   w.lifetime,
		Locked:             w.locked(),
	}
	if w.open {
		st.Until = w.until
	}
	if w.inSession {
		st.InSession, st.Session, st.SessionDeadline = true, w.session, w.deadline
	}
	return st
}

// Reset is the factory reset: it closes the window (cancelling a session)
// and clears the lifetime failure count. The owner also wipes the event log
// that NewWindow's count comes from.
func (w *Window) Reset() []Effect {
	effs := w.close(CloseReset)
	w.lifetime, w.windowFailures = 0, 0
	return effs
}

// advance applies the timeouts due at now.
func (w *Window) advance(now time.Time) []Effect {
	var effs []Effect
	if w.inSession && !now.Before(w.deadline) {
		conn := w.session
		effs = append(effs, SessionExpired{Conn: conn})
		effs = append(effs, w.fail(conn, "pairing took too long")...)
	}
	if w.open && !w.inSession && !now.Before(w.until) {
		effs = append(effs, w.close(CloseTimeout)...)
	}
	return effs
}

// fail counts a failure by the session's conn and ends the session.
func (w *Window) fail(conn uint64, reason string) []Effect {
	w.inSession = false
	w.windowFailures++
	w.lifetime++
	effs := []Effect{AttemptFailed{Conn: conn, Reason: reason, WindowFailures: w.windowFailures, LifetimeFailures: w.lifetime}}
	if w.locked() {
		effs = append(effs, w.close(CloseTooManyFailures)...)
		return append(effs, Locked{LifetimeFailures: w.lifetime})
	}
	if w.windowFailures >= w.cfg.MaxWindowFailures {
		effs = append(effs, w.close(CloseTooManyFailures)...)
	}
	return effs
}

// close closes an open window, cancelling a session in progress.
func (w *Window) close(reason CloseReason) []Effect {
	if !w.open {
		return nil
	}
	var effs []Effect
	if w.inSession {
		w.inSession = false
		effs = append(effs, SessionCancelled{Conn: w.session})
	}
	w.open = false
	return append(effs, WindowClosed{Reason: reason})
}
