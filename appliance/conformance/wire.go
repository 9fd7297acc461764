package conformance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// NewIdentity returns a fresh listener identity held in memory only: an
// ECDSA P-256 key and a bare self-signed certificate, as the protocol
// allows (docs/PROTOCOL.md section 1.1). The monitor does not know it,
// so it is untrusted.
func NewIdentity(name string) (*identity.Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("conformance: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    identity.NotBefore,
		NotAfter:     identity.NotAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("conformance: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("conformance: certificate: %w", err)
	}
	return &identity.Identity{
		Cert:        tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Fingerprint: identity.FingerprintOf(leaf),
		Role:        identity.RoleListener,
		Name:        name,
	}, nil
}

// wire is a listener that speaks raw QUIC and frames, so that checks can
// see exactly what the monitor sends and can misbehave on purpose.
type wire struct {
	udp *net.UDPConn
	tr  *quic.Transport
	qc  *quic.Conn
	st  *quic.Stream
}

func dialWire(ctx context.Context, addr string, id *identity.Identity, pin identity.Fingerprint) (*wire, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	w := &wire{udp: udp, tr: &quic.Transport{Conn: udp}}
	qc, err := w.tr.Dial(ctx, raddr, id.ClientTLS(pin, transport.ALPN),
		&quic.Config{MaxIdleTimeout: 30 * time.Second, HandshakeIdleTimeout: 5 * time.Second})
	if err != nil {
		w.release()
		return nil, fmt.Errorf("QUIC handshake with %s: %w", addr, err)
	}
	w.qc = qc
	if w.st, err = qc.OpenStream(); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *wire) release() {
	w.tr.Close()
	w.udp.Close()
}

// close ends the connection (code none) and frees the socket.
func (w *wire) close() {
	if w.qc != nil {
		w.qc.CloseWithError(0, "conformance check done")
	}
	w.release()
}

func (w *wire) write(b []byte) error {
	_, err := w.st.Write(b)
	return err
}

func (w *wire) send(m control.Message) error {
	b, err := control.Encode(m)
	if err != nil {
		return err
	}
	f, err := control.AppendFrame(nil, b)
	if err != nil {
		return err
	}
	return w.write(f)
}

func frameOf(payload string) []byte {
	f, _ := control.AppendFrame(nil, []byte(payload))
	return f
}

// next reads the next message, pings included, waiting at most d.
func (w *wire) next(d time.Duration) (control.Message, error) {
	w.st.SetReadDeadline(time.Now().Add(d))
	return control.ReadMessage(w.st)
}

// await reads until a message that is not a ping or status arrives, and
// answers the monitor's pings on the way (as a live listener does).
func (w *wire) await(d time.Duration) (control.Message, error) {
	deadline := time.Now().Add(d)
	for {
		m, err := w.next(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		switch m := m.(type) {
		case control.Ping:
			if err := w.send(control.Pong{Seq: m.Seq, Echo: m.Sent}); err != nil {
				return nil, err
			}
		default:
			if control.IsNotice(m.MessageType()) {
				continue // a notice, at any time
			}
			return m, nil
		}
	}
}

// hello sends a hello and reads the first frame, which must be hello_ack.
func (w *wire) hello(d time.Duration, name string, id *identity.Identity) (control.HelloAck, error) {
	if err := w.send(control.Hello{Protocol: control.ProtocolVersion, Role: control.RoleListener,
		DeviceID: id.Fingerprint.DeviceID(), Name: name}); err != nil {
		return control.HelloAck{}, err
	}
	m, err := w.next(d)
	if err != nil {
		return control.HelloAck{}, fmt.Errorf("no hello_ack: %w", err)
	}
	ack, ok := m.(control.HelloAck)
	if !ok {
		return control.HelloAck{}, fmt.Errorf("first frame is %s, want hello_ack", describe(m))
	}
	return ack, nil
}

// closing reads what the monitor sends until the end of its stream
// (answering pings), ends this side's stream as section 4.1 asks, and
// returns the messages read and the QUIC close code. It fails unless the
// monitor closes within d.
func (w *wire) closing(d time.Duration) ([]control.Message, control.Code, error) {
	deadline := time.Now().Add(d)
	var msgs []control.Message
	for {
		m, err := w.next(time.Until(deadline))
		if err != nil {
			break // end of stream, the close, or the deadline
		}
		switch m := m.(type) {
		case control.Ping:
			_ = w.send(control.Pong{Seq: m.Seq, Echo: m.Sent})
		case control.Status:
		default:
			msgs = append(msgs, m)
		}
	}
	w.st.Close()
	select {
	case <-w.qc.Context().Done():
	case <-time.After(time.Until(deadline)):
		return msgs, 0, fmt.Errorf("the monitor did not close the connection within %v", d)
	}
	var ae *quic.ApplicationError
	if err := context.Cause(w.qc.Context()); !errors.As(err, &ae) || !ae.Remote {
		return msgs, 0, fmt.Errorf("the connection ended with %v, want a QUIC close from the monitor", err)
	}
	return msgs, control.FromQUIC(uint64(ae.ErrorCode)), nil
}

// expectClose checks that the monitor sends error{code} (with ref, if
// not empty) as its last frame, then closes with the same code.
func (w *wire) expectClose(d time.Duration, code control.Code, ref control.Type) error {
	msgs, got, err := w.closing(d)
	if err != nil {
		return err
	}
	if got != code {
		return fmt.Errorf("closed with %v (%d), want %v (%d)", got, got.QUIC(), code, code.QUIC())
	}
	if len(msgs) == 0 {
		return fmt.Errorf("closed with %v but no error frame came before the close", code)
	}
	em, ok := msgs[len(msgs)-1].(control.ErrorMsg)
	if !ok || em.Code != code.String() || (ref != "" && em.Ref != ref) {
		return fmt.Errorf("last frame before the close is %s, want error %s (ref %q)", describe(msgs[len(msgs)-1]), code, ref)
	}
	return nil
}

// expectError checks that the next message is error{code, ref}.
func (w *wire) expectError(d time.Duration, code control.Code, ref control.Type) error {
	m, err := w.await(d)
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	em, ok := m.(control.ErrorMsg)
	if !ok || em.Code != code.String() || em.Ref != ref {
		return fmt.Errorf("answered %s, want error %s (ref %s)", describe(m), code, ref)
	}
	return nil
}

// alive checks that the connection still serves: a ping gets its pong.
func (w *wire) alive(d time.Duration, seq uint64) error {
	if err := w.send(control.Ping{Seq: seq, Sent: int64(seq) * 1000}); err != nil {
		return fmt.Errorf("connection closed: %w", err)
	}
	deadline := time.Now().Add(d)
	for {
		m, err := w.next(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("connection no longer answers: %w", err)
		}
		switch m := m.(type) {
		case control.Ping:
			_ = w.send(control.Pong{Seq: m.Seq, Echo: m.Sent})
		case control.Pong:
			if m.Seq == seq && m.Echo == int64(seq)*1000 {
				return nil
			}
		}
	}
}

func describe(m control.Message) string {
	b, err := control.Encode(m)
	if err != nil {
		return string(m.MessageType())
	}
	return string(b)
}

// appCode returns the application close code of a QUIC close sent by
// the peer.
func appCode(err error) (control.Code, bool) {
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) || !ae.Remote {
		return 0, false
	}
	return control.FromQUIC(uint64(ae.ErrorCode)), true
}

// nextSized reads the next message like next, and the size of its
// frame's payload.
func (w *wire) nextSized(d time.Duration) (control.Message, int, error) {
	w.st.SetReadDeadline(time.Now().Add(d))
	b, err := control.ReadFrame(w.st, control.MaxFrame)
	if err != nil {
		return nil, 0, err
	}
	m, err := control.Decode(b)
	return m, len(b), err
}
