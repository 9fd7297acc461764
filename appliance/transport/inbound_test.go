package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
)

func enc(t testing.TB, m control.Message) string {
	t.Helper()
	b, err := control.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInbound replays frame scripts through the reader's core.
func TestInbound(t *testing.T) {
	hi := enc(t, testHello("kitchen"))
	stream := enc(t, control.StreamStart{Session: "s"})
	unknown := `{"type":"teleport"}`
	type step struct {
		frame   string
		trusted bool
		want    verdict
		code    control.Code // for violate
	}
	tests := []struct {
		name   string
		server bool
		steps  []step
	}{
		{"server hello then trusted traffic", true, []step{
			{hi, true, hello, 0},
			{stream, true, deliver, 0},
			{enc(t, control.Ping{Seq: 1, Sent: 5}), true, reply, 0},
			{enc(t, control.Pong{Seq: 1}), true, pong, 0},
			{enc(t, control.Bye{Code: "going_away"}), true, bye, 0},
		}},
		{"server untrusted pairing", true, []step{
			{hi, false, hello, 0},
			{enc(t, control.PairStart{Name: "k"}), false, deliver, 0},
			{enc(t, control.PairConfirm{}), false, deliver, 0},
			{enc(t, control.ErrorMsg{Code: "busy"}), false, deliver, 0},
			{enc(t, control.Ping{}), false, reply, 0},
			{stream, false, violate, control.CodeUntrusted},
		}},
		{"server trusted after pairing", true, []step{
			{hi, false, hello, 0},
			{stream, true, deliver, 0},
		}},
		{"server first not hello", true, []step{{stream, true, violate, control.CodeProtocol}}},
		{"server first ping", true, []step{{enc(t, control.Ping{}), true, violate, control.CodeProtocol}}},
		{"server first unknown", true, []step{{unknown, true, violate, control.CodeProtocol}}},
		{"server old version", true, []step{{enc(t, control.Hello{Protocol: 0}), true, violate, control.CodeProtocol}}},
		{"server second hello", true, []step{{hi, true, hello, 0}, {hi, true, violate, control.CodeProtocol}}},
		{"server helloack", true, []step{{hi, true, hello, 0}, {enc(t, control.HelloAck{}), true, violate, control.CodeProtocol}}},
		{"server malformed", true, []step{{hi, true, hello, 0}, {"{", true, violate, control.CodeMalformedFrame}}},
		{"unknown tolerated then closed", true, []step{
			{hi, true, hello, 0},
			{unknown, true, reply, 0},
			{stream, true, deliver, 0},
			{unknown, false, reply, 0},
			{unknown, true, violate, control.CodeUnknownMessage},
		}},
		{"client ack once", false, []step{
			{enc(t, control.Ping{}), true, reply, 0},
			{enc(t, control.HelloAck{Protocol: 1}), true, deliver, 0},
			{enc(t, control.Status{}), true, deliver, 0},
			{enc(t, control.HelloAck{Protocol: 1}), true, violate, control.CodeProtocol},
		}},
		{"client gets hello", false, []step{{hi, true, violate, control.CodeProtocol}}},
		{"client ignores trust", false, []step{{stream, false, deliver, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInbound(tt.server, 3)
			for i, s := range tt.steps {
				a := in.frame([]byte(s.frame), s.trusted)
				if a.verdict != s.want || (s.want == violate && a.code != s.code) {
					t.Fatalf("step %d (%s): verdict %d code %v (%s), want %d code %v",
						i, s.frame, a.verdict, a.code, a.detail, s.want, s.code)
				}
			}
		})
	}
}

func TestInboundPong(t *testing.T) {
	in := newInbound(false, 3)
	a := in.frame([]byte(enc(t, control.Ping{Seq: 7, Sent: 42})), true)
	if a.verdict != reply || a.msg != (control.Pong{Seq: 7, Echo: 42}) {
		t.Errorf("ping answered with %+v", a)
	}
}

func TestMapError(t *testing.T) {
	mismatch := &identity.MismatchError{}
	tests := []struct {
		name    string
		err     error
		dialing bool
		is      []error
		remote  bool
	}{
		{"remote close", &quic.ApplicationError{Remote: true, ErrorCode: 2, ErrorMessage: "x"}, false, []error{control.ErrUntrusted}, true},
		{"unknown code", &quic.ApplicationError{Remote: true, ErrorCode: 1 << 20}, false, []error{control.ErrProtocol}, true},
		{"idle", &quic.IdleTimeoutError{}, false, []error{control.ErrIdleTimeout}, false},
		{"idle while dialing", &quic.IdleTimeoutError{}, true, []error{ErrUnreachable}, false},
		{"deadline while dialing", context.DeadlineExceeded, true, []error{ErrUnreachable, context.DeadlineExceeded}, false},
		{"cancel while dialing", context.Canceled, true, []error{context.Canceled}, false},
		{"handshake timeout", &quic.HandshakeTimeoutError{}, true, []error{ErrHandshakeTimeout}, false},
		{"pin mismatch", fmt.Errorf("crypto: %w", mismatch), true, []error{control.ErrFingerprintMismatch, identity.ErrFingerprintMismatch}, false},
		{"cert refused", &quic.TransportError{Remote: true, ErrorCode: 0x100 + 42}, true, []error{control.ErrUntrusted}, true},
		{"refused", &quic.TransportError{Remote: true, ErrorCode: quic.ConnectionRefused}, true, []error{control.ErrGoingAway}, true},
		{"other transport", &quic.TransportError{ErrorCode: quic.InternalError}, false, []error{control.ErrProtocol}, false},
		{"stateless reset", &quic.StatelessResetError{}, false, []error{control.ErrGoingAway}, true},
		{"stream reset", &quic.StreamError{Remote: true}, false, []error{control.ErrProtocol}, true},
		{"version", &quic.VersionNegotiationError{}, true, []error{control.ErrProtocol}, false},
		{"already mapped", control.ErrBusy, false, []error{control.ErrBusy}, false},
		{"other", io.ErrClosedPipe, false, []error{io.ErrClosedPipe}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapError(tt.err, tt.dialing)
			for _, want := range tt.is {
				if !errors.Is(got, want) {
					t.Errorf("mapError(%v) = %v, not %v", tt.err, got, want)
				}
			}
			var ce *control.Error
			if errors.As(got, &ce) && ce.Remote != tt.remote {
				t.Errorf("Remote = %v, want %v", ce.Remote, tt.remote)
			}
		})
	}
	if mapError(nil, false) != nil {
		t.Error("mapError(nil) != nil")
	}
	if !errors.Is(mapError(&quic.IdleTimeoutError{}, true), net.ErrClosed) {
		t.Error("the quic error is not kept in the chain")
	}
}

// FuzzInbound feeds a byte stream, cut into frames as the reader does,
// through both sides' cores and checks the invariants the connection
// relies on.
func FuzzInbound(f *testing.F) {
	frames := func(msgs ...string) []byte {
		var b []byte
		for _, m := range msgs {
			b, _ = control.AppendFrame(b, []byte(m))
		}
		return b
	}
	hello := enc(f, testHello("k"))
	f.Add(frames(hello, enc(f, control.StreamStart{Session: "s"})), false)
	f.Add(frames(hello, enc(f, control.PairStart{Name: "k"}), enc(f, control.Ping{Seq: 1})), false)
	f.Add(frames(hello, `{"type":"x"}`, `{"type":"y"}`, `{"type":"z"}`), true)
	f.Add(frames(enc(f, control.HelloAck{}), enc(f, control.Pong{Seq: 1})), true)
	f.Add([]byte{0, 0, 0, 3, '{', '}', '"'}, true)
	f.Fuzz(func(t *testing.T, data []byte, trusted bool) {
		if len(data) > 1<<16 {
			return
		}
		for _, server := range []bool{true, false} {
			in := newInbound(server, 3)
			r := bytes.NewReader(data)
			for {
				b, err := readFrame(r, in.maxFrame(trusted))
				if err != nil {
					break
				}
				if server && (!in.helloDone || !trusted) && len(b) > UntrustedMaxFrame {
					t.Fatalf("read a %d-byte frame from an untrusted client", len(b))
				}
				wasHello := in.helloDone
				a := in.frame(b, trusted)
				if a.verdict == violate {
					if a.code == control.CodeNone || a.code == control.CodeInternal {
						t.Fatalf("violation with code %v", a.code)
					}
					break
				}
				if a.msg == nil {
					t.Fatalf("verdict %d without a message", a.verdict)
				}
				if a.verdict != deliver {
					continue
				}
				mt := a.msg.MessageType()
				switch {
				case server && !wasHello:
					t.Fatalf("delivered %s before hello", mt)
				case mt == control.TypePing || mt == control.TypePong || mt == control.TypeBye || mt == control.TypeHello:
					t.Fatalf("delivered %s", mt)
				case server && !trusted && !control.AllowedUntrusted(mt):
					t.Fatalf("delivered %s from an untrusted client", mt)
				}
			}
		}
	})
}
