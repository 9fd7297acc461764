package monitor

import (
	"errors"
	"fmt"
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
//   - The gate: at most MaxUntrusted unpaired connections at once; one
//     more is closed with busy before anything is recorded. An accepted
//     connection is recorded (connection-opened), then answered
//     (hello_ack, the first message), then, if trusted, its status pump
//     starts.
//   - A closed connection is recorded (connection-closed, with its close
//     reason and duration); a pairing session it held counts as a failed
//     attempt. Every KeepConnections closes the connection history is
//     compacted.
//   - Pairing follows the window (pairing.Window); its effects become
//     events in the log, the mDNS flag, the LED, and the end of a
//     session's PAKE (with pairing_failed to the listener). A confirmed
//     pairing appends listener-trusted before the connection is trusted
//     and told (pair_done), and its status pump starts after pair_done:
//     if that append fails, nothing else happens.
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
	cfg    CoreConfig
	window *pairing.Window
	conns  map[uint64]*coreConn
	closes int

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
	// The running sessions (offers accepted) allowed per connection and
	// in all: default rtc.DefaultMaxSessionsPerConn and
	// rtc.DefaultMaxSessions, as the engine's (which also enforces them).
	MaxStreamsPerConn int
	MaxStreams        int
}

type coreConn struct {
	peer     identity.Fingerprint
	remote   string
	trusted  bool
	since    time.Time
	pairing  bool   // a PAKE session runs on it
	pairName string // the name given in pair_start
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

// PairFailed: the PAKE of Conn failed (bad message, wrong code).
type PairFailed struct {
	At     time.Time
	Conn   uint64
	Reason string
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
func (PairFailed) coreEvent()    {}
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
type Advertise struct{ PairingOpen bool }

// LED: show State on the front panel.
type LED struct{ State hw.State }

// Alert: something the parent must know, for the log (pairing locked).
type Alert struct{ Msg string }

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
	case PairFailed:
		if cc, ok := c.conns[ev.Conn]; ok {
			cc.pairing = false
		}
		eff := c.windowEffects(ev.At, c.window.Fail(ev.At, ev.Conn, ev.Reason))
		return append([]Effect{EndPairing{Conn: ev.Conn}}, eff...), nil
	case PairConfirmed:
		return c.pairConfirmed(ev)
	case StoreAppended:
		return c.storeAppended(ev), nil
	case Tick:
		return c.windowEffects(ev.At, c.window.Tick(ev.At)), nil
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
	if !ev.Trusted && c.untrusted() >= c.cfg.MaxUntrusted {
		// A stranger on the Wi-Fi cannot exhaust the monitor (or its
		// event log) with unpaired connections.
		return []Effect{Close{Conn: ev.Conn, Code: control.CodeBusy, Reason: "too many unpaired connections"}}
	}
	c.conns[ev.Conn] = &coreConn{peer: ev.Peer, remote: ev.Remote, trusted: ev.Trusted, since: ev.At}
	ack := control.HelloAck{
		Protocol: control.ProtocolVersion, Role: control.RoleMonitor, DeviceID: c.cfg.DeviceID,
		Trusted: ev.Trusted, PairingOpen: c.window.Status().Open,
	}
	if ev.Trusted {
		// A stranger learns only what pairing needs: not the room's name
		// (pair_done carries it) nor what the monitor streams.
		ack.Name, ack.AutoStream = c.cfg.Name, c.cfg.AutoStream
	}
	eff := []Effect{
		Append{Payload: store.ConnectionOpened{ConnID: connName(ev.Conn), Fingerprint: ev.Peer, Remote: ev.Remote}},
		Send{Conn: ev.Conn, Msg: ack},
	}
	if ev.Trusted {
		eff = append(eff, StartStatus{Conn: ev.Conn})
	}
	return eff
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
	eff = append(eff, Append{Payload: store.ConnectionClosed{
		ConnID: connName(ev.Conn), Fingerprint: cc.peer, Remote: cc.remote,
		Reason: closeReason(ev.Err), Duration: ev.At.Sub(cc.since),
	}})
	if c.closes++; c.closes%c.cfg.KeepConnections == 0 {
		eff = append(eff, Compact{Keep: c.cfg.KeepConnections})
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
	eff, err := c.window.Begin(ev.At, ev.Conn)
	if err != nil {
		return c.windowEffects(ev.At, eff), pairingError(err)
	}
	cc.pairing, cc.pairName = true, ev.Name
	return c.windowEffects(ev.At, eff), nil
}

func (c *Core) pairConfirmed(ev PairConfirmed) ([]Effect, error) {
	cc, ok := c.conns[ev.Conn]
	if !ok || !cc.pairing {
		// Out of order (no pair_start, or its session already ended): a
		// protocol error, answered; not a guess at the code, not counted.
		return nil, control.Errorf(control.CodeProtocol, "pair_confirm without a pairing session on this connection: send pair_start first")
	}
	cc.pairing = false
	end := EndPairing{Conn: ev.Conn}
	if !ev.OK {
		eff := c.windowEffects(ev.At, c.window.Fail(ev.At, ev.Conn, "wrong setup code or relayed session"))
		return append([]Effect{end}, eff...), control.Errorf(control.CodePairingFailed, "")
	}
	weff, err := c.window.Succeed(ev.At, ev.Conn)
	if err != nil { // the session expired in the meantime (SessionExpired ends it)
		return c.windowEffects(ev.At, weff), control.Errorf(control.CodePairingFailed, "the pairing session timed out")
	}
	// Durable before the listener hears of it.
	cc.trusted = true
	eff := []Effect{end,
		Append{Payload: store.ListenerTrusted{Fingerprint: cc.peer, Name: cc.pairName, At: ev.At}, Must: true},
		Trust{Conn: ev.Conn}, Send{Conn: ev.Conn, Msg: ev.Done}, StartStatus{Conn: ev.Conn}}
	return append(eff, c.windowEffects(ev.At, weff)...), nil
}

func (c *Core) storeAppended(ev StoreAppended) []Effect {
	var eff []Effect
	switch p := ev.Payload.(type) {
	case store.ListenerTrusted:
		for _, id := range c.connsOf(p.Fingerprint, false) {
			if !c.conns[id].trusted {
				c.conns[id].trusted = true
				eff = append(eff, Trust{Conn: id}, StartStatus{Conn: id})
			}
		}
	case store.ListenerRevoked:
		for _, id := range c.connsOf(p.Fingerprint, false) {
			eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "revoked"})
		}
	case store.TrustReset:
		eff = c.windowEffects(ev.At, c.window.Reset())
		for _, id := range c.connsOf(identity.Fingerprint{}, true) {
			eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "factory reset"})
		}
	}
	return eff
}

// windowEffects turns the window's effects into the monitor's.
func (c *Core) windowEffects(now time.Time, effs []pairing.Effect) []Effect {
	var out []Effect
	for _, e := range effs {
		switch e := e.(type) {
		case pairing.WindowOpened:
			out = append(out, Advertise{PairingOpen: true},
				Append{Payload: store.PairingWindowOpened{Duration: e.Until.Sub(now).Round(time.Second), Until: e.Until}})
		case pairing.WindowClosed:
			out = append(out, Advertise{PairingOpen: false},
				Append{Payload: store.PairingWindowClosed{Reason: store.CloseReason(e.Reason.String())}})
		case pairing.AttemptFailed:
			var peer identity.Fingerprint
			if cc, ok := c.conns[e.Conn]; ok {
				peer = cc.peer
			}
			out = append(out, Append{Payload: store.PairingAttemptFailed{Peer: peer, Reason: e.Reason}})
		case pairing.SessionExpired, pairing.SessionCancelled:
			conn := sessionConn(e)
			if cc, ok := c.conns[conn]; ok {
				cc.pairing = false
				out = append(out, EndPairing{Conn: conn}, Send{Conn: conn, Msg: control.ErrorMessage(
					control.Errorf(control.CodePairingFailed, "the pairing session ended"), control.TypePairConfirm)})
			}
		case pairing.Locked:
			out = append(out, Alert{Msg: fmt.Sprintf("pairing locked after %d failed attempts: a factory reset is needed", e.LifetimeFailures)})
		}
	}
	return c.showLED(out)
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
	return append(eff, LED{State: st})
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

// NextDeadline is when a Tick has work to do, if ever.
func (c *Core) NextDeadline() (time.Time, bool) { return c.window.NextDeadline() }

func (c *Core) untrusted() int {
	n := 0
	for _, cc := range c.conns {
		if !cc.trusted {
			n++
		}
	}
	return n
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
	case errors.Is(err, pairing.ErrLocked):
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
