package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

const (
	// writeBatch is how many bytes of queued frames the writer gathers
	// into one stream Write.
	writeBatch = 32 << 10
	// readBuffer is the reader's buffer in front of the QUIC stream; larger
	// frames are read straight into their own slice.
	readBuffer = 4 << 10
	// flushTimeout bounds the writer's last write when a connection closes.
	flushTimeout = 200 * time.Millisecond
	// CloseLinger bounds how long a close waits, after its error or bye
	// message and the end of its stream, for the peer to end its side (its
	// own end of stream, or a QUIC close) before the QUIC close is sent. A
	// QUIC close discards stream data the peer's application has not read
	// yet, so closing at once would lose the message that says why.
	CloseLinger = time.Second
	// ExporterLabel is the TLS exporter label of the pairing channel binding.
	ExporterLabel = "EXPORTER-cradle-pairing-v1"
	// ExporterLen is the length of Exporter's output.
	ExporterLen = 32
)

// connIDs numbers connections in this process, for logs and status.
var connIDs atomic.Uint64

// Conn is one control connection, on either side. Its methods are safe
// for concurrent use. Three goroutines serve it: a reader that decodes and
// dispatches frames, a writer that drains the send queue, and a keeper
// that owns the heartbeat and tears the connection down.
type Conn struct {
	id       uint64
	server   bool
	qc       *quic.Conn
	st       *quic.Stream
	cfg      Config
	log      *slog.Logger
	peer     identity.Fingerprint
	started  time.Time // also the base of lastFrame
	trusted  atomic.Bool
	deadline time.Time // server: Hello must arrive before this

	hello     control.Hello // server: written by the reader before helloSeen closes
	helloSeen chan struct{}
	acked     chan struct{} // closed once the HelloAck is queued (server) or at once (client)
	ackOnce   sync.Once
	onHello   func(*Conn) bool // server: hand the conn to Accept; false if closing
	onClose   func(*Conn)      // server: forget the conn
	admitted  func()           // server: the Hello arrived (frees its pending slot); may be nil
	release   func()           // client: close the QUIC transport and socket

	sendq chan []byte // encoded frames
	recvq chan control.Message

	hbMu      sync.Mutex
	hb        *heartbeat
	lastFrame atomic.Int64 // time of the last received frame, ns since started
	applied   int64        // lastFrame value last given to hb; guarded by hbMu

	mu       sync.Mutex // guards the fields below until closing is closed; they are immutable after
	cause    error
	code     control.Code
	reason   string
	notify   control.Message // sent to the peer before the QUIC close, if not nil
	byCaller bool

	closing    chan struct{} // closed when the connection starts closing
	done       chan struct{} // closed when it is closed and its goroutines are gone
	readerDone chan struct{}
	peerEnded  chan struct{} // closed when the peer's stream ends after this side started closing
	endOnce    sync.Once
	writerDone chan struct{}
	notified   atomic.Bool // the writer sent notify
}

func newConn(qc *quic.Conn, st *quic.Stream, peer identity.Fingerprint, server bool, cfg Config) *Conn {
	now := time.Now()
	c := &Conn{
		id:         connIDs.Add(1),
		server:     server,
		qc:         qc,
		st:         st,
		cfg:        cfg,
		peer:       peer,
		started:    now,
		deadline:   now.Add(cfg.HelloTimeout),
		hb:         newHeartbeat(cfg.Heartbeat, now),
		sendq:      make(chan []byte, cfg.SendQueue),
		recvq:      make(chan control.Message, cfg.RecvQueue),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		peerEnded:  make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	side := "client"
	c.acked = make(chan struct{})
	if server {
		side = "server"
		c.helloSeen = make(chan struct{})
	} else {
		c.trusted.Store(true)
		close(c.acked) // the client's first frame, Hello, is queued by Dial
	}
	c.log = cfg.Logger.With("conn", c.id, "side", side, "peer", peer, "remote", qc.RemoteAddr().String())
	return c
}

// start runs the connection's goroutines.
func (c *Conn) start() {
	go c.readLoop()
	go c.writeLoop()
	go c.run()
}

// ID is a number unique in this process, for logs and status.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr is the peer's UDP address.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// Peer is the fingerprint of the peer's certificate key.
func (c *Conn) Peer() identity.Fingerprint { return c.peer }

// PeerHello is the Hello the client sent (server side; zero on a dialled
// connection, whose Dial returned the HelloAck instead).
func (c *Conn) PeerHello() control.Hello {
	if c.helloSeen == nil {
		return control.Hello{}
	}
	select {
	case <-c.helloSeen:
		return c.hello
	default:
		return control.Hello{}
	}
}

// ConnectedAt is when the QUIC handshake completed.
func (c *Conn) ConnectedAt() time.Time { return c.started }

// Trusted reports whether the peer may send more than pairing messages.
// On the server it starts as the Allowlist said; a dialled connection is always
// trusted (the monitor enforces trust, not the listener).
func (c *Conn) Trusted() bool { return c.trusted.Load() }

// SetTrusted changes the server-side trust of the peer, e.g. once pairing
// succeeds. Set it before sending the message that tells the peer (so its
// next messages pass the message filter).
func (c *Conn) SetTrusted(t bool) {
	if c.server {
		c.trusted.Store(t)
	}
}

// Exporter returns 32 bytes of TLS keying material exported with label
// ExporterLabel: both ends get the same bytes, unique to this connection,
// which the pairing PAKE binds to.
func (c *Conn) Exporter() ([]byte, error) {
	cs := c.qc.ConnectionState().TLS
	b, err := cs.ExportKeyingMaterial(ExporterLabel, nil, ExporterLen)
	if err != nil {
		return nil, fmt.Errorf("transport: TLS exporter: %w", err)
	}
	return b, nil
}

// Stats returns the heartbeat's view of the peer: last seen, RTT.
func (c *Conn) Stats() presence.Stats {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	c.applyFrames()
	return c.hb.stats()
}

// Done is closed once the connection is closed and its goroutines ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection closed, or is nil while it is open. Protocol
// reasons are *control.Error (Remote when the peer closed it); see also
// ErrUnreachable and ErrHandshakeTimeout.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// Send queues m for the peer. It blocks while the send queue is full, until
// ctx is done (then it returns ctx.Err() and m is not sent). Once the
// connection is closed it returns an error that Is ErrClosed and wraps Err.
// A message too large for a frame fails with control.ErrFrameTooLarge and
// leaves the connection open. A nil return means queued, not delivered.
//
// On a server connection the HelloAck is the first frame the peer gets:
// until a HelloAck has been queued, Send of any other message blocks (as
// when the queue is full), and the connection sends no ping or pong.
func (c *Conn) Send(ctx context.Context, m control.Message) error {
	f, isAck, err := c.frameFor(m)
	if err != nil {
		return err
	}
	if !isAck {
		select {
		case <-c.acked:
		case <-c.closing:
			return closedError(c.Err())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case c.sendq <- f:
		if isAck {
			c.ackOnce.Do(func() { close(c.acked) })
		}
		return nil
	case <-c.closing:
		return closedError(c.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TrySend queues m as Send does, but never waits: it returns
// ErrSendQueueFull when the send queue is full, and an error that Is
// ErrClosed once the connection closes. On a server, a message other
// than HelloAck is refused until a HelloAck is queued (Send would wait).
// A caller that must not be held up by a slow peer (the monitor's one
// goroutine that carries out its decisions) uses it, and closes a peer
// whose queue is full.
func (c *Conn) TrySend(m control.Message) error {
	f, isAck, err := c.frameFor(m)
	if err != nil {
		return err
	}
	if !isAck {
		select {
		case <-c.acked:
		default:
			return fmt.Errorf("transport: %s before %s", m.MessageType(), control.TypeHelloAck)
		}
	}
	select {
	case c.sendq <- f:
		if isAck {
			c.ackOnce.Do(func() { close(c.acked) })
		}
		return nil
	default:
		return ErrSendQueueFull
	}
}

// frameFor encodes m for Send and TrySend, which queue it: an error once
// the connection is closing, or for a HelloAck from a listener. isAck: m
// is the HelloAck, which may go before any other message.
func (c *Conn) frameFor(m control.Message) (f []byte, isAck bool, err error) {
	if f, err = encodeFrame(m); err != nil {
		return nil, false, err
	}
	select {
	case <-c.closing:
		return nil, false, closedError(c.Err())
	default:
	}
	_, isAck = m.(control.HelloAck)
	if isAck && !c.server {
		return nil, false, fmt.Errorf("transport: only a monitor sends %s", control.TypeHelloAck)
	}
	return f, isAck, nil
}

// Recv returns the next message from the peer, in order. Pings, pongs
// and byes are handled inside Conn and never returned (a bye closes the
// connection with the peer's code). After the
// connection closes, Recv returns the messages still buffered, then an
// error that Is ErrClosed and wraps Err.
func (c *Conn) Recv(ctx context.Context) (control.Message, error) {
	select {
	case m := <-c.recvq:
		return m, nil
	case <-c.closing:
		select {
		case m := <-c.recvq:
			return m, nil
		default:
			return nil, closedError(c.Err())
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the connection with code: it flushes the queued messages
// and a bye (code none or going_away) or an error message (other codes),
// closes QUIC with code.QUIC() and reason, and waits for the connection's
// goroutines. Close is idempotent; it returns nil.
func (c *Conn) Close(code control.Code, reason string) error {
	c.StartClose(code, reason)
	<-c.done
	return nil
}

// StartClose starts closing the connection with code, as Close does,
// but does not wait for it: Done is closed once it has closed. It is
// idempotent, and never blocks.
func (c *Conn) StartClose(code control.Code, reason string) {
	var notify control.Message = control.ErrorMsg{Code: code.String(), Message: reason}
	if code == control.CodeNone || code == control.CodeGoingAway {
		notify = control.Bye{Code: code.String(), Reason: reason}
	}
	c.shutdown(code, &control.Error{Code: code, Message: reason}, notify, true)
}

// shutdown records why the connection closes and starts closing it; the
// keeper goroutine does the rest. Only the first call counts.
func (c *Conn) shutdown(code control.Code, cause error, notify control.Message, byCaller bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return
	}
	c.cause, c.code, c.notify, c.byCaller = cause, code, notify, byCaller
	var ce *control.Error
	if errors.As(cause, &ce) {
		c.reason = ce.Message
	} else {
		c.reason = cause.Error()
	}
	close(c.closing)
}

// level is the level of a line about this connection: l, or Debug on a
// server whose peer is not trusted. Strangers can connect as fast as they
// like and choose the text of their errors and byes, so their comings
// and goings are debug lines (as the monitor's own are).
func (c *Conn) level(l slog.Level) slog.Level {
	if c.server && !c.trusted.Load() {
		return slog.LevelDebug
	}
	return l
}

// violate closes the connection because the peer broke the protocol:
// an error message first, then the QUIC close, both with a.code.
func (c *Conn) violate(a action) {
	c.log.Log(context.Background(), c.level(slog.LevelWarn), "closing connection: peer broke the protocol", "code", a.code, "detail", a.detail)
	c.shutdown(a.code, &control.Error{Code: a.code, Message: a.detail},
		control.ErrorMsg{Code: a.code.String(), Message: a.detail, Ref: a.ref}, false)
}

// broken closes the connection after an I/O error (usually: the peer or
// QUIC closed it).
func (c *Conn) broken(err error) {
	err = mapError(err, false)
	c.shutdown(control.CodeOf(err), err, nil, false)
}

// enqueue queues a message generated by the connection itself, blocking
// while the queue is full. It returns false once the connection closes.
func (c *Conn) enqueue(m control.Message) bool {
	f, err := encodeFrame(m)
	if err != nil {
		c.shutdown(control.CodeInternal, control.Errorf(control.CodeInternal, "encode %s: %v", m.MessageType(), err), nil, false)
		return false
	}
	select {
	case c.sendq <- f:
		return true
	case <-c.closing:
		return false
	}
}

func encodeFrame(m control.Message) ([]byte, error) {
	b, err := control.Encode(m)
	if err != nil {
		return nil, err
	}
	return control.AppendFrame(make([]byte, 0, 4+len(b)), b)
}

// readLoop reads frames and carries out inbound's verdicts until the
// connection starts closing; then it keeps reading, and discards what it
// reads, until the peer ends its side of the stream or QUIC closes, so
// that teardown can tell when the peer is done.
func (c *Conn) readLoop() {
	defer close(c.readerDone)
	st := &eofReader{c: c}
	r := bufio.NewReaderSize(st, readBuffer)
	c.readFrames(r)
	if !st.eof { // the peer's end of stream (or a QUIC close) is still to come
		_, _ = io.Copy(io.Discard, r)
		c.endOnce.Do(func() { close(c.peerEnded) })
	}
}

// eofReader reads c's stream and records whether it ended; an end that
// comes once c is closing closes peerEnded.
type eofReader struct {
	c   *Conn
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.c.st.Read(p)
	if err == io.EOF {
		e.eof = true
		select {
		case <-e.c.closing:
			e.c.endOnce.Do(func() { close(e.c.peerEnded) })
		default:
		}
	}
	return n, err
}

// readFrames returns once the connection is closing.
func (c *Conn) readFrames(r io.Reader) {
	in := newInbound(c.server, c.cfg.MaxUnknown)
	for {
		b, err := readFrame(r, in.maxFrame(c.trusted.Load()))
		if err != nil {
			c.readFailed(in, err)
			return
		}
		c.lastFrame.Store(int64(time.Since(c.started)))
		a := in.frame(b, c.trusted.Load())
		switch a.verdict {
		case deliver:
			select {
			case c.recvq <- a.msg:
			case <-c.closing:
				return
			}
		case reply:
			if !c.enqueue(a.msg) {
				return
			}
		case hello:
			c.hello = a.msg.(control.Hello)
			close(c.helloSeen)
			if !c.onHello(c) {
				return
			}
			// Accept took it: from now on it no longer counts against
			// Config.MaxPending (while it waited for Accept it did, so
			// connections piling up behind a slow Accept stay bounded).
			if c.admitted != nil {
				c.admitted()
			}
			// The HelloAck is the first frame out: read nothing more (and
			// so answer no ping) until it is queued.
			select {
			case <-c.acked:
			case <-c.closing:
				return
			case <-c.qc.Context().Done():
				c.broken(context.Cause(c.qc.Context()))
				return
			}
		case pong:
			c.onPong(a.msg.(control.Pong))
		case bye:
			c.peerClosed(a.msg.(control.Bye))
			return
		case violate:
			c.violate(a)
			return
		}
	}
}

// peerClosed closes the connection because the peer said bye, or ended
// its stream right after an error message: with the peer's code.
func (c *Conn) peerClosed(m control.Bye) {
	code := control.ParseCode(m.Code)
	c.shutdown(code, &control.Error{Code: code, Message: m.Reason, Remote: true}, nil, false)
}

// readFailed handles a ReadFrame error.
func (c *Conn) readFailed(in *inbound, err error) {
	var ce *control.Error
	switch {
	case errors.Is(err, io.EOF):
		if a := in.endOfStream(); a.verdict == bye {
			c.peerClosed(a.msg.(control.Bye))
		} else {
			c.violate(a)
		}
	case errors.As(err, &ce): // frame too large, truncated frame
		c.violate(violation(ce.Code, "", "%v", err))
	default:
		c.broken(err)
	}
}

// writeLoop writes queued frames, several per stream Write, until the
// connection closes; then it flushes the queue and the notify message.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	var buf []byte // grows to the largest batch written, at most writeBatch+MaxFrame
	for {
		select {
		case f := <-c.sendq:
			buf = c.batch(append(buf[:0], f...))
			if _, err := c.st.Write(buf); err != nil {
				c.broken(err)
				return
			}
		case <-c.closing:
			c.flush(buf[:0])
			return
		}
	}
}

// batch appends queued frames to buf, without waiting, up to writeBatch.
func (c *Conn) batch(buf []byte) []byte {
	for len(buf) < writeBatch {
		select {
		case f := <-c.sendq:
			buf = append(buf, f...)
		default:
			return buf
		}
	}
	return buf
}

// flush writes what is still queued and the notify message. The keeper
// has set a write deadline, so a peer that does not read cannot stall it.
func (c *Conn) flush(buf []byte) {
	buf = c.batch(buf)
	if c.notify != nil {
		if f, err := encodeFrame(c.notify); err == nil {
			buf = append(buf, f...)
		}
	}
	if len(buf) == 0 {
		return
	}
	if _, err := c.st.Write(buf); err == nil && c.notify != nil {
		c.notified.Store(true)
	}
}

// run is the keeper: it drives the heartbeat and the hello deadline, then
// tears the connection down.
func (c *Conn) run() {
	defer close(c.done)
	c.keep()
	c.teardown()
}

func (c *Conn) keep() {
	if c.server && !c.untilAcked() {
		return
	}
	c.hbMu.Lock()
	next := c.hb.nextTick()
	c.hbMu.Unlock()
	tick := time.NewTimer(time.Until(next))
	defer tick.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-tick.C:
			now := time.Now()
			c.hbMu.Lock()
			c.applyFrames()
			ping, dead := c.hb.tick(now)
			next := c.hb.nextTick()
			c.hbMu.Unlock()
			if dead {
				st := c.Stats()
				// last_seen after last_pong: frames still came, the cut is one-way.
				c.log.Log(context.Background(), c.level(slog.LevelInfo), "peer stopped answering", "last_pong", st.LastPong, "last_seen", st.LastSeen)
				c.shutdown(control.CodeIdleTimeout, control.Errorf(control.CodeIdleTimeout,
					"no answer for %v", c.hb.deadAfter()), nil, false)
				continue
			}
			if ping != nil {
				c.trySend(*ping)
			}
			tick.Reset(time.Until(next))
		}
	}
}

// untilAcked is the server keeper's first phase: the Hello must arrive
// before the deadline, and the heartbeat starts once the HelloAck is
// queued (so that the HelloAck is the first frame the listener gets). It
// returns false if the connection closes first.
func (c *Conn) untilAcked() bool {
	t := time.NewTimer(time.Until(c.deadline))
	defer t.Stop()
	helloSeen, helloTimeout := c.helloSeen, t.C
	for {
		select {
		case <-c.closing:
			return false
		case <-helloSeen:
			helloSeen, helloTimeout = nil, nil
		case <-helloTimeout:
			c.violate(violation(control.CodeIdleTimeout, "", "no hello within %v", c.cfg.HelloTimeout))
			return false
		case <-c.acked:
			now := time.Now()
			c.hbMu.Lock()
			c.hb = newHeartbeat(c.cfg.Heartbeat, now)
			c.hbMu.Unlock()
			return true
		}
	}
}

// trySend queues a heartbeat ping unless the queue is full: then the
// writer is behind and the ping would only add to it. The next ping goes
// once the queue drains; a queue that stays full for most of DeadAfter
// means the peer is not taking our frames, and the heartbeat (only pongs
// to our pings count) ends the connection.
func (c *Conn) trySend(m control.Message) {
	f, err := encodeFrame(m)
	if err != nil {
		return
	}
	select {
	case c.sendq <- f:
	default:
	}
}

func (c *Conn) teardown() {
	c.st.SetWriteDeadline(time.Now().Add(flushTimeout))
	<-c.writerDone
	c.st.Close() // end of stream, after the flushed frames
	if c.notified.Load() {
		// The peer reads the error or bye, then ends its side or closes.
		t := time.NewTimer(CloseLinger)
		select {
		case <-t.C:
		case <-c.peerEnded:
		case <-c.qc.Context().Done():
		}
		t.Stop()
	}
	c.qc.CloseWithError(quic.ApplicationErrorCode(c.code.QUIC()), c.reason)
	<-c.readerDone
	if c.release != nil {
		c.release()
	}
	c.log.Log(context.Background(), c.level(slog.LevelInfo), "connection closed", "code", c.code, "reason", c.reason, "by_caller", c.byCaller,
		"duration", time.Since(c.started).Round(time.Millisecond))
	if c.onClose != nil {
		c.onClose(c)
	}
}

// applyFrames tells the heartbeat about the last frame the reader saw
// (Stats.LastSeen, for display: only pongs keep the peer alive). hbMu
// must be held.
func (c *Conn) applyFrames() {
	if d := c.lastFrame.Load(); d > c.applied {
		c.applied = d
		c.hb.onFrame(c.started.Add(time.Duration(d)))
	}
}

func (c *Conn) onPong(p control.Pong) {
	now := time.Now()
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	c.applyFrames()
	c.hb.onPong(p, now)
}
