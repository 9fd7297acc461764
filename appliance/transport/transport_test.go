package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// recvAll receives until the connection closes.
func recvAll(ctx context.Context, c *Conn) ([]control.Message, error) {
	var out []control.Message
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func TestHandshake(t *testing.T) {
	mon, lis := monitorID(t), listenerID(t)
	g := newAllowSet(lis.Fingerprint)
	srv, err := Listen("127.0.0.1:0", mon, g, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	type accepted struct {
		c     *Conn
		hello control.Hello
		err   error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, hello, err := srv.Accept(testCtx(t))
		if err == nil {
			err = c.Send(testCtx(t), control.HelloAck{Protocol: 1, Role: control.RoleMonitor, Name: "nursery", Trusted: c.Trusted()})
		}
		acc <- accepted{c, hello, err}
	}()

	cfg := testConfig(t)
	cc, ack, err := Dial(testCtx(t), srv.Addr().String(), lis, mon.Fingerprint, testHello("kitchen"), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	a := <-acc
	if a.err != nil {
		t.Fatalf("Accept: %v", a.err)
	}
	sc := a.c

	if !ack.Trusted || ack.Name != "nursery" {
		t.Errorf("ack = %+v, want trusted from nursery", ack)
	}
	if a.hello.Name != "kitchen" || sc.PeerHello() != a.hello {
		t.Errorf("hello = %+v, PeerHello = %+v", a.hello, sc.PeerHello())
	}
	if cc.Peer() != mon.Fingerprint || sc.Peer() != lis.Fingerprint {
		t.Error("Peer() is not the other side's fingerprint")
	}
	if !sc.Trusted() || !cc.Trusted() {
		t.Error("trusted listener not tagged trusted")
	}
	if cc.ID() == sc.ID() || cc.ConnectedAt().IsZero() || sc.RemoteAddr() == nil {
		t.Errorf("ids %d %d, connected at %v, remote %v", cc.ID(), sc.ID(), cc.ConnectedAt(), sc.RemoteAddr())
	}
	ce, err1 := cc.Exporter()
	se, err2 := sc.Exporter()
	if err1 != nil || err2 != nil || len(ce) != ExporterLen || !bytes.Equal(ce, se) {
		t.Errorf("exporters differ or fail: %x %v / %x %v", ce, err1, se, err2)
	}
	if g.questions() != 1 {
		t.Errorf("allowlist asked %d times, want once", g.questions())
	}

	// A message each way.
	if err := cc.Send(testCtx(t), control.StreamStart{Session: "s1", Kind: control.StreamAudio}); err != nil {
		t.Fatal(err)
	}
	if m, err := sc.Recv(testCtx(t)); err != nil || m != (control.StreamStart{Session: "s1", Kind: control.StreamAudio}) {
		t.Fatalf("server Recv = %v, %v", m, err)
	}

	cc.Close(control.CodeNone, "bye")
	if _, err := sc.Recv(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("server Recv after client close: %v, want ErrClosed", err)
	}
	var pe *control.Error
	if !errors.As(sc.Err(), &pe) || !pe.Remote || pe.Code != control.CodeNone || pe.Message != "bye" {
		t.Errorf("server Err = %#v, want remote none with reason", sc.Err())
	}
	<-sc.Done()
	<-cc.Done()
	if !errors.As(cc.Err(), &pe) || pe.Remote || pe.Code != control.CodeNone {
		t.Errorf("client Err after its own Close = %#v, want local none", cc.Err())
	}
	if err := cc.Send(testCtx(t), control.Bye{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := cc.Close(control.CodeNone, "again"); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestDialFillsHello(t *testing.T) {
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
	c, _, err := Dial(testCtx(t), h.addr(), listenerID(t), monitorID(t).Fingerprint, control.Hello{Name: "kitchen"}, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(control.CodeNone, "")
	got := h.next(t).PeerHello()
	if got != (control.Hello{Protocol: control.ProtocolVersion, Role: control.RoleListener, Name: "kitchen"}) {
		t.Errorf("server got %+v", got)
	}
	if (c.PeerHello() != control.Hello{}) {
		t.Error("PeerHello on a dialled conn is not zero")
	}
}

func TestFingerprintMismatch(t *testing.T) {
	g := newAllowSet(listenerID(t).Fingerprint)
	srv, err := Listen("127.0.0.1:0", monitorID(t), g, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	cfg := testConfig(t)
	wrong := newIdentity(t, identity.RoleMonitor, "other").Fingerprint
	_, _, err = Dial(testCtx(t), srv.Addr().String(), listenerID(t), wrong, testHello("kitchen"), cfg)
	if !errors.Is(err, control.ErrFingerprintMismatch) {
		t.Fatalf("Dial with a wrong pin: %v, want ErrFingerprintMismatch", err)
	}
	var me *identity.MismatchError
	if !errors.As(err, &me) || me.Want != wrong || me.Got != monitorID(t).Fingerprint {
		t.Errorf("error %v does not carry the identity.MismatchError", err)
	}
	if !strings.Contains(err.Error(), "re-pair") {
		t.Errorf("error %q does not tell the user to re-pair", err)
	}

	// The server saw no hello, not even a finished handshake.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, _, err := srv.Accept(ctx); err == nil {
		t.Fatalf("server accepted a connection from %v", c.Peer())
	}
	if n := g.questions(); n != 0 {
		t.Errorf("allowlist asked %d times, want 0", n)
	}
}

func TestClientWithoutCertificate(t *testing.T) {
	h := newHarness(t, newAllowSet(), testConfig(t))
	rc, err := rawDial(t, h.addr(), nil)
	if err == nil { // TLS 1.3: the client may finish before the server refuses it
		var st *quic.Stream
		if st, err = rc.qc.OpenStream(); err == nil {
			if _, err = st.Write(frame(t, testHello("anon"))); err == nil {
				_, err = st.Read(make([]byte, 1))
			}
		}
	}
	var te *quic.TransportError
	if !errors.As(err, &te) || !te.Remote || te.ErrorCode != 0x100+116 {
		t.Fatalf("client without certificate got %v, want a remote certificate_required crypto error", err)
	}
	if !errors.Is(mapError(err, false), control.ErrUntrusted) {
		t.Errorf("mapError(%v) is not ErrUntrusted", err)
	}
	if n := h.allow.questions(); n != 0 {
		t.Errorf("allowlist asked %d times, want 0", n)
	}
}

func TestUntrustedClient(t *testing.T) {
	h := newHarness(t, newAllowSet(), testConfig(t)) // nobody trusted
	ctx := testCtx(t)

	t.Run("pairing only", func(t *testing.T) {
		cc, ack := dial(t, h, testConfig(t))
		sc := h.next(t)
		if ack.Trusted || sc.Trusted() {
			t.Fatal("an unknown listener is trusted")
		}
		// Pairing-class messages pass.
		for _, m := range []control.Message{control.PairStart{Name: "kitchen", PA: []byte{1}}, control.PairConfirm{CA: []byte{2}}} {
			if err := cc.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			if got, err := sc.Recv(ctx); err != nil || got.MessageType() != m.MessageType() {
				t.Fatalf("server got %v, %v; want %s", got, err, m.MessageType())
			}
		}
		// Anything else closes the connection with untrusted.
		if err := cc.Send(ctx, control.StreamStart{Session: "s", Kind: control.StreamAudio}); err != nil {
			t.Fatal(err)
		}
		msgs, err := recvAll(ctx, cc)
		if !errors.Is(err, control.ErrUntrusted) || !errors.Is(err, ErrClosed) {
			t.Fatalf("client Recv: %v, want untrusted", err)
		}
		// The error message arrives before the close.
		if len(msgs) != 1 {
			t.Fatalf("client got %#v, want one untrusted error", msgs)
		}
		if em, ok := msgs[0].(control.ErrorMsg); !ok || em.Code != "untrusted" || em.Ref != control.TypeStreamStart {
			t.Errorf("unexpected message %#v", msgs[0])
		}
		<-sc.Done()
		var pe *control.Error
		if !errors.As(cc.Err(), &pe) || !pe.Remote || pe.Code != control.CodeUntrusted {
			t.Errorf("client Err = %v, want remote untrusted", cc.Err())
		}
		if !errors.Is(sc.Err(), control.ErrUntrusted) {
			t.Errorf("server Err = %v, want untrusted", sc.Err())
		}
	})

	t.Run("trusted after pairing", func(t *testing.T) {
		cc, _ := dial(t, h, testConfig(t))
		sc := h.next(t)
		sc.SetTrusted(true)
		if err := sc.Send(ctx, control.PairDone{Name: "nursery"}); err != nil {
			t.Fatal(err)
		}
		if m, err := cc.Recv(ctx); err != nil || m.MessageType() != control.TypePairDone {
			t.Fatalf("client Recv = %v, %v", m, err)
		}
		if err := cc.Send(ctx, control.StreamStart{Session: "s", Kind: control.StreamAudio}); err != nil {
			t.Fatal(err)
		}
		if m, err := sc.Recv(ctx); err != nil || m.MessageType() != control.TypeStreamStart {
			t.Fatalf("server Recv = %v, %v", m, err)
		}
	})
}

func TestBadFrames(t *testing.T) {
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
	hello := frame(t, testHello("raw"))
	tests := []struct {
		name      string
		helloDone bool   // send a hello (and read the ack) first
		send      []byte // then these bytes
		fin       bool   // then close the stream's send side
		want      control.Code
	}{
		{"oversized first", false, header(control.MaxFrame + 1), false, control.CodeFrameTooLarge},
		{"over the untrusted limit first", false, header(UntrustedMaxFrame + 1), false, control.CodeFrameTooLarge},
		{"oversized", true, header(control.MaxFrame + 1), false, control.CodeFrameTooLarge},
		{"huge length", true, header(0xffffffff), false, control.CodeFrameTooLarge},
		{"truncated body", true, append(header(100), "0123456789"...), true, control.CodeMalformedFrame},
		{"truncated header", true, []byte{0, 0}, true, control.CodeMalformedFrame},
		{"empty frame", true, header(0), false, control.CodeMalformedFrame},
		{"not json", true, rawFrame("not json"), false, control.CodeMalformedFrame},
		{"no type", true, rawFrame(`{"body":{}}`), false, control.CodeMalformedFrame},
		{"bad body", true, rawFrame(`{"type":"ping","body":{"seq":"x"}}`), false, control.CodeMalformedFrame},
		{"malformed first", false, rawFrame("{"), false, control.CodeMalformedFrame},
		{"not hello first", false, frame(t, control.StreamStart{Session: "s"}), false, control.CodeProtocol},
		{"unknown first", false, rawFrame(`{"type":"future"}`), false, control.CodeProtocol},
		{"wrong version", false, frame(t, control.Hello{Protocol: 99}), false, control.CodeProtocol},
		{"second hello", true, hello, false, control.CodeProtocol},
		{"hello_ack from client", true, frame(t, control.HelloAck{}), false, control.CodeProtocol},
		{"end of stream", true, nil, true, control.CodeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := rawDial(t, h.addr(), listenerID(t))
			if err != nil {
				t.Fatal(err)
			}
			if tt.helloDone {
				rc.greet(t)
			} else {
				rc.open(t)
			}
			if len(tt.send) > 0 {
				rc.write(t, tt.send)
			}
			if tt.fin {
				rc.st.Close()
			}
			msgs, got := rc.finish(t)
			if got != tt.want {
				t.Errorf("closed with %v, want %v", got, tt.want)
			}
			// The error message that says why arrives before the close.
			if em, ok := lastError(msgs); !ok || em.Code != tt.want.String() {
				t.Errorf("messages before the close: %#v, want an error %v last", msgs, tt.want)
			}
		})
	}
}

// TestHelloAckFirst: the monitor's first frame is the HelloAck, even
// when the listener pings at once and the server takes its time to ack.
func TestHelloAckFirst(t *testing.T) {
	cfg := testConfig(t)
	cfg.Heartbeat = presence.Config{Interval: 100 * time.Millisecond, Misses: 10}
	srv, err := Listen("127.0.0.1:0", monitorID(t), newAllowSet(listenerID(t).Fingerprint), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rc, err := rawDial(t, srv.Addr().String(), listenerID(t))
	if err != nil {
		t.Fatal(err)
	}
	rc.open(t)
	rc.write(t, append(frame(t, testHello("raw")), frame(t, control.Ping{Seq: 1, Sent: 42})...))
	sc, _, err := srv.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// Other sends wait for the HelloAck; so do pings and pongs, however
	// long the ack takes (here: until a Send of another message blocked).
	early := make(chan error, 1)
	go func() { early <- sc.Send(testCtx(t), control.StreamStop{Session: "early"}) }()
	select {
	case err := <-early:
		t.Fatalf("Send before the HelloAck returned %v, want it to wait", err)
	case <-time.After(3 * cfg.Heartbeat.Interval):
	}
	if err := sc.Send(testCtx(t), control.HelloAck{Protocol: 1, Role: control.RoleMonitor}); err != nil {
		t.Fatal(err)
	}
	if err := <-early; err != nil {
		t.Fatal(err)
	}
	rc.st.SetReadDeadline(time.Now().Add(testTimeout))
	var got []control.Type
	for len(got) < 3 {
		m, err := control.ReadMessage(rc.st)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.MessageType())
	}
	if got[0] != control.TypeHelloAck {
		t.Fatalf("frames %v: the first is not hello_ack", got)
	}
}

// TestPingStampsFitDoubles: the times in pings stay below 2^53, so a peer
// that parses JSON numbers as doubles echoes them exactly, and such an
// echo (a JSON number round-tripped through float64) still counts.
func TestPingStampsFitDoubles(t *testing.T) {
	cfg := testConfig(t)
	cfg.Heartbeat = presence.Config{Interval: 100 * time.Millisecond, Misses: 10}
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	rc, err := rawDial(t, h.addr(), listenerID(t))
	if err != nil {
		t.Fatal(err)
	}
	rc.open(t)
	rc.write(t, frame(t, testHello("raw")))
	sc := h.next(t)
	rc.st.SetReadDeadline(time.Now().Add(testTimeout))
	for pings := 0; pings < 3; {
		b, err := control.ReadFrame(rc.st, 0)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Type string
			Body map[string]float64 // as a JavaScript client reads it
		}
		if err := json.Unmarshal(b, &env); err != nil || env.Type != "ping" {
			continue
		}
		pings++
		sent := env.Body["sent"]
		if sent < 0 || sent > control.MaxJSONInt {
			t.Fatalf("ping %s: sent %v does not fit a double exactly", b, sent)
		}
		rc.write(t, rawFrame(fmt.Sprintf(`{"type":"pong","body":{"seq":%v,"echo":%v}}`, env.Body["seq"], sent)))
	}
	waitFor(t, "three pongs received", testTimeout, func() bool { return sc.Stats().Received >= 3 })
}

func TestUnknownMessages(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUnknown = 3
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	rc, err := rawDial(t, h.addr(), listenerID(t))
	if err != nil {
		t.Fatal(err)
	}
	rc.greet(t)
	sc := h.next(t)
	for i := 1; i < cfg.MaxUnknown; i++ {
		rc.write(t, rawFrame(`{"type":"teleport","body":{"to":"moon"}}`))
		m := rc.readOne(t)
		em, ok := m.(control.ErrorMsg)
		if !ok || em.Code != "unknown_message" || em.Ref != "teleport" {
			t.Fatalf("unknown message %d answered with %#v", i, m)
		}
		// The connection stays up: a known message still arrives.
		rc.write(t, frame(t, control.StreamStop{Session: strconv.Itoa(i)}))
		if m, err := sc.Recv(testCtx(t)); err != nil || m != (control.StreamStop{Session: strconv.Itoa(i)}) {
			t.Fatalf("server Recv = %v, %v", m, err)
		}
	}
	rc.write(t, rawFrame(`{"type":"teleport"}`))
	if msgs, got := rc.finish(t); got != control.CodeUnknownMessage || len(msgs) != 1 {
		t.Errorf("closed with %v after %#v, want unknown_message after its error", got, msgs)
	}
	<-sc.Done()
	if !errors.Is(sc.Err(), control.ErrUnknownMessage) {
		t.Errorf("server Err = %v", sc.Err())
	}
}

func TestHelloTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.HelloTimeout = 200 * time.Millisecond
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	tests := []struct {
		name  string
		bytes []byte // written on a stream; nil: no stream at all
	}{
		{"silent", nil},
		{"half a header", []byte{0, 0}},
		{"half a hello", frame(t, testHello("raw"))[:10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			rc, err := rawDial(t, h.addr(), listenerID(t))
			if err != nil {
				t.Fatal(err)
			}
			if tt.bytes != nil {
				rc.open(t)
				rc.write(t, tt.bytes)
			}
			msgs, got := rc.finish(t)
			if got != control.CodeIdleTimeout {
				t.Errorf("closed with %v, want idle_timeout", got)
			}
			if em, ok := lastError(msgs); tt.bytes != nil && (!ok || em.Code != "idle_timeout") {
				t.Errorf("messages before the close: %#v, want an idle_timeout error", msgs)
			}
			if d := time.Since(start); d > cfg.HelloTimeout+3*time.Second {
				t.Errorf("dropped after %v, hello timeout is %v", d, cfg.HelloTimeout)
			}
		})
	}
	if len(h.conns) != 0 {
		t.Error("a connection without hello was accepted")
	}
}

func TestMessagesInOrder(t *testing.T) {
	const n = 10000
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
	cc, sc := pair(t, h, testConfig(t))
	ctx := testCtx(t)

	send := func(c *Conn, prefix string) error {
		for i := range n {
			if err := c.Send(ctx, control.StreamStop{Session: prefix + strconv.Itoa(i)}); err != nil {
				return err
			}
		}
		return nil
	}
	recv := func(c *Conn, prefix string) error {
		for i := range n {
			m, err := c.Recv(ctx)
			if err != nil {
				return err
			}
			if want := (control.StreamStop{Session: prefix + strconv.Itoa(i)}); m != want {
				return errors.New("got " + m.(control.StreamStop).Session + ", want " + want.Session)
			}
		}
		return nil
	}
	errs := make(chan error, 4)
	go func() { errs <- send(cc, "up") }()
	go func() { errs <- send(sc, "down") }()
	go func() { errs <- recv(sc, "up") }()
	go func() { errs <- recv(cc, "down") }()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentConnections(t *testing.T) {
	const n = 50
	// 50 handshakes at once under the race detector on a busy 2-core
	// machine: generous timeouts, this test is not about timing.
	cfg := testConfig(t)
	cfg.HandshakeTimeout, cfg.HelloTimeout, cfg.Heartbeat.Misses = 10*time.Second, 10*time.Second, 10
	cfg.MaxPending, cfg.MaxPendingPerAddr = n, n // all at once: this test is not about the cap (TestMaxPending is)
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	ctx := testCtx(t)

	// Echo server: every accepted conn sends back what it gets.
	var echoes sync.WaitGroup
	echoes.Go(func() {
		for range n {
			sc := h.next(t)
			echoes.Go(func() {
				for {
					m, err := sc.Recv(ctx)
					if err != nil {
						return
					}
					if sc.Send(ctx, m) != nil {
						return
					}
				}
			})
		}
	})

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, _, err := Dial(ctx, h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("kitchen"), cfg)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(control.CodeNone, "")
			want := control.StreamStop{Session: strconv.Itoa(i)}
			if err := c.Send(ctx, want); err != nil {
				errs <- err
				return
			}
			if m, err := c.Recv(ctx); err != nil || m != want {
				errs <- errors.New("echo mismatch")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h.close() // ends the echo goroutines
	echoes.Wait()
}

func TestHeartbeat(t *testing.T) {
	cfg := testConfig(t)
	cfg.Heartbeat = presence.Config{Interval: 100 * time.Millisecond, Misses: 3}
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)

	t.Run("silent peer dropped", func(t *testing.T) {
		rc, err := rawDial(t, h.addr(), listenerID(t))
		if err != nil {
			t.Fatal(err)
		}
		rc.open(t)
		rc.write(t, frame(t, testHello("raw"))) // then never read nor write
		sc := h.next(t)
		start := time.Now()
		limit := cfg.Heartbeat.DeadAfter() + 500*time.Millisecond // grace for a loaded machine
		select {
		case <-sc.Done():
		case <-time.After(5 * limit):
			t.Fatal("silent peer never dropped")
		}
		if d := time.Since(start); d > limit {
			t.Errorf("dropped after %v, want within %v", d, limit)
		}
		if !errors.Is(sc.Err(), control.ErrIdleTimeout) {
			t.Errorf("server Err = %v, want idle timeout", sc.Err())
		}
		if got := rc.closeCode(t); got != control.CodeIdleTimeout {
			t.Errorf("raw client saw %v, want idle_timeout", got)
		}
	})

	t.Run("live peers stay", func(t *testing.T) {
		// More misses than above so that a loaded test machine does not
		// kill a live peer; the ping interval is the same.
		cfg := cfg
		cfg.Heartbeat.Misses = 10
		h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
		cc, sc := pair(t, h, cfg)
		select {
		case <-cc.Done():
			t.Fatalf("client closed: %v", cc.Err())
		case <-sc.Done():
			t.Fatalf("server closed: %v", sc.Err())
		case <-time.After(6 * cfg.Heartbeat.Interval):
		}
		for _, c := range []*Conn{cc, sc} {
			s := c.Stats()
			if s.Received < 2 || s.SRTT <= 0 || s.Dead || time.Since(s.LastSeen) > cfg.Heartbeat.DeadAfter() {
				t.Errorf("stats %+v: too few pongs, or stale", s)
			}
		}
	})
}

func TestClosePaths(t *testing.T) {
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
	ctx := testCtx(t)

	t.Run("server closes conn", func(t *testing.T) {
		cc, sc := pair(t, h, testConfig(t))
		sc.Close(control.CodeRevoked, "forgotten")
		msgs, err := recvAll(ctx, cc)
		if !errors.Is(err, control.ErrRevoked) || !errors.Is(err, ErrClosed) {
			t.Fatalf("client Recv = %v, want revoked", err)
		}
		// The error message arrives before the close.
		if len(msgs) != 1 {
			t.Fatalf("client got %#v, want one revoked error", msgs)
		}
		if em, ok := msgs[0].(control.ErrorMsg); !ok || em.Code != "revoked" || em.Message != "forgotten" {
			t.Errorf("unexpected message %#v", msgs[0])
		}
		<-cc.Done()
	})

	t.Run("server close with live conns", func(t *testing.T) {
		h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
		var clients []*Conn
		for range 3 {
			cc, _ := pair(t, h, testConfig(t))
			clients = append(clients, cc)
		}
		// One more that said hello but was never acked (still queued for Accept).
		pending := make(chan error, 1)
		go func() {
			_, _, err := Dial(ctx, h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("no-ack"), testConfig(t))
			pending <- err
		}()
		h.next(t)
		if err := h.srv.Close(); err != nil {
			t.Fatal(err)
		}
		if err := h.srv.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for _, cc := range clients {
			<-cc.Done()
			var pe *control.Error
			if !errors.As(cc.Err(), &pe) || !pe.Remote || pe.Code != control.CodeGoingAway {
				t.Errorf("client Err = %v, want remote going_away", cc.Err())
			}
		}
		if err := <-pending; !errors.Is(err, control.ErrGoingAway) {
			t.Errorf("pending Dial = %v, want going_away", err)
		}
		if _, _, err := h.srv.Accept(ctx); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Accept after Close = %v", err)
		}
		if n := len(h.srv.Conns()); n != 0 {
			t.Errorf("%d conns left", n)
		}
	})

	t.Run("cancel during dial", func(t *testing.T) {
		g := newAllowSet(listenerID(t).Fingerprint)
		g.onAsk = make(chan identity.Fingerprint, 1)
		srv, err := Listen("127.0.0.1:0", monitorID(t), g, testConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close() // nobody calls Accept: the Dial waits for its ack
		dctx, cancel := context.WithCancel(ctx)
		go func() {
			<-g.onAsk
			cancel()
		}()
		_, _, err = Dial(dctx, srv.Addr().String(), listenerID(t), monitorID(t).Fingerprint, testHello("kitchen"), testConfig(t))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial = %v, want context.Canceled", err)
		}
	})

	t.Run("no hello_ack", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.HelloTimeout = 200 * time.Millisecond
		_, _, err := Dial(ctx, h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("no-ack"), cfg)
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("Dial = %v, want ErrHandshakeTimeout", err)
		}
		sc := h.next(t)
		<-sc.Done()
	})

	t.Run("error instead of hello_ack", func(t *testing.T) {
		dialed := make(chan error, 1)
		go func() {
			_, _, err := Dial(ctx, h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("no-ack"), testConfig(t))
			dialed <- err
		}()
		sc := h.next(t)
		sc.Close(control.CodePairingLocked, "too many attempts")
		if err := <-dialed; !errors.Is(err, control.ErrPairingLocked) {
			t.Fatalf("Dial = %v, want pairing_locked", err)
		}
	})
}

func TestDialUnreachable(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close() // nobody listens there now

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = Dial(ctx, addr, listenerID(t), monitorID(t).Fingerprint, testHello("kitchen"), testConfig(t))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Dial = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial took %v", d)
	}
}

func TestSendTooLarge(t *testing.T) {
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
	cc, sc := pair(t, h, testConfig(t))
	ctx := testCtx(t)
	big := control.WebRTCOffer{Session: "s", SDP: strings.Repeat("a", control.MaxFrame)}
	if err := cc.Send(ctx, big); !errors.Is(err, control.ErrFrameTooLarge) {
		t.Fatalf("Send = %v, want ErrFrameTooLarge", err)
	}
	if err := cc.Send(ctx, control.StreamStop{Session: "after"}); err != nil {
		t.Fatal(err)
	}
	if m, err := sc.Recv(ctx); err != nil || m.MessageType() != control.TypeStreamStop {
		t.Fatalf("Recv = %v, %v", m, err)
	}
}

func TestSendBlocksWhenFull(t *testing.T) {
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t))
	cfg := testConfig(t)
	cfg.SendQueue = 1
	cc, _ := pair(t, h, cfg)
	// Fill the queue and QUIC's windows: the server never calls Recv, so
	// Send must eventually block, and return when its context ends.
	big := control.WebRTCOffer{Session: "s", SDP: strings.Repeat("a", 60000)}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = cc.Send(ctx, big)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want DeadlineExceeded", err)
	}
}

func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.HandshakeTimeout != DefaultHandshakeTimeout || d.HelloTimeout != DefaultHelloTimeout ||
		d.SendQueue != DefaultSendQueue || d.RecvQueue != DefaultRecvQueue || d.MaxUnknown != DefaultMaxUnknown || d.Logger == nil {
		t.Errorf("defaults = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	for _, c := range []Config{
		{HandshakeTimeout: -1},
		{HelloTimeout: -1},
		{SendQueue: -1},
		{RecvQueue: -1},
		{MaxUnknown: -1},
		{Heartbeat: presence.Config{Interval: time.Millisecond}},
	} {
		if err := c.WithDefaults().Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrBadConfig", c, err)
		}
	}
	q := d.quicConfig(true)
	if q.MaxIdleTimeout <= d.Heartbeat.DeadAfter() || q.KeepAlivePeriod != d.Heartbeat.Interval {
		t.Errorf("QUIC idle %v keep-alive %v vs heartbeat %+v", q.MaxIdleTimeout, q.KeepAlivePeriod, d.Heartbeat)
	}
	if _, err := Listen("127.0.0.1:0", monitorID(t), nil, Config{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Listen with a nil allowlist = %v", err)
	}
}
