package transport

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
)

// Dial connects to the monitor at addr ("host:port") as identity id and
// returns once the monitor answered hello with a HelloAck. The monitor's
// key must have fingerprint pin; a zero pin accepts any monitor (only for
// pairing by code alone, where the PAKE then proves who it is: read
// Conn.Peer afterwards).
//
// QUIC lets a client finish its handshake before the server checked the
// client's certificate, so only the HelloAck proves the monitor accepted
// the connection. A zero hello.Protocol or Role is filled in (this
// version, listener). Errors: ErrUnreachable (nothing answered before ctx's
// deadline or the handshake timeout), ErrHandshakeTimeout, an error that Is
// control.ErrFingerprintMismatch (the monitor's key changed: re-pair it),
// control.ErrUntrusted (the monitor refused this device), a remote
// *control.Error from the monitor, or ctx.Err() when ctx is cancelled.
func Dial(ctx context.Context, addr string, id *identity.Identity, pin identity.Fingerprint,
	hello control.Hello, cfg Config) (*Conn, control.HelloAck, error) {
	if cfg.HelloTimeout == 0 {
		cfg.HelloTimeout = DefaultHelloAckTimeout
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, control.HelloAck{}, err
	}
	fail := func(err error) (*Conn, control.HelloAck, error) {
		return nil, control.HelloAck{}, err
	}
	if hello.Protocol == 0 {
		hello.Protocol = control.ProtocolVersion
	}
	if hello.Role == "" {
		hello.Role = control.RoleListener
	}
	first, err := encodeFrame(hello)
	if err != nil {
		return fail(err)
	}

	// Own the socket and the QUIC transport (rather than quic.DialAddr)
	// so that closing the connection stops every goroutine at once.
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fail(fmt.Errorf("transport: monitor address %q: %w", addr, err))
	}
	udp, err := net.ListenUDP("udp", cfg.LocalAddr)
	if err != nil {
		return fail(fmt.Errorf("transport: open a UDP socket: %w", err))
	}
	tr := &quic.Transport{Conn: udp}
	release := func() {
		tr.Close()
		udp.Close()
	}
	qc, err := tr.Dial(ctx, raddr, id.ClientTLS(pin, ALPN), cfg.quicConfig(false))
	if err != nil {
		release()
		return fail(mapError(err, true))
	}
	closeWith := func(code control.Code, reason string) {
		qc.CloseWithError(quic.ApplicationErrorCode(code.QUIC()), reason)
		release()
	}
	peer, err := identity.PeerFingerprint(qc.ConnectionState().TLS)
	if err != nil { // ClientTLS refuses a server without a certificate
		closeWith(control.CodeProtocol, "no server certificate")
		return fail(err)
	}
	st, err := qc.OpenStream()
	if err != nil {
		closeWith(control.CodeInternal, "cannot open the control stream")
		return fail(mapError(err, false))
	}

	c := newConn(qc, st, peer, false, cfg)
	c.release = release
	c.sendq <- first // the queue is empty: Hello goes first
	c.start()
	ack, err := c.awaitAck(ctx)
	if err != nil {
		return fail(err)
	}

	// Connected unless it already closed. A monitor answers a stranger
	// while its pairing window is closed and closes at once: the caller
	// gets the HelloAck (trusted: false) with the close's error.
	select {
	case <-c.closing:
		<-c.done
		return nil, ack, c.Err()
	default:
	}
	c.log.Info("connected", "monitor", ack.Name, "trusted", ack.Trusted)
	return c, ack, nil
}

// awaitAck waits for the first message, which must be a HelloAck. On
// failure the connection is closed when it returns.
func (c *Conn) awaitAck(ctx context.Context) (control.HelloAck, error) {
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HelloTimeout)
	defer cancel()
	m, err := c.Recv(hctx)
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed):
		<-c.done
		return control.HelloAck{}, c.Err()
	case errors.Is(ctx.Err(), context.Canceled):
		c.Close(control.CodeNone, "dial cancelled")
		return control.HelloAck{}, ctx.Err()
	default: // hello timeout or ctx deadline: the monitor answered QUIC but not hello
		err := fmt.Errorf("%w: no hello_ack within %v: %w", ErrHandshakeTimeout, c.cfg.HelloTimeout, err)
		c.shutdown(control.CodeIdleTimeout, err, control.ErrorMsg{Code: control.CodeIdleTimeout.String(), Message: "no hello_ack"}, false)
		<-c.done
		return control.HelloAck{}, err
	}
	switch m := m.(type) {
	case control.HelloAck:
		return m, nil
	case control.ErrorMsg:
		err := m.ToError()
		c.shutdown(err.Code, err, nil, false)
		<-c.done
		return control.HelloAck{}, err
	default:
		c.violate(violation(control.CodeProtocol, m.MessageType(), "first message is %s, want hello_ack", m.MessageType()))
		<-c.done
		return control.HelloAck{}, c.Err()
	}
}
