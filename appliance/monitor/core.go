package monitor

import (
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
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

// Core is the monitor role's decisions, as pairing.Window is the pairing
// window's: events in (Step), effects out. It starts no goroutine, reads
// no clock (every event carries its time) and does no I/O; its owner
// (the applier, applier.go) carries out the effects in order. It is not
// safe for concurrent use.
//
// It composes four sibling machines and the connection table:
//   - pairing.Window: the window, the pairing attempts, what one address
//     may try;
//   - admission (admission.go): which unpaired connections are served,
//     for how long, and which one makes room for a newcomer;
//   - streams (streams.go): who may stream, within which limits, and
//     whether the shared tracks' pumps run;
//   - frontPanel (frontpanel.go): what the LED shows.
//
// Rules of its own:
//   - Trust first: every message that only a trusted listener may send
//     (control.AllowedUntrusted says which are not) is refused by the
//     core for an untrusted connection, whatever the transport's filter
//     did: answered untrusted and closed with untrusted, as the filter
//     would. Nothing else happens.
//   - An unpaired connection while the pairing window is closed is
//     answered (hello_ack, so it learns it is not trusted) and closed with
//     pairing_closed; while it is open, admission decides. A stranger is
//     never written to the event log.
//   - A trusted connection is recorded (connection-opened, also when an
//     unpaired one becomes trusted), answered (hello_ack, the first
//     message), then its status pump starts. When a recorded connection
//     closes it is recorded (connection-closed, with its close reason
//     and duration); every KeepConnections of those the connection
//     history is compacted.
//   - Pairing follows the window, which bounds what one address can do;
//     the core gives it each connection's address. Its effects become
//     events in the log, the mDNS flag, the LED, the end of a connection's
//     PAKE (with pairing_failed to the listener) and a pairing_state
//     notice to every trusted connection when the window opens or closes
//     and when a wrong code is tried. A confirmed pairing appends
//     listener-trusted (Must) before the connection is trusted and told
//     (pair_done), and its status pump starts after pair_done: if that
//     append fails, nothing else happens. A trusted listener may open and
//     close the window (pair_open, pair_close).
//   - A web device (a phone on the monitor's page) pairs through the
//     same window (coredevices.go): its attempt takes a turn (Begin, by
//     its address) before the shell compares the code; a wrong code is
//     the window's Fail, as a wrong key confirmation; a right one appends
//     device-trusted (Must) before the shell answers.
//   - From the store: listener-trusted trusts that listener's live
//     connections; listener-revoked closes them with revoked;
//     trust-reset resets the window and closes every connection with
//     revoked; device-revoked and trust-reset end the web devices'
//     access (EndDevice), and device-revoked closes, with revoked, the
//     in-process connections that device's page holds.
//   - An in-process connection (the monitor's page, local.go) comes
//     trusted: the shell checked, on the owner, that its web device is
//     trusted. From there it is a trusted connection like any other
//     (recorded with a zero fingerprint and Remote "page:<device id>",
//     or "page" for the page host; counted in the stream limits).
//   - The button: a short press opens the window (as OpenPairing 0), a
//     long press appends trust-reset.
//   - Status counts the trusted connections and the running sessions.
type Core struct {
	cfg      CoreConfig
	window   *pairing.Window
	admitted *admission
	streams  *streams
	panel    frontPanel
	conns    map[uint64]*coreConn
	closes   int
	sound    coreSound
	talk     coreTalk
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
	// in all, and the longest session id: the shell passes the WebRTC
	// engine's (rtc.Config's MaxSessionsPerConn and MaxSessions,
	// rtc.MaxSessionID), which the engine also enforces.
	MaxStreamsPerConn int
	MaxStreams        int
	MaxSessionID      int
	// Speaker: the monitor has a speaker (coresound.go). SoundFade is
	// how long a sound with a timer fades out before it ends (default
	// 10 s), SoundStartInterval the least time between two sound starts
	// (default 2 s), SoundMinute the length of a timer's minute (a
	// minute; tests shorten it).
	Speaker            bool
	SoundFade          time.Duration
	SoundStartInterval time.Duration
	SoundMinute        time.Duration
}

// Bounds on unpaired connections (see admission): served at once, from
// one address, and how long one is served while it is not pairing (the
// code is typed before connecting; pairing takes two round trips).
const (
	maxUntrusted        = 8
	maxUntrustedPerAddr = 2
	unpairedLifetime    = 30 * time.Second
)

// Retention of connection events: when keepConnections*2 connection
// events have accumulated, the older ones are compacted away (trust
// events are never dropped).
const keepConnections = 1000

type coreConn struct {
	peer     identity.Fingerprint
	device   string // the web device an in-process connection speaks for
	remote   string
	source   string // remote's address without the port: pairing's unit
	trusted  bool
	recorded bool // connection-opened was appended
	since    time.Time
	pairing  bool   // a pairing attempt runs on it
	pairName string // the name pair_start gave
}

// NewCore returns a core with cfg's defaults filled in.
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
	if cfg.SoundFade <= 0 {
		cfg.SoundFade = defaultSoundFade
	}
	if cfg.SoundStartInterval <= 0 {
		cfg.SoundStartInterval = defaultSoundStartInterval
	}
	if cfg.SoundMinute <= 0 {
		cfg.SoundMinute = time.Minute
	}
	return &Core{
		cfg:    cfg,
		window: pairing.NewWindow(cfg.Window, cfg.LifetimeFailures),
		admitted: newAdmission(admissionConfig{
			MaxUnpaired: cfg.MaxUntrusted, MaxUnpairedPerAddr: cfg.MaxUntrustedPerAddr, Lifetime: cfg.UnpairedLifetime,
		}),
		streams: newStreams(streamsConfig{PerConn: cfg.MaxStreamsPerConn, Total: cfg.MaxStreams, MaxSessionID: cfg.MaxSessionID}),
		panel:   frontPanel{device: cfg.LED},
		conns:   map[uint64]*coreConn{},
	}
}

// Step applies ev and returns the effects to carry out, in order. The
// error answers the request ev stands for (a PairStart, a PairConfirmed,
// an OpenPairing, a stream request); the effects are carried out either
// way.
func (c *Core) Step(ev Event) ([]Effect, error) {
	if t, ok := trustedOnly(ev); ok {
		if cc, known := c.conns[t.conn]; known && !cc.trusted {
			return c.refuseUntrusted(t.conn, t.typ)
		}
	}
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
		c.admitted.ended(ev.Conn)
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
	case WebPairStart:
		return c.webPairStart(ev)
	case WebPairChecked:
		return c.webPairChecked(ev)
	case StoreAppended:
		return c.storeAppended(ev), nil
	case Tick:
		eff := c.windowEffects(ev.At, c.window.Tick(ev.At))
		for _, id := range c.admitted.expire(ev.At) {
			eff = append(eff, Close{Conn: id, Code: control.CodePairingClosed, Reason: "unpaired for too long"})
		}
		return append(eff, c.soundTick(ev.At)...), nil
	case SoundStart:
		return c.soundStart(ev)
	case SoundStop:
		return c.soundStop(ev)
	case SoundFailed:
		if !c.sound.playing || c.sound.gen != ev.Gen {
			return nil, nil // already over
		}
		return c.notifySound(ev.At, c.stopSound(ev.At, store.SoundStoppedFailed), 0, ""), nil
	case TalkFailed:
		if !c.talk.on || c.talk.gen != ev.Gen {
			return nil, nil // already over
		}
		return c.showLED(c.notifyTalk(c.endTalk(ev.At, store.TalkEndedFailed, true))), nil
	case Shutdown:
		eff := c.endTalk(ev.At, store.TalkEndedShutdown, false)
		return append(eff, c.stopSound(ev.At, store.SoundStoppedShutdown)...), nil
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
		case hw.WipePress:
			return []Effect{WipeMonitor{}}, nil
		}
		return nil, nil
	case Media:
		c.panel.media(ev.NoMic)
		return c.showLED(nil), nil
	case Health:
		c.panel.health(ev.StoreOK, ev.Network)
		return c.showLED(nil), nil
	case HistoryRequest:
		if _, ok := c.conns[ev.Conn]; !ok {
			return nil, control.Errorf(control.CodeGoingAway, "the connection is closing")
		}
		return nil, nil
	case InfoRequest:
		if _, ok := c.conns[ev.Conn]; !ok {
			return nil, nil // closed: nobody to answer
		}
		return []Effect{SendInfo(ev)}, nil
	}
	if eff, err, ok := c.streamStep(ev); ok {
		return eff, err
	}
	return nil, fmt.Errorf("monitor: core: unknown event %T", ev)
}

// trusted names a trusted-only request: its connection and wire type.
type trustedRequest struct {
	conn uint64
	typ  control.Type
}

// trustedOnly reports whether ev stands for a message only a trusted
// listener may send (control.AllowedUntrusted is false for its type).
func trustedOnly(ev Event) (trustedRequest, bool) {
	switch ev := ev.(type) {
	case StreamStart:
		return trustedRequest{ev.Conn, control.TypeStreamStart}, true
	case StreamOffer:
		return trustedRequest{ev.Conn, control.TypeWebRTCOffer}, true
	case StreamCandidate:
		return trustedRequest{ev.Conn, control.TypeWebRTCICE}, true
	case StreamStop:
		return trustedRequest{ev.Conn, control.TypeStreamStop}, true
	case InfoRequest:
		return trustedRequest{ev.Conn, control.TypeInfoRequest}, true
	case HistoryRequest:
		return trustedRequest{ev.Conn, control.TypeHistoryRequest}, true
	case PairOpen:
		return trustedRequest{ev.Conn, control.TypePairOpen}, true
	case PairClose:
		return trustedRequest{ev.Conn, control.TypePairClose}, true
	case SoundStart:
		return trustedRequest{ev.Conn, control.TypeSoundStart}, true
	case SoundStop:
		return trustedRequest{ev.Conn, control.TypeSoundStop}, true
	}
	return trustedRequest{}, false
}

// refuseUntrusted answers an untrusted connection's trusted-only request
// as the transport's filter would: error untrusted, then the close.
func (c *Core) refuseUntrusted(conn uint64, t control.Type) ([]Effect, error) {
	err := control.Errorf(control.CodeUntrusted, "%s from an unpaired listener", t)
	return []Effect{
		Send{Conn: conn, Msg: control.ErrorMessage(err, t)},
		Close{Conn: conn, Code: control.CodeUntrusted, Reason: err.Message},
	}, Answered{err}
}

func (c *Core) streamStep(ev Event) ([]Effect, error, bool) {
	switch ev := ev.(type) {
	case StreamStart:
		if ev.Kind == control.StreamTalk {
			eff, err := c.talkStart(ev)
			return eff, err, true
		}
		return nil, c.streams.start(ev.Conn, ev.Session, ev.Kind), true
	case StreamOffer:
		eff, answer, err := c.streams.offer(ev.Conn, ev.Session, ev.SDP)
		if err != nil {
			return nil, err, true
		}
		// Answer last: its carrying out answers the request.
		return append(c.showLED(eff), answer), nil, true
	case StreamCandidate:
		if _, ok := c.conns[ev.Conn]; !ok {
			return nil, nil, true
		}
		return []Effect{AddCandidate(ev)}, nil, true
	case AnswerFailed:
		if c.isTalk(ev.Conn, ev.Session) {
			return c.showLED(c.notifyTalk(c.endTalk(ev.At, store.TalkEndedFailed, false))), nil, true
		}
		return c.showLED(c.streams.end(ev.Conn, ev.Session, nil)), nil, true
	case StreamStop:
		if c.isTalk(ev.Conn, ev.Session) {
			return c.showLED(c.notifyTalk(c.endTalk(ev.At, store.TalkEndedStopped, true))), nil, true
		}
		eff, err := c.streams.stop(ev.Conn, ev.Session)
		if err != nil {
			return nil, err, true
		}
		return c.showLED(eff), nil, true
	case StreamEnded:
		eff, ok := c.streams.ended(ev.Conn, ev.Session, ev.Reason)
		if !ok {
			return nil, nil, true // its connection is gone: so is the listener
		}
		if c.isTalk(ev.Conn, ev.Session) {
			reason := store.TalkEndedClosed
			if ev.Reason == "failed" {
				reason = store.TalkEndedFailed
			}
			eff = c.notifyTalk(append(eff, c.endTalk(ev.At, reason, false)...))
		}
		return c.showLED(eff), nil, true
	}
	return nil, nil, false
}

func (c *Core) accepted(ev ConnAccepted) []Effect {
	cc := &coreConn{peer: ev.Peer, device: ev.Device, remote: ev.Remote, source: sourceOf(ev.Remote), trusted: ev.Trusted, since: ev.At}
	ack := control.HelloAck{
		Protocol: control.ProtocolVersion, Role: control.RoleMonitor, DeviceID: c.cfg.DeviceID,
		Trusted: ev.Trusted, PairingOpen: c.window.Status().Open,
	}
	if ev.Trusted {
		// A stranger learns only what pairing needs: not the room's name
		// (pair_done carries it) nor what the monitor streams.
		ack.Name, ack.AutoStream = c.cfg.Name, c.cfg.AutoStream
		c.conns[ev.Conn] = cc
		c.streams.allow(ev.Conn)
		eff := []Effect{c.record(ev.Conn, cc), Send{Conn: ev.Conn, Msg: ack}}
		if ws := c.window.Status(); ws.Open || ws.FailuresThisWindow > 0 {
			// What a parent must know at once: a window is open, or
			// wrong codes were tried in the last one.
			eff = append(eff, Send{Conn: ev.Conn, Msg: c.PairingState(ev.At)})
		}
		// What its sound controls show: whether there is a speaker,
		// and what it plays.
		eff = append(eff, Send{Conn: ev.Conn, Msg: c.SoundState(ev.At)}, Send{Conn: ev.Conn, Msg: c.TalkState(ev.Conn)})
		return append(eff, StartStatus{Conn: ev.Conn})
	}
	if !ack.PairingOpen {
		c.admitted.turnedAway()
		// Nothing to do here but learn that it is not trusted (a revoked
		// listener must hear it): answered, then closed.
		c.conns[ev.Conn] = cc
		return []Effect{Send{Conn: ev.Conn, Msg: ack}, Close{Conn: ev.Conn, Code: control.CodePairingClosed, Reason: "not paired, and pairing is closed"}}
	}
	// Over a limit, the idle stranger quiet longest makes room: a
	// newcomer, perhaps the parent's phone, is never refused because
	// strangers sit on the slots.
	d := c.admitted.admit(ev.At, ev.Conn, cc.source)
	if d.refused != "" {
		return []Effect{Close{Conn: ev.Conn, Code: control.CodeBusy, Reason: d.refused}}
	}
	c.conns[ev.Conn] = cc
	eff := []Effect{Send{Conn: ev.Conn, Msg: ack}}
	for _, id := range d.evict {
		eff = append(eff, Close{Conn: id, Code: control.CodeBusy, Reason: "made room for a newer unpaired connection"})
	}
	return eff
}

// record marks cc recorded and returns its connection-opened append.
func (c *Core) record(id uint64, cc *coreConn) Effect {
	cc.recorded = true
	return Append{Payload: store.ConnectionOpened{ConnID: connName(id), Fingerprint: cc.peer, Remote: cc.remote}}
}

// trust makes id trusted: no longer a stranger, and it may stream.
func (c *Core) trust(id uint64, cc *coreConn) {
	cc.trusted = true
	c.admitted.gone(id)
	c.streams.allow(id)
}

func (c *Core) closed(ev ConnClosed) []Effect {
	cc, ok := c.conns[ev.Conn]
	if !ok {
		return nil // refused by admission: never recorded
	}
	var eff []Effect
	if cc.pairing {
		eff = c.windowEffects(ev.At, c.window.Abort(ev.At, ev.Conn))
	}
	talked := c.talk.on && c.talk.conn == ev.Conn
	if talked {
		eff = append(eff, c.endTalk(ev.At, store.TalkEndedClosed, false)...)
	}
	delete(c.conns, ev.Conn)
	c.admitted.gone(ev.Conn)
	if talked {
		eff = c.notifyTalk(eff) // the others
	}
	eff = append(eff, c.streams.drop(ev.Conn)...) // its sessions end with it (the applier closes its answerer)
	if cc.recorded {
		eff = append(eff, Append{Payload: store.ConnectionClosed{
			ConnID: connName(ev.Conn), Fingerprint: cc.peer, Remote: cc.remote,
			Reason: ev.Reason, Duration: ev.At.Sub(cc.since),
		}})
		if c.closes++; c.closes%c.cfg.KeepConnections == 0 {
			eff = append(eff, Compact{Keep: c.cfg.KeepConnections})
		}
	}
	return c.showLED(eff)
}

func (c *Core) showLED(eff []Effect) []Effect {
	return c.panel.show(eff, c.window.Status().Open, c.streams.running())
}

// LEDState is what the LED shows now.
func (c *Core) LEDState() hw.State {
	return c.panel.state(c.window.Status().Open, c.streams.running())
}

// Status completes a status message (the level and faults of the
// microphone) with the counts: trusted connections, running sessions.
func (c *Core) Status(st control.Status) control.Status {
	n := 0
	for _, cc := range c.conns {
		if cc.trusted {
			n++
		}
	}
	st.Listeners, st.Streaming = n, c.streams.running()
	return st
}

// Window returns the pairing window's state.
func (c *Core) Window() pairing.WindowStatus { return c.window.Status() }

// NextDeadline is when a Tick has work to do, if ever: the window's
// next timeout, the end of an unpaired connection's lifetime, or a
// sound's fade or end.
func (c *Core) NextDeadline() (time.Time, bool) {
	next, ok := c.window.NextDeadline()
	if at, aok := c.admitted.nextDeadline(); aok && (!ok || at.Before(next)) {
		next, ok = at, true
	}
	if at, sok := c.soundDeadline(); sok && (!ok || at.Before(next)) {
		next, ok = at, true
	}
	return next, ok
}

// Strangers counts the unpaired connections since the core was made.
func (c *Core) Strangers() Strangers { return c.admitted.counts }

// sourceOf is a remote address without its port: pairing's and
// admission's unit (one device, or one attacker's address).
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

// connName is a connection's name in the event log: c1, c2, ... for the
// transport's, page1, page2, ... for in-process ones (localConnBit).
func connName(id uint64) string {
	if id&localConnBit != 0 && id&(1<<63) == 0 {
		return fmt.Sprintf("page%d", id&^localConnBit)
	}
	return fmt.Sprintf("c%d", id)
}

// localConnBit marks the ids of in-process connections (local.go):
// transport numbers its connections from 1 and never reaches it, and
// webKey's attempts set the bit above it.
const localConnBit = 1 << 62
