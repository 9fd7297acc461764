package monitor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

// Core is the monitor role's decisions, as pairing.Window is the pairing
// window's: events in (Step), effects out. It starts no goroutine, reads
// no clock (every event carries its time) and does no I/O; its owner
// carries out the effects in order. It is not safe for concurrent use.
//
// Rules:
//   - The gate, for unpaired connections (strangers until they pair):
//     while the pairing window is closed one is answered (hello_ack, so
//     it learns it is not trusted) and closed with pairing_closed; so is
//     every idle one when the window closes. While it is open, at most
//     MaxUntrusted are served at once, at most MaxUntrustedPerAddr from
//     one address, each for at most UnpairedLifetime unless it is
//     pairing: a newcomer over a limit evicts the oldest idle one (of
//     its address first), and is refused with busy only when every one
//     is pairing. A stranger is never written to the event log: its
//     comings and goings are counted in memory (Strangers), so a flood
//     cannot wear the SD card.
//   - A trusted connection is recorded (connection-opened, also when an
//     unpaired one becomes trusted), answered (hello_ack, the first
//     message), then its status pump starts. When a recorded connection
//     closes it is recorded (connection-closed, with its close reason
//     and duration); every KeepConnections of those the connection
//     history is compacted.
//   - Pairing follows the window (pairing.Window), which bounds what one
//     address can do; the core gives it each connection's address. Its
//     effects become events in the log, the mDNS flag, the LED, the end
//     of a session's PAKE (with pairing_failed to the listener) and a
//     pairing_state notice to every trusted connection when the window
//     opens or closes and when a wrong code is tried. A confirmed
//     pairing appends listener-trusted before the connection is trusted
//     and told (pair_done), and its status pump starts after pair_done:
//     if that append fails, nothing else happens. A trusted listener may
//     open and close the window (pair_open, pair_close).
//   - From the store: listener-trusted trusts that listener's live
//     connections; listener-revoked closes them with revoked;
//     trust-reset resets the window and closes every connection with
//     revoked.
//   - The button: a short press opens the window (as OpenPairing 0), a
//     long press appends trust-reset.
//   - Streams (corestream.go): stream_start records a session (kind and
//     id checked: bad_request; at most maxStreamRequests per connection:
//     busy); webrtc_offer for a recorded session runs it, within
//     MaxStreamsPerConn running sessions per connection and MaxStreams in
//     all (busy), an offer for a running session replacing it within its
//     slot; the core then asks for the shared tracks' pumps (Pumps, only
//     when they change) and the answer (Answer). stream_stop for an
//     unknown session is a bad_request; a known one is stopped. A session
//     whose peer connection ends on its own is told to the listener
//     (stream_stop); a closed connection's sessions end with it.
//   - The LED shows the window, the running sessions and the faults
//     (store, microphone, network); an LED effect comes only when that
//     changes.
//   - Status counts the trusted connections and the running sessions.
type Core struct {
	cfg       CoreConfig
	window    *pairing.Window
	conns     map[uint64]*coreConn
	closes    int
	strangers Strangers
	gen       uint64 // the last LED or Advertise effect's Gen

	pumping  Pumps // the pumps last asked for (Gen: the newest generation)
	noMic    bool
	storeOK  bool
	network  bool
	led      hw.State
	ledShown bool
}

// CoreConfig is what the core knows of the monitor. Zero limits take the
// defaults.
type CoreConfig struct {
	Name             string
	DeviceID         string
	AutoStream       string
	Window           pairing.WindowConfig
	LifetimeFailures int  // from the store, at start
	LED              bool // a device shows the state: emit LED effects
	MaxUntrusted     int  // default maxUntrusted
	KeepConnections  int  // default keepConnections
	// MaxUntrustedPerAddr bounds the unpaired connections from one
	// address (default maxUntrustedPerAddr); UnpairedLifetime is how long
	// one is served while it is not pairing (default unpairedLifetime).
	MaxUntrustedPerAddr int
	UnpairedLifetime    time.Duration
	// The running sessions (offers accepted) allowed per connection and
	// in all: default rtc.DefaultMaxSessionsPerConn and
	// rtc.DefaultMaxSessions, as the engine's (which also enforces them).
	MaxStreamsPerConn int
	MaxStreams        int
}

type coreConn struct {
	peer     identity.Fingerprint
	remote   string
	source   string // remote's address without the port: pairing's unit
	trusted  bool
	recorded bool // connection-opened was appended
	since    time.Time
	active   time.Time // its last pairing message: the idle one evicted first is the one quiet longest
	expires  time.Time // an unpaired one is closed then, unless pairing; zero while it is closing (or trusted)
	pairing  bool      // a PAKE session runs on it
	pairName string    // the name given in pair_start
	streams  map[string]*coreStream
}

// NewCore returns a core with no connection, the window closed, and the
// store and network taken as healthy until a Health event says otherwise.
func NewCore(cfg CoreConfig) *Core {
	if cfg.MaxUntrusted <= 0 {
		cfg.MaxUntrusted = maxUntrusted
	}
	if cfg.KeepConnections <= 0 {
		cfg.KeepConnections = keepConnections
	}
	if cfg.MaxUntrustedPerAddr <= 0 {
		cfg.MaxUntrustedPerAddr = maxUntrustedPerAddr
	}
	if cfg.UnpairedLifetime <= 0 {
		cfg.UnpairedLifetime = unpairedLifetime
	}
	if cfg.MaxStreamsPerConn <= 0 {
		cfg.MaxStreamsPerConn = rtc.DefaultMaxSessionsPerConn
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = rtc.DefaultMaxSessions
	}
	return &Core{cfg: cfg, window: pairing.NewWindow(cfg.Window, cfg.LifetimeFailures), conns: map[uint64]*coreConn{}, storeOK: true, network: true}
}

// Event is an input of Core.Step; the concrete types follow.
type Event interface{ coreEvent() }

// ConnAccepted: the transport handed over a connection (after hello).
type ConnAccepted struct {
	At      time.Time
	Conn    uint64
	Peer    identity.Fingerprint
	Remote  string
	Trusted bool // the gate's verdict at the handshake
}

// ConnClosed: a connection ended with Err (nil or transport.ErrClosed: a
// plain close).
type ConnClosed struct {
	At   time.Time
	Conn uint64
	Err  error
}

// PairStart: pair_start from a connection. On no error the owner runs
// the PAKE; if that fails it steps PairFailed.
type PairStart struct {
	At   time.Time
	Conn uint64
	Name string
}

// PairAborted: the PAKE of Conn could not go on (its share was refused
// by the PAKE after the session began). Not a guess: not counted.
type PairAborted struct {
	At   time.Time
	Conn uint64
}

// PairConfirmed: pair_confirm from Conn. OK is the PAKE's verdict on the
// key confirmation; without a session the core answers a protocol error.
// Done is the answer the core sends once the listener is durably trusted.
type PairConfirmed struct {
	At   time.Time
	Conn uint64
	OK   bool
	Done control.PairDone
}

// StoreAppended: an event read back from the store's subscription.
type StoreAppended struct {
	At      time.Time
	Payload store.Payload
}

// Tick: time passed; the window's timeouts due at At take effect.
type Tick struct{ At time.Time }

// OpenPairing: open (or extend) the window for D (0: the default).
type OpenPairing struct {
	At time.Time
	D  time.Duration
}

// ClosePairing: close the window by hand.
type ClosePairing struct{ At time.Time }

// PairOpen: a connection asked to open (or extend) the window for D (0:
// the default): pair_open. Only a trusted one may; it is answered with
// pairing_state.
type PairOpen struct {
	At   time.Time
	Conn uint64
	D    time.Duration
}

// PairClose: a connection asked to close the window: pair_close. Only a
// trusted one may; it is answered with pairing_state.
type PairClose struct {
	At   time.Time
	Conn uint64
}

// Button: the front panel's button.
type Button struct {
	At    time.Time
	Event hw.ButtonEvent
}

// Media: whether the microphone is missing (a monitor meant to hear the
// baby with only a test tone).
type Media struct {
	NoMic bool
}

// Health: the store answers, and the network has an address.
type Health struct {
	StoreOK bool
	Network bool
}

func (ConnAccepted) coreEvent()  {}
func (ConnClosed) coreEvent()    {}
func (PairStart) coreEvent()     {}
func (PairAborted) coreEvent()   {}
func (PairOpen) coreEvent()      {}
func (PairClose) coreEvent()     {}
func (PairConfirmed) coreEvent() {}
func (StoreAppended) coreEvent() {}
func (Tick) coreEvent()          {}
func (OpenPairing) coreEvent()   {}
func (ClosePairing) coreEvent()  {}
func (Button) coreEvent()        {}
func (Media) coreEvent()         {}
func (Health) coreEvent()        {}

// Effect is an output of Core.Step; the concrete types follow.
type Effect interface{ coreEffect() }

// Send: send Msg on Conn.
type Send struct {
	Conn uint64
	Msg  control.Message
}

// Close: close Conn with Code.
type Close struct {
	Conn   uint64
	Code   control.Code
	Reason string
}

// Append: append Payload to the store. Must: on failure, stop carrying
// out this step's effects and answer the request with an internal error.
type Append struct {
	Payload store.Payload
	Must    bool
}

// Compact: compact the connection history, keeping Keep events.
type Compact struct{ Keep int }

// Trust: mark Conn trusted (the transport's gate lets its requests in).
type Trust struct{ Conn uint64 }

// StartStatus: start Conn's status pump (once per connection).
type StartStatus struct{ Conn uint64 }

// EndPairing: drop Conn's PAKE session.
type EndPairing struct{ Conn uint64 }

// Advertise: set the mDNS "pairing open" flag.
//
// Gen orders it among the others (as LED's): steps run on several
// goroutines carry out their effects concurrently, so the owner applies
// one only if its Gen is newer than the last applied.
type Advertise struct {
	PairingOpen bool
	Gen         uint64
}

// LED: show State on the front panel.
// Gen orders it as Advertise's does.
type LED struct {
	State hw.State
	Gen   uint64
}

// Alert: something the parent must know, for the log (a wrong setup
// code was tried).
type Alert struct{ Msg string }

// RenewCode: a factory reset happened: make a new setup code (the old
// one, printed on the card, may have been seen by anyone).
type RenewCode struct{}

func (Send) coreEffect()        {}
func (Close) coreEffect()       {}
func (Append) coreEffect()      {}
func (Compact) coreEffect()     {}
func (Trust) coreEffect()       {}
func (StartStatus) coreEffect() {}
func (EndPairing) coreEffect()  {}
func (Advertise) coreEffect()   {}
func (LED) coreEffect()         {}
func (Alert) coreEffect()       {}
func (RenewCode) coreEffect()   {}

// Step applies ev and returns the effects to carry out, in order. The
// error answers the request ev stands for (a PairStart, a PairConfirmed,
// an OpenPairing); the effects are carried out either way.
func (c *Core) Step(ev Event) ([]Effect, error) {
	switch ev := ev.(type) {
	case ConnAccepted:
		return c.accepted(ev), nil
	case ConnClosed:
		return c.closed(ev), nil
	case PairStart:
		return c.pairStart(ev)
	case PairAborted:
		if cc, ok := c.conns[ev.Conn]; ok {
			cc.pairing = false
		}
		eff := c.windowEffects(ev.At, c.window.Abort(ev.At, ev.Conn))
		return append([]Effect{EndPairing{Conn: ev.Conn}}, eff...), nil
	case PairOpen:
		return c.pairOpen(ev.At, ev.Conn, control.TypePairOpen, func() ([]pairing.Effect, error) { return c.window.Open(ev.At, ev.D) })
	case PairClose:
		return c.pairOpen(ev.At, ev.Conn, control.TypePairClose, func() ([]pairing.Effect, error) {
			return c.window.Close(ev.At, pairing.CloseManual), nil
		})
	case PairConfirmed:
		return c.pairConfirmed(ev)
	case StoreAppended:
		return c.storeAppended(ev), nil
	case Tick:
		return c.expire(ev.At, c.windowEffects(ev.At, c.window.Tick(ev.At))), nil
	case OpenPairing:
		eff, err := c.window.Open(ev.At, ev.D)
		return c.windowEffects(ev.At, eff), err
	case ClosePairing:
		return c.windowEffects(ev.At, c.window.Close(ev.At, pairing.CloseManual)), nil
	case Button:
		switch ev.Event {
		case hw.ShortPress:
			eff, err := c.window.Open(ev.At, 0)
			return c.windowEffects(ev.At, eff), err
		case hw.LongPress:
			return []Effect{Append{Payload: store.TrustReset{Reason: "factory reset"}}}, nil
		}
		return nil, nil
	case Media:
		c.noMic = ev.NoMic
		return c.showLED(nil), nil
	case Health:
		c.storeOK, c.network = ev.StoreOK, ev.Network
		return c.showLED(nil), nil
	}
	if eff, err, ok := c.streamStep(ev); ok {
		return eff, err
	}
	return nil, fmt.Errorf("monitor: core: unknown event %T", ev)
}

func (c *Core) accepted(ev ConnAccepted) []Effect {
	cc := &coreConn{peer: ev.Peer, remote: ev.Remote, source: sourceOf(ev.Remote), trusted: ev.Trusted, since: ev.At, active: ev.At}
	ack := control.HelloAck{
		Protocol: control.ProtocolVersion, Role: control.RoleMonitor, DeviceID: c.cfg.DeviceID,
		Trusted: ev.Trusted, PairingOpen: c.window.Status().Open,
	}
	if ev.Trusted {
		// A stranger learns only what pairing needs: not the room's name
		// (pair_done carries it) nor what the monitor streams.
		ack.Name, ack.AutoStream = c.cfg.Name, c.cfg.AutoStream
		c.conns[ev.Conn] = cc
		eff := []Effect{c.record(ev.Conn, cc), Send{Conn: ev.Conn, Msg: ack}}
		if ws := c.window.Status(); ws.Open || ws.FailuresThisWindow > 0 {
			// What a parent must know at once: a window is open, or
			// wrong codes were tried in the last one.
			eff = append(eff, Send{Conn: ev.Conn, Msg: c.PairingState(ev.At)})
		}
		return append(eff, StartStatus{Conn: ev.Conn})
	}
	if !ack.PairingOpen {
		c.strangers.Accepted++
		// Nothing to do here but learn that it is not trusted (a revoked
		// listener must hear it): answered, then closed.
		c.conns[ev.Conn] = cc
		return []Effect{Send{Conn: ev.Conn, Msg: ack}, Close{Conn: ev.Conn, Code: control.CodePairingClosed, Reason: "not paired, and pairing is closed"}}
	}
	// Over a limit, the oldest idle stranger (of this address first)
	// makes room: a newcomer, perhaps the parent's phone, is never
	// refused because strangers sit on the slots.
	var evict []Effect
	if c.untrusted(cc.source) >= c.cfg.MaxUntrustedPerAddr {
		id, ok := c.oldestIdle(cc.source)
		if !ok {
			c.strangers.Refused++
			return []Effect{Close{Conn: ev.Conn, Code: control.CodeBusy, Reason: "too many unpaired connections from this address"}}
		}
		evict = append(evict, c.evict(id))
	}
	if c.untrusted("") >= c.cfg.MaxUntrusted {
		id, ok := c.oldestIdle("")
		if !ok {
			c.strangers.Refused++
			return []Effect{Close{Conn: ev.Conn, Code: control.CodeBusy, Reason: "too many unpaired connections"}}
		}
		evict = append(evict, c.evict(id))
	}
	c.strangers.Accepted++
	cc.expires = ev.At.Add(c.cfg.UnpairedLifetime)
	c.conns[ev.Conn] = cc
	return append([]Effect{Send{Conn: ev.Conn, Msg: ack}}, evict...)
}

// evict forgets the unpaired connection id, which makes room for a
// newcomer, and closes it.
func (c *Core) evict(id uint64) Effect {
	c.strangers.Evicted++
	c.conns[id].expires = time.Time{} // closing: counted once
	return Close{Conn: id, Code: control.CodeBusy, Reason: "made room for a newer unpaired connection"}
}

// record marks cc recorded and returns its connection-opened append.
func (c *Core) record(id uint64, cc *coreConn) Effect {
	cc.recorded = true
	return Append{Payload: store.ConnectionOpened{ConnID: connName(id), Fingerprint: cc.peer, Remote: cc.remote}}
}

// expire closes the unpaired connections whose lifetime ended (those
// pairing wait for their session, which ends within seconds).
func (c *Core) expire(now time.Time, eff []Effect) []Effect {
	return c.closeIdle(eff, now, "unpaired for too long")
}

// closeStrangers closes every idle unpaired connection: the window closed.
func (c *Core) closeStrangers(eff []Effect) []Effect {
	return c.closeIdle(eff, time.Time{}, "pairing closed")
}

// closeIdle closes with pairing_closed the served unpaired connections
// that are not pairing and whose lifetime ended by now (every one when
// now is zero), in id order.
func (c *Core) closeIdle(eff []Effect, now time.Time, reason string) []Effect {
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		cc := c.conns[id]
		if cc.trusted || cc.pairing || cc.expires.IsZero() || (!now.IsZero() && now.Before(cc.expires)) {
			continue
		}
		if !now.IsZero() {
			c.strangers.Expired++
		}
		cc.expires = time.Time{} // closing: not served, not closed twice
		eff = append(eff, Close{Conn: id, Code: control.CodePairingClosed, Reason: reason})
	}
	return eff
}

// Strangers counts unpaired connections since the monitor started (they
// are not written to the event log).
type Strangers struct {
	Accepted int // answered (hello_ack)
	Refused  int // closed with busy at once: every slot was pairing
	Evicted  int // closed to make room for a newer one
	Expired  int // closed after UnpairedLifetime
}

func (c *Core) closed(ev ConnClosed) []Effect {
	cc, ok := c.conns[ev.Conn]
	if !ok {
		return nil // refused at the gate: never recorded
	}
	var eff []Effect
	if cc.pairing {
		eff = c.windowEffects(ev.At, c.window.Abort(ev.At, ev.Conn))
	}
	delete(c.conns, ev.Conn) // its sessions end with it (the owner closes its answerer)
	eff = c.pumps(eff)
	if cc.recorded {
		eff = append(eff, Append{Payload: store.ConnectionClosed{
			ConnID: connName(ev.Conn), Fingerprint: cc.peer, Remote: cc.remote,
			Reason: closeReason(ev.Err), Duration: ev.At.Sub(cc.since),
		}})
		if c.closes++; c.closes%c.cfg.KeepConnections == 0 {
			eff = append(eff, Compact{Keep: c.cfg.KeepConnections})
		}
	}
	return c.showLED(eff)
}

func (c *Core) pairStart(ev PairStart) ([]Effect, error) {
	if err := checkListenerName(ev.Name); err != nil {
		return nil, err // refused before the window: not a guess, not counted
	}
	cc, ok := c.conns[ev.Conn]
	if !ok {
		return nil, control.Errorf(control.CodeProtocol, "pair_start on a closed connection")
	}
	if cc.pairing {
		return nil, control.Errorf(control.CodeProtocol, "a pairing session is already running on this connection")
	}
	eff, err := c.window.Begin(ev.At, ev.Conn, cc.source)
	if err != nil {
		return c.windowEffects(ev.At, eff), pairingError(err)
	}
	cc.pairing, cc.pairName, cc.active = true, ev.Name, ev.At
	return c.windowEffects(ev.At, eff), nil
}

func (c *Core) pairConfirmed(ev PairConfirmed) ([]Effect, error) {
	cc, ok := c.conns[ev.Conn]
	if !ok || !cc.pairing {
		// Out of order (no pair_start, or its session already ended): a
		// protocol error, answered; not a guess at the code, not counted.
		return nil, control.Errorf(control.CodeProtocol, "pair_confirm without a pairing session on this connection: send pair_start first")
	}
	// Its answer is still to be sent: it is the last idle stranger to be
	// evicted for a newcomer.
	cc.pairing, cc.active = false, ev.At
	end := EndPairing{Conn: ev.Conn}
	if !ev.OK {
		// Answered first: the window's effects may close this connection
		// (the window closed after too many wrong codes).
		perr := control.Errorf(control.CodePairingFailed, "")
		eff := []Effect{end, Send{Conn: ev.Conn, Msg: control.ErrorMessage(perr, control.TypePairConfirm)}}
		eff = append(eff, c.windowEffects(ev.At, c.window.Fail(ev.At, ev.Conn, "wrong setup code or relayed session"))...)
		return eff, Answered{perr}
	}
	weff, err := c.window.Succeed(ev.At, ev.Conn)
	if err != nil { // the session expired in the meantime (SessionExpired ends it)
		return c.windowEffects(ev.At, weff), control.Errorf(control.CodePairingFailed, "the pairing session timed out")
	}
	// Durable before the listener hears of it.
	cc.trusted, cc.expires = true, time.Time{}
	eff := []Effect{end,
		Append{Payload: store.ListenerTrusted{Fingerprint: cc.peer, Name: cc.pairName, At: ev.At}, Must: true},
		c.record(ev.Conn, cc), Trust{Conn: ev.Conn}, Send{Conn: ev.Conn, Msg: ev.Done}, StartStatus{Conn: ev.Conn}}
	return append(eff, c.windowEffects(ev.At, weff)...), nil
}

func (c *Core) storeAppended(ev StoreAppended) []Effect {
	var eff []Effect
	switch p := ev.Payload.(type) {
	case store.ListenerTrusted:
		for _, id := range c.connsOf(p.Fingerprint, false) {
			if cc := c.conns[id]; !cc.trusted {
				cc.trusted, cc.expires = true, time.Time{}
				eff = append(eff, c.record(id, cc), Trust{Conn: id}, StartStatus{Conn: id})
			}
		}
	case store.ListenerRevoked:
		for _, id := range c.connsOf(p.Fingerprint, false) {
			eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "revoked"})
		}
	case store.TrustReset:
		eff = append(c.windowEffects(ev.At, c.window.Reset()), RenewCode{})
		for _, id := range c.connsOf(identity.Fingerprint{}, true) {
			eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "factory reset"})
		}
	}
	return eff
}

// windowEffects turns the window's effects into the monitor's.
func (c *Core) windowEffects(now time.Time, effs []pairing.Effect) []Effect {
	var out []Effect
	notify := false
	for _, e := range effs {
		switch e := e.(type) {
		case pairing.WindowOpened:
			notify = true
			out = append(out, Advertise{PairingOpen: true, Gen: c.nextGen()},
				Append{Payload: store.PairingWindowOpened{Duration: e.Until.Sub(now).Round(time.Second), Until: e.Until}})
		case pairing.WindowClosed:
			notify = true
			out = append(out, Advertise{PairingOpen: false, Gen: c.nextGen()},
				Append{Payload: store.PairingWindowClosed{Reason: store.CloseReason(e.Reason.String())}})
			out = c.closeStrangers(out)
		case pairing.AttemptFailed:
			notify = true
			var peer identity.Fingerprint
			if cc, ok := c.conns[e.Conn]; ok {
				peer = cc.peer
			}
			// At most MaxWindowFailures per window the parent opened:
			// bounded writes, kept for the parent's history.
			out = append(out, Append{Payload: store.PairingAttemptFailed{Peer: peer, Reason: e.Reason}},
				Alert{Msg: fmt.Sprintf("a wrong setup code was tried from %s (%d in this pairing window; it closes at %d)", e.Source, e.WindowFailures, c.window.Config().MaxWindowFailures)})
		case pairing.SessionExpired, pairing.SessionCancelled:
			conn := sessionConn(e)
			if cc, ok := c.conns[conn]; ok {
				cc.pairing = false
				out = append(out, EndPairing{Conn: conn}, Send{Conn: conn, Msg: control.ErrorMessage(
					control.Errorf(control.CodePairingFailed, "the pairing session ended"), control.TypePairConfirm)})
			}
		}
	}
	if notify {
		out = c.notifyPairing(now, out, 0)
	}
	return c.showLED(out)
}

// notifyPairing sends the window's state to every trusted connection,
// and to conn (which asked) even if nothing changed.
func (c *Core) notifyPairing(now time.Time, eff []Effect, conn uint64) []Effect {
	st := c.PairingState(now)
	sent := false
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		if c.conns[id].trusted {
			eff = append(eff, Send{Conn: id, Msg: st})
			sent = sent || id == conn
		}
	}
	if conn != 0 && !sent {
		eff = append(eff, Send{Conn: conn, Msg: st})
	}
	return eff
}

// Answered is a request's error that the effects already carry (a Send
// ahead of effects that may close the connection): the owner must not
// answer it again.
type Answered struct{ Err error }

func (a Answered) Error() string { return a.Err.Error() }
func (a Answered) Unwrap() error { return a.Err }

// PairingState is the window as trusted listeners see it at now.
func (c *Core) PairingState(now time.Time) control.PairingState {
	ws := c.window.Status()
	st := control.PairingState{Open: ws.Open, FailedAttempts: ws.FailuresThisWindow}
	if ws.Open {
		st.RemainingMillis = max(ws.Until.Sub(now).Milliseconds(), 0)
	} else if ws.LastClose != 0 {
		st.Closed = ws.LastClose.String()
	}
	return st
}

// pairOpen carries out a trusted listener's pair_open or pair_close (ref):
// the window's effects, the notice to every trusted listener, and the
// answer (the notice with ref set) to the one that asked.
func (c *Core) pairOpen(now time.Time, conn uint64, ref control.Type, do func() ([]pairing.Effect, error)) ([]Effect, error) {
	cc, ok := c.conns[conn]
	if !ok || !cc.trusted {
		return nil, control.Errorf(control.CodeUntrusted, "only a paired listener may open or close pairing")
	}
	weff, err := do()
	eff := c.windowEffects(now, weff)
	if err != nil {
		return eff, control.Errorf(control.CodeBadRequest, "%v", err)
	}
	for i, e := range eff {
		if s, ok := e.(Send); ok && s.Conn == conn {
			if st, ok := s.Msg.(control.PairingState); ok {
				st.Ref = ref // its notice answers it
				eff[i] = Send{Conn: conn, Msg: st}
				return eff, nil
			}
		}
	}
	st := c.PairingState(now) // nothing changed: only it is told
	st.Ref = ref
	return append(eff, Send{Conn: conn, Msg: st}), nil
}

func sessionConn(e pairing.Effect) uint64 {
	switch e := e.(type) {
	case pairing.SessionExpired:
		return e.Conn
	case pairing.SessionCancelled:
		return e.Conn
	}
	return 0
}

// LEDState is what the LED shows now.
func (c *Core) LEDState() hw.State {
	st := hw.State{PairingOpen: c.window.Status().Open, Streaming: c.running()}
	if !c.storeOK {
		st.Faults |= hw.FaultStore
	}
	if c.noMic {
		st.Faults |= hw.FaultMicrophone
	}
	if !c.network {
		st.Faults |= hw.FaultNetwork
	}
	return st
}

// showLED appends an LED effect to eff when the LED's state changed.
func (c *Core) showLED(eff []Effect) []Effect {
	if !c.cfg.LED {
		return eff
	}
	st := c.LEDState()
	if c.ledShown && st == c.led {
		return eff
	}
	c.led, c.ledShown = st, true
	return append(eff, LED{State: st, Gen: c.nextGen()})
}

// nextGen numbers the state effects (LED, Advertise) in the order the
// core made them.
func (c *Core) nextGen() uint64 {
	c.gen++
	return c.gen
}

// Status completes a status message (the level and faults of the
// microphone) with the counts: trusted connections, audio streams.
func (c *Core) Status(st control.Status) control.Status {
	n := 0
	for _, cc := range c.conns {
		if cc.trusted {
			n++
		}
	}
	st.Listeners, st.Streaming = n, c.running()
	return st
}

// Window returns the pairing window's state.
func (c *Core) Window() pairing.WindowStatus { return c.window.Status() }

// NextDeadline is when a Tick has work to do, if ever: the window's
// next timeout, or the end of an unpaired connection's lifetime.
func (c *Core) NextDeadline() (time.Time, bool) {
	next, ok := c.window.NextDeadline()
	for _, cc := range c.conns {
		if !cc.trusted && !cc.expires.IsZero() && (!ok || cc.expires.Before(next)) {
			next, ok = cc.expires, true
		}
	}
	return next, ok
}

// Strangers counts the unpaired connections since the core was made.
func (c *Core) Strangers() Strangers { return c.strangers }

// untrusted counts the unpaired connections being served (not those
// already being closed), from source ("" for every address).
func (c *Core) untrusted(source string) int {
	n := 0
	for _, cc := range c.conns {
		if !cc.trusted && !cc.expires.IsZero() && (source == "" || cc.source == source) {
			n++
		}
	}
	return n
}

// oldestIdle is the unpaired connection (from source, "" for any) that
// is not pairing and has been connected longest.
func (c *Core) oldestIdle(source string) (uint64, bool) {
	var best uint64
	found := false
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		cc := c.conns[id]
		if cc.trusted || cc.pairing || cc.expires.IsZero() || (source != "" && cc.source != source) {
			continue
		}
		if !found || cc.active.Before(c.conns[best].active) {
			best, found = id, true
		}
	}
	return best, found
}

// sourceOf is a remote address without its port: pairing's and the
// gate's unit (one device, or one attacker's address).
func sourceOf(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().String()
	}
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// connsOf lists the connections of fp (every one when all), in id order.
func (c *Core) connsOf(fp identity.Fingerprint, all bool) []uint64 {
	var out []uint64
	for id, cc := range c.conns {
		if all || cc.peer == fp {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// pairingError maps the window's refusals to wire errors.
func pairingError(err error) error {
	switch {
	case errors.Is(err, pairing.ErrWindowClosed):
		return control.Errorf(control.CodePairingClosed, "")
	case errors.Is(err, pairing.ErrBusy):
		return control.Errorf(control.CodeBusy, "")
	case errors.Is(err, pairing.ErrSourceLocked):
		return control.Errorf(control.CodePairingLocked, "")
	}
	return control.Errorf(control.CodePairingFailed, "")
}

// MaxListenerName is the longest listener name pair_start may carry, in
// bytes of UTF-8 (the X.509 CommonName limit, as for device names).
const MaxListenerName = identity.MaxNameLen

// checkListenerName enforces the name rules of pair_start: at most
// MaxListenerName bytes of valid UTF-8 without control characters (the
// name is stored and shown to the parent).
func checkListenerName(name string) error {
	switch {
	case len(name) > MaxListenerName:
		return control.Errorf(control.CodeBadRequest, "listener name of %d bytes: at most %d allowed", len(name), MaxListenerName)
	case !utf8.ValidString(name):
		return control.Errorf(control.CodeBadRequest, "listener name is not valid UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return control.Errorf(control.CodeBadRequest, "listener name contains a control character")
	}
	return nil
}

// closeReason names why a connection ended, for the event log.
func closeReason(err error) string {
	var ce *control.Error
	if errors.As(err, &ce) {
		return ce.Code.String()
	}
	if err == nil || errors.Is(err, transport.ErrClosed) {
		return "closed"
	}
	return err.Error()
}

func connName(id uint64) string { return fmt.Sprintf("c%d", id) }
