package pairing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Errors returned by Window. They are written for a parent; a listener app
// can show them as they are.
var (
	// ErrWindowClosed: a listener tried to pair while the monitor was not in
	// pairing mode.
	ErrWindowClosed = errors.New("pairing: the monitor is not in pairing mode: press its button briefly, then try again")
	// ErrBusy: every pairing slot is taken, or this device already has a
	// pairing session running.
	ErrBusy = errors.New("pairing: other phones are pairing with the monitor right now: wait a few seconds and try again")
	// ErrSourceLocked: this device (network address) tried too many wrong
	// codes, or started too many sessions, in this window.
	ErrSourceLocked = errors.New("pairing: this device tried too many wrong setup codes in this pairing window: check the code, press the monitor's button once (it gives every device a new turn), and try again")
	// ErrNoSession: Succeed named a connection that holds no pairing
	// session (it was never begun, or it already failed or expired). The
	// caller must not trust that listener.
	ErrNoSession = errors.New("pairing: this pairing attempt is no longer active (it took too long): try again")
	// ErrWindowDuration: Open was asked for a negative duration or one
	// longer than the maximum (15 minutes by default).
	ErrWindowDuration = errors.New("pairing: invalid pairing window duration")
)

// Defaults for WindowConfig. The window, its length and the 20 wrong codes
// that close it are Matter's; the rest are Cradle's, chosen so that a
// stranger on the network cannot take pairing away from a parent (see
// docs/SECURITY.md).
const (
	DefaultWindowOpen        = 3 * time.Minute
	DefaultWindowMax         = 15 * time.Minute
	DefaultSessionTimeout    = 10 * time.Second
	DefaultMaxSessions       = 4
	DefaultMaxWindowFailures = 20
	DefaultMaxSourceFailures = 3
	DefaultMaxWindowSessions = 100
	DefaultMaxSourceSessions = 10
)

// WindowConfig sets a Window's limits. Zero fields take the defaults.
type WindowConfig struct {
	DefaultOpen       time.Duration // Open(now, 0) opens for this long
	MaxOpen           time.Duration // Open refuses longer windows
	SessionTimeout    time.Duration // a session not finished by then ends
	MaxSessions       int           // sessions running at once (one per source)
	MaxWindowFailures int           // this many wrong codes close the window
	MaxSourceFailures int           // this many wrong codes from one source end its turn
	MaxWindowSessions int           // this many sessions begun close the window
	MaxSourceSessions int           // this many sessions begun by one source end its turn
}

func (c WindowConfig) withDefaults() WindowConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defN := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.DefaultOpen, DefaultWindowOpen)
	def(&c.MaxOpen, DefaultWindowMax)
	c.DefaultOpen = min(c.DefaultOpen, c.MaxOpen)
	def(&c.SessionTimeout, DefaultSessionTimeout)
	defN(&c.MaxSessions, DefaultMaxSessions)
	defN(&c.MaxWindowFailures, DefaultMaxWindowFailures)
	defN(&c.MaxSourceFailures, DefaultMaxSourceFailures)
	defN(&c.MaxWindowSessions, DefaultMaxWindowSessions)
	defN(&c.MaxSourceSessions, DefaultMaxSourceSessions)
	return c
}

// CloseReason says why a pairing window closed.
type CloseReason int

// Close reasons. Manual and Reset are the ones a caller passes to Close; the
// Window produces the others itself.
const (
	CloseTimeout         CloseReason = iota + 1 // the window's time ran out
	CloseSuccess                                // a listener paired
	CloseTooManyFailures                        // too many wrong codes, or sessions, in this window
	CloseManual                                 // a parent closed it (`cradled pair --cancel`, a paired listener)
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
// the LED and the mDNS "pairing open" flag, end a connection's PAKE. The
// concrete types are listed below; a type switch handles them.
type Effect interface{ effect() }

// WindowOpened: the window is open until Until. Extended is true when it
// was already open (the owner moves its timer; the counts carry on).
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

// AttemptFailed: a wrong setup code was tried (the key confirmation did
// not verify). The owner records it and tells the paired listeners.
type AttemptFailed struct {
	Conn             uint64
	Source           string
	Reason           string
	WindowFailures   int // wrong codes in this window, this one included
	LifetimeFailures int // wrong codes since the window was made, this one included
}

// SessionExpired: Conn's session ran past its deadline. The owner ends
// that connection's PAKE with pairing-failed. It is not a guess at the
// code (nothing was confirmed), so it is not counted as a failure.
type SessionExpired struct{ Conn uint64 }

// SessionCancelled: the window was closed (manually, by too many failures
// or by a reset) while Conn was pairing. The owner ends that connection's
// PAKE; it is not counted as a failure.
type SessionCancelled struct{ Conn uint64 }

// Paired: Conn completed pairing. The owner may now add its fingerprint to
// the allowlist. WindowClosed{CloseSuccess} follows.
type Paired struct{ Conn uint64 }

func (WindowOpened) effect()     {}
func (WindowClosed) effect()     {}
func (SessionStarted) effect()   {}
func (AttemptFailed) effect()    {}
func (SessionExpired) effect()   {}
func (SessionCancelled) effect() {}
func (Paired) effect()           {}

// WindowStatus is a snapshot of a Window.
type WindowStatus struct {
	Open               bool
	Until              time.Time // when the window closes (meaningful if Open)
	Sessions           int       // pairing sessions running
	FailuresThisWindow int       // wrong codes in this window (or the last one)
	LifetimeFailures   int       // wrong codes since NewWindow
	LastClose          CloseReason
}

// Window is the monitor's pairing-window state machine. It does no I/O and
// reads no clock: every call takes the time, and returns the Effects the
// owner carries out. It is not safe for concurrent use: one goroutine owns it.
//
// A stranger on the network must not be able to take pairing away from
// the parent who pressed the button, so the rules bound what one source
// (a network address) can do, and count only what is a guess:
//   - Open starts a window (DefaultOpen, 3 min, when d is 0; at most
//     MaxOpen, 15 min: a longer d is an error rather than silently
//     shortened). Opening an open window extends it to now+d if that is
//     later, keeping its counts and sessions: pressing the button again
//     gives more time, not more guesses. There is no lifetime lock: every
//     window is opened by a parent (the button, `cradled pair`, a paired
//     listener, or the first start of an unpaired monitor), so the odds
//     of a guesser grow only with the parent's own actions.
//   - Up to MaxSessions (4) sessions run at once, at most one per source:
//     one connection cannot hold pairing for itself. Begin beyond that is
//     ErrBusy.
//   - A session lasts at most SessionTimeout (10 s: SPAKE2 is two round
//     trips and the code is typed before connecting). A session that
//     expires, or whose connection goes away, ends without counting as a
//     failure: the monitor's confirmation is sent only after the
//     listener's verified, so an unfinished session reveals nothing about
//     the code.
//   - Fail is a wrong code (a key confirmation that did not verify): the
//     only guess. MaxSourceFailures (3) from one source end that source's
//     turn in this window (ErrSourceLocked); MaxWindowFailures (20) in
//     all close the window.
//   - MaxSourceSessions (10) sessions begun by one source end its turn,
//     and a Begin after MaxWindowSessions (100) in all closes the window:
//     each session costs the monitor a key derivation, so sessions are
//     bounded too.
//   - A session begun before the window's deadline may finish after it (at
//     most SessionTimeout later): a parent who typed the code at 2:59 is
//     not failed. No new session starts after the deadline, and the window
//     closes (timeout) when its last session ends, unless one succeeded.
//
// Every method first applies the timeouts due at now, so the owner need not
// call Tick before each call; Tick (at NextDeadline) makes sure timeouts
// take effect when nothing else happens.
type Window struct {
	cfg WindowConfig

	open           bool
	until          time.Time
	windowFailures int
	windowSessions int
	lifetime       int
	lastClose      CloseReason

	sessions map[uint64]pairingSession
	sources  map[string]*sourceCount // this window's, reset at Open
}

type pairingSession struct {
	source   string
	deadline time.Time
}

type sourceCount struct{ sessions, failures int }

// NewWindow returns a closed window. lifetimeFailures is the number of
// wrong codes recorded before (a statistic for the parent: it locks
// nothing).
func NewWindow(cfg WindowConfig, lifetimeFailures int) *Window {
	return &Window{cfg: cfg.withDefaults(), lifetime: max(lifetimeFailures, 0),
		sessions: map[uint64]pairingSession{}, sources: map[string]*sourceCount{}}
}

// Open opens the window for d (0 means the default) or extends it. It
// returns ErrWindowDuration for d < 0 or d > MaxOpen.
//
// Only a parent opens the window (the monitor's button, `cradled pair`
// on the monitor, a paired listener), so an open, even of a window
// already open, gives every device a fresh turn: a phone that tried 3
// wrong codes may try again at once. The window's own limits (wrong
// codes and sessions in this window) carry on when it is extended.
func (w *Window) Open(now time.Time, d time.Duration) ([]Effect, error) {
	effs := w.advance(now)
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
		clear(w.sources) // a parent's press: every device's turn starts again
		return append(effs, WindowOpened{Until: w.until, Extended: true}), nil
	}
	w.open, w.until, w.windowFailures, w.windowSessions = true, until, 0, 0
	clear(w.sources)
	return append(effs, WindowOpened{Until: until}), nil
}

// Close closes the window if it is open (reason is normally CloseManual or
// CloseReset). Sessions in progress are cancelled without counting as
// failures. Closing a closed window does nothing.
func (w *Window) Close(now time.Time, reason CloseReason) []Effect {
	effs := w.advance(now)
	return append(effs, w.close(reason)...)
}

// Begin starts a pairing session for conn, from source (the peer's
// network address, without its port). It returns ErrWindowClosed (not
// open, or past its deadline), ErrBusy (every slot taken, or source or
// conn already pairing) or ErrSourceLocked (source has had its turn).
func (w *Window) Begin(now time.Time, conn uint64, source string) ([]Effect, error) {
	effs := w.advance(now)
	if !w.open || !now.Before(w.until) {
		return effs, ErrWindowClosed
	}
	sc := w.sources[source]
	if sc != nil && (sc.failures >= w.cfg.MaxSourceFailures || sc.sessions >= w.cfg.MaxSourceSessions) {
		return effs, ErrSourceLocked
	}
	if w.windowSessions >= w.cfg.MaxWindowSessions {
		// Every session costs a key derivation: a window that has served
		// this many is closed, as after too many wrong codes.
		return append(effs, w.close(CloseTooManyFailures)...), ErrWindowClosed
	}
	if _, ok := w.sessions[conn]; ok || len(w.sessions) >= w.cfg.MaxSessions || w.pairing(source) {
		return effs, ErrBusy
	}
	if sc == nil {
		sc = &sourceCount{}
		w.sources[source] = sc
	}
	sc.sessions++
	w.windowSessions++
	deadline := now.Add(w.cfg.SessionTimeout)
	w.sessions[conn] = pairingSession{source: source, deadline: deadline}
	return append(effs, SessionStarted{Conn: conn, Deadline: deadline}), nil
}

// pairing reports whether source has a session running.
func (w *Window) pairing(source string) bool {
	for _, s := range w.sessions {
		if s.source == source {
			return true
		}
	}
	return false
}

// Fail records a wrong code by conn (its key confirmation did not verify)
// and ends its session. A conn without a session is ignored.
func (w *Window) Fail(now time.Time, conn uint64, reason string) []Effect {
	effs := w.advance(now)
	s, ok := w.sessions[conn]
	if !ok {
		return effs
	}
	delete(w.sessions, conn)
	w.windowFailures++
	w.lifetime++
	if sc := w.sources[s.source]; sc != nil {
		sc.failures++
	}
	effs = append(effs, AttemptFailed{Conn: conn, Source: s.source, Reason: reason, WindowFailures: w.windowFailures, LifetimeFailures: w.lifetime})
	if w.windowFailures >= w.cfg.MaxWindowFailures {
		effs = append(effs, w.close(CloseTooManyFailures)...)
	}
	return append(effs, w.advance(now)...)
}

// Abort ends conn's session without counting a failure: its connection
// went away, or it sent a pairing message that is not a guess (a share
// that is not a valid point). Nothing about the code was revealed.
func (w *Window) Abort(now time.Time, conn uint64) []Effect {
	effs := w.advance(now)
	if _, ok := w.sessions[conn]; !ok {
		return effs
	}
	delete(w.sessions, conn)
	return append(effs, w.advance(now)...)
}

// Succeed records that conn completed pairing; it closes the window. It
// returns ErrNoSession when conn holds no session (for instance, it expired
// at now): the owner must then not trust conn.
func (w *Window) Succeed(now time.Time, conn uint64) ([]Effect, error) {
	effs := w.advance(now)
	if _, ok := w.sessions[conn]; !ok {
		return effs, ErrNoSession
	}
	delete(w.sessions, conn)
	effs = append(effs, Paired{Conn: conn})
	return append(effs, w.close(CloseSuccess)...), nil
}

// Config returns the window's limits, defaults filled in.
func (w *Window) Config() WindowConfig { return w.cfg }

// Tick applies the timeouts due at now: session expiry, window expiry.
func (w *Window) Tick(now time.Time) []Effect { return w.advance(now) }

// NextDeadline returns when Tick next has work to do, if ever.
func (w *Window) NextDeadline() (time.Time, bool) {
	if !w.open && len(w.sessions) == 0 {
		return time.Time{}, false
	}
	var next time.Time
	if len(w.sessions) == 0 {
		next = w.until // the window's deadline waits for its sessions
	}
	for _, s := range w.sessions {
		if next.IsZero() || s.deadline.Before(next) {
			next = s.deadline
		}
	}
	return next, true
}

// Status returns a snapshot of the window.
func (w *Window) Status() WindowStatus {
	st := WindowStatus{
		Open:               w.open,
		Sessions:           len(w.sessions),
		FailuresThisWindow: w.windowFailures,
		LifetimeFailures:   w.lifetime,
		LastClose:          w.lastClose,
	}
	if w.open {
		st.Until = w.until
	}
	return st
}

// Reset is the factory reset: it closes the window (cancelling its
// sessions) and clears the counts.
func (w *Window) Reset() []Effect {
	effs := w.close(CloseReset)
	w.lifetime, w.windowFailures, w.windowSessions = 0, 0, 0
	return effs
}

// advance applies the timeouts due at now, in connection order.
func (w *Window) advance(now time.Time) []Effect {
	var effs []Effect
	for _, conn := range slices.Sorted(maps.Keys(w.sessions)) {
		if !now.Before(w.sessions[conn].deadline) {
			delete(w.sessions, conn)
			effs = append(effs, SessionExpired{Conn: conn})
		}
	}
	if w.open && len(w.sessions) == 0 && !now.Before(w.until) {
		effs = append(effs, w.close(CloseTimeout)...)
	}
	return effs
}

// close closes an open window, cancelling the sessions in progress.
func (w *Window) close(reason CloseReason) []Effect {
	if !w.open {
		return nil
	}
	var effs []Effect
	for _, conn := range slices.Sorted(maps.Keys(w.sessions)) {
		effs = append(effs, SessionCancelled{Conn: conn})
	}
	clear(w.sessions)
	clear(w.sources)
	w.open, w.lastClose = false, reason
	return append(effs, WindowClosed{Reason: reason})
}
