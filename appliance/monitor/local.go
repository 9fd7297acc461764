package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/presence"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// In-process control connections: the monitor's own page (served by
// cradled's HTTPS host) follows the monitor, and forwards a phone's
// browser WebRTC offers to it, over a connection that never leaves the
// process. Each is a memory pipe: the monitor's side is a connection
// like *transport.Conn, registered with the owner and read by serve as
// a QUIC connection is, so its requests go through handle and the core
// unchanged (the same trust checks, stream limits and answerer); the
// page's side is a LocalConn.
//
// What differs from a QUIC connection:
//   - There is no handshake: the connection is trusted from the start.
//     One that speaks for a web device is accepted only while the device
//     is trusted, checked on the owner in the step that registers it, so
//     that a revocation is either seen there (ErrUnknownDevice) or comes
//     after it, as a store event that closes it (revoked).
//   - No heartbeat (Stats is zero), no TLS exporter: pairing is refused
//     on it (a device pairs with PairDevice; the page host is the
//     monitor).
//   - Messages are values, but each is encoded and decoded with the
//     control channel's codec on its way: the same size limits
//     (control.MaxFrame) and field checks as the wire, and no slice the
//     page could change under the monitor (or the other way round).
//   - Both sides' queues are bounded as transport's are
//     (transport.DefaultSendQueue, DefaultRecvQueue): a page that does
//     not read is closed with idle_timeout like any slow peer, and the
//     page's Send waits while the monitor has not read.
//   - Closing ends both sides at once: there is nothing to flush nor a
//     goroutine to wait for. Each side's Err tells who closed (Remote on
//     the other side's), with the code and reason given; Recv returns
//     what is still queued, then an error that Is transport.ErrClosed.
//
// Ids: localConnBit | n, n counted per monitor from 1: disjoint from
// transport's (counted from 1, far below the bit) and from webKey's
// pairing attempts (the top bit).

// LocalPeer says who an in-process connection speaks for.
type LocalPeer struct {
	// Device is the trusted web device's id (a phone's page), or "" for
	// the monitor's own page host.
	Device string
	// Remote is the phone's address, for the logs and the connections'
	// view (Status); zero for the page host.
	Remote netip.AddrPort
	// Name is shown in logs and in the connections' view, e.g. the
	// device's name.
	Name string
}

// ErrLocalClosing: ConnectLocal was called while the monitor closes.
var ErrLocalClosing = errors.New("monitor: the monitor is shutting down")

// errNoBinding is what a local connection's Exporter returns: pairing
// needs a TLS channel to bind to.
var errNoBinding = errors.New("monitor: an in-process connection has no TLS channel to bind a pairing to")

// ConnectLocal opens an in-process control connection for who. It is
// trusted from the start (no PAKE); for who.Device != "", only while that
// device is trusted, which the core's owner checks in the step that
// registers the connection, so it cannot race a revocation:
// ErrUnknownDevice otherwise. It returns the connection and the
// monitor's hello_ack, what a QUIC listener gets at its handshake (Recv
// then returns what follows it: pairing_state, status, device_added and
// the answers to the page's requests). Close it, or Monitor.Close ends
// it (going_away); a device's revocation closes it with revoked. ctx is
// checked on entry only: the registration is one step on the owner.
func (m *Monitor) ConnectLocal(ctx context.Context, who LocalPeer) (*LocalConn, control.HelloAck, error) {
	if err := ctx.Err(); err != nil {
		return nil, control.HelloAck{}, err
	}
	id := localConnBit | m.localIDs.Add(1)
	pipe := newLocalPipe(id, who)
	remote := "page"
	if who.Device != "" {
		remote = "page:" + who.Device
	}
	p := &peer{conn: pipe.monitorSide(), hello: control.Hello{Protocol: control.ProtocolVersion, Role: control.RoleListener, Name: who.Name},
		since: m.now(), local: &who}
	p.ans = m.newAnswerer(p)
	ev := ConnAccepted{At: p.since, Conn: id, Remote: remote, Trusted: true, Device: who.Device}
	accepted := make(chan error, 1)
	started := m.parts.Go(func(context.Context) error {
		err := m.acceptLocal(p, ev)
		accepted <- err
		if err == nil {
			m.serve(p)
		}
		return nil
	})
	if !started {
		p.ans.Close()
		pipe.close(control.CodeGoingAway, "", false)
		return nil, control.HelloAck{}, ErrLocalClosing
	}
	if err := <-accepted; err != nil {
		p.ans.Close()
		pipe.close(control.CodeGoingAway, "", false)
		return nil, control.HelloAck{}, err
	}
	// The step that registered it carried out its hello_ack (a Send
	// effect, before it answered): it is waiting, unless the connection
	// closed in the meantime.
	select {
	case ack := <-pipe.ack:
		return &LocalConn{pipe: pipe}, ack, nil
	default: // cannot happen: the core answers every trusted connection
		pipe.close(control.CodeInternal, "no hello_ack", false) // serve forgets it
		return nil, control.HelloAck{}, fmt.Errorf("monitor: the in-process connection was not answered: %w", pipe.errFor(true))
	}
}

// acceptLocal registers p and steps ev on the owner, unless ev's device
// is no longer trusted: checked there, in the owner's order with the
// store events that revoke it.
func (m *Monitor) acceptLocal(p *peer, ev ConnAccepted) error {
	reply := make(chan error, 1)
	err := m.owner.post(func() {
		if ev.Device != "" && !hasDevice(m.st.State(), ev.Device) {
			reply <- fmt.Errorf("%w (%s)", ErrUnknownDevice, ev.Device)
			return
		}
		m.peers[ev.Conn] = p
		m.apply(ev, reply, nil)
	})
	if err != nil {
		return ErrLocalClosing
	}
	return <-reply
}

// localPipe is the state both sides of an in-process connection share.
type localPipe struct {
	id   uint64
	who  LocalPeer
	addr net.Addr

	toMonitor chan control.Message  // the page's requests (the monitor's Recv)
	toPage    chan control.Message  // the monitor's messages (the page's Recv)
	ack       chan control.HelloAck // the hello_ack, taken by ConnectLocal

	mu     sync.Mutex   // guards the fields below
	closed bool         // done is closed
	code   control.Code // why it closed
	reason string
	byPage bool // the page's side closed it
	done   chan struct{}
}

func newLocalPipe(id uint64, who LocalPeer) *localPipe {
	var addr net.Addr = pageAddr{}
	if who.Remote.IsValid() {
		addr = net.TCPAddrFromAddrPort(who.Remote)
	}
	return &localPipe{
		id: id, who: who, addr: addr,
		toMonitor: make(chan control.Message, transport.DefaultRecvQueue),
		toPage:    make(chan control.Message, transport.DefaultSendQueue),
		ack:       make(chan control.HelloAck, 1),
		done:      make(chan struct{}),
	}
}

// pageName names an in-process connection's side in logs and the
// control card: the web device's id, or "page" for the page host.
func pageName(device string) string {
	if device == "" {
		return "page"
	}
	return device
}

// pageAddr is the address of the page host's own connection.
type pageAddr struct{}

func (pageAddr) Network() string { return "local" }
func (pageAddr) String() string  { return "page" }

// close closes the pipe with code and reason, by the page's side or the
// monitor's; only the first close counts.
func (p *localPipe) close(code control.Code, reason string, byPage bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed, p.code, p.reason, p.byPage = true, code, reason, byPage
	close(p.done)
}

// errFor is the close as the page's side (page) or the monitor's sees
// it: nil while open; Remote when the other side closed.
func (p *localPipe) errFor(page bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		return nil
	}
	return &control.Error{Code: p.code, Message: p.reason, Remote: p.byPage != page}
}

func (p *localPipe) closedError(page bool) error {
	return fmt.Errorf("%w: %w", transport.ErrClosed, p.errFor(page))
}

// roundTrip passes m through the control channel's codec, as the wire
// would: the same limits and checks, and a copy that shares nothing.
func roundTrip(m control.Message) (control.Message, error) {
	b, err := control.Encode(m)
	if err != nil {
		return nil, err
	}
	return control.Decode(b)
}

// put queues m on q: without waiting (transport.ErrSendQueueFull when
// full), or waiting until ctx is done. An error that Is
// transport.ErrClosed once the pipe is closed.
func (p *localPipe) put(ctx context.Context, wait bool, q chan control.Message, m control.Message, page bool) error {
	select {
	case <-p.done:
		return p.closedError(page)
	default:
	}
	if !wait {
		select {
		case q <- m:
			return nil
		default:
			return transport.ErrSendQueueFull
		}
	}
	select {
	case q <- m:
		return nil
	case <-p.done:
		return p.closedError(page)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// get takes the next message of q: after the close, what is still
// queued, then an error that Is transport.ErrClosed.
func (p *localPipe) get(ctx context.Context, q chan control.Message, page bool) (control.Message, error) {
	select {
	case m := <-q:
		return m, nil
	case <-p.done:
		select {
		case m := <-q:
			return m, nil
		default:
			return nil, p.closedError(page)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// monitorSide is the pipe as the monitor's shell sees it: a connection.
func (p *localPipe) monitorSide() *localMonitorConn { return (*localMonitorConn)(p) }

// localMonitorConn is the monitor's side of a localPipe.
type localMonitorConn localPipe

var _ connection = (*localMonitorConn)(nil)

func (c *localMonitorConn) pipe() *localPipe           { return (*localPipe)(c) }
func (c *localMonitorConn) ID() uint64                 { return c.id }
func (c *localMonitorConn) Peer() identity.Fingerprint { return identity.Fingerprint{} }
func (c *localMonitorConn) RemoteAddr() net.Addr       { return c.addr }
func (c *localMonitorConn) Trusted() bool              { return true }

// SetTrusted does nothing: an in-process connection is trusted from the
// start, and revoked only by its close.
func (c *localMonitorConn) SetTrusted(bool) {}

// Exporter fails: there is no TLS channel to bind a pairing to.
func (c *localMonitorConn) Exporter() ([]byte, error) { return nil, errNoBinding }

// Stats is zero: nothing to measure in process.
func (c *localMonitorConn) Stats() presence.Stats { return presence.Stats{} }
func (c *localMonitorConn) Done() <-chan struct{} { return c.done }
func (c *localMonitorConn) Err() error            { return c.pipe().errFor(false) }
func (c *localMonitorConn) StartClose(code control.Code, reason string) {
	c.pipe().close(code, reason, false)
}

func (c *localMonitorConn) Close(code control.Code, reason string) error {
	c.StartClose(code, reason)
	return nil
}

func (c *localMonitorConn) Send(ctx context.Context, m control.Message) error {
	return c.send(ctx, true, m)
}

// TrySend never waits: transport.ErrSendQueueFull when the page has not
// read its last transport.DefaultSendQueue messages (deliver then closes
// it with idle_timeout).
func (c *localMonitorConn) TrySend(m control.Message) error {
	return c.send(context.Background(), false, m)
}

func (c *localMonitorConn) send(ctx context.Context, wait bool, m control.Message) error {
	m, err := roundTrip(m)
	if err != nil {
		return err
	}
	if ack, ok := m.(control.HelloAck); ok {
		select {
		case c.ack <- ack: // ConnectLocal's answer, not a message for Recv
			return nil
		default:
			return fmt.Errorf("monitor: a second %s on an in-process connection", control.TypeHelloAck)
		}
	}
	return c.pipe().put(ctx, wait, c.toPage, m, false)
}

func (c *localMonitorConn) Recv(ctx context.Context) (control.Message, error) {
	return c.pipe().get(ctx, c.toMonitor, false)
}

// LocalConn is the page's side of an in-process control connection
// (ConnectLocal). It has the methods of the listener's Conn (Send, Recv,
// Done, Err, Stats, RemoteAddr, Close), so that a session written for a
// QUIC connection runs over it. Its methods are safe for concurrent use.
type LocalConn struct{ pipe *localPipe }

// ID is the connection's id, as the monitor's logs and Status name it.
func (c *LocalConn) ID() uint64 { return c.pipe.id }

// Send hands m to the monitor, as if it came from a listener. It waits
// while the monitor has not read the previous transport.DefaultRecvQueue
// messages, until ctx is done. A message the codec refuses (larger than
// control.MaxFrame) fails and leaves the connection open; so do those
// only the connection itself sends over QUIC (hello, hello_ack, ping,
// pong). Once closed, an error that Is transport.ErrClosed and wraps
// Err. A bye closes the connection, as a listener's does.
func (c *LocalConn) Send(ctx context.Context, m control.Message) error {
	switch m.(type) {
	case control.Hello, control.HelloAck, control.Ping, control.Pong:
		return control.Errorf(control.CodeProtocol, "%s is not sent on an in-process connection", m.MessageType())
	}
	m, err := roundTrip(m)
	if err != nil {
		return err
	}
	return c.pipe.put(ctx, true, c.pipe.toMonitor, m, true)
}

// Recv returns the monitor's next message. After the close it returns
// what is still queued, then an error that Is transport.ErrClosed and
// wraps Err.
func (c *LocalConn) Recv(ctx context.Context) (control.Message, error) {
	return c.pipe.get(ctx, c.pipe.toPage, true)
}

// Done is closed once the connection is closed (by either side).
func (c *LocalConn) Done() <-chan struct{} { return c.pipe.done }

// Err says why the connection closed, nil while it is open: a
// *control.Error with the code (control.ErrRevoked when the device was
// revoked, control.ErrGoingAway when the monitor closes), Remote when
// the monitor closed it.
func (c *LocalConn) Err() error { return c.pipe.errFor(true) }

// Stats is zero: there is no heartbeat in process.
func (c *LocalConn) Stats() presence.Stats { return presence.Stats{} }

// RemoteAddr is the phone's address given to ConnectLocal (a *net.TCPAddr),
// or an address named "page" for the page host.
func (c *LocalConn) RemoteAddr() net.Addr { return c.pipe.addr }

// Close closes the connection with code (control.CodeNone for a plain
// close); the monitor ends its sessions. It is idempotent and returns
// nil.
func (c *LocalConn) Close(code control.Code, reason string) error {
	c.pipe.close(code, reason, true)
	return nil
}
