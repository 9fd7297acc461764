package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// allTypes is the version 1 catalogue.
var allTypes = []control.Type{
	control.TypeHello, control.TypeHelloAck, control.TypeError, control.TypePairStart, control.TypePairReply,
	control.TypePairConfirm, control.TypePairDone, control.TypePing, control.TypePong, control.TypeStreamStart,
	control.TypeStreamStop, control.TypeWebRTCOffer, control.TypeWebRTCAnswer, control.TypeWebRTCICE,
	control.TypeStatus, control.TypeBye, control.TypeInfoRequest, control.TypeInfo,
	control.TypePairOpen, control.TypePairClose, control.TypePairingState,
}

// bare is a frame of type typ with an empty body.
func bare(typ control.Type) []byte { return rawFrame(fmt.Sprintf(`{"type":%q,"body":{}}`, typ)) }

// TestHostile attacks a server the way a stranger on the Wi-Fi can, one
// case at a time, while a trusted listener stays connected. Each case
// must end with the close code it names; after each, the server's
// connections waiting for hello return to zero, goroutines return to
// their count before the case, and the trusted listener has missed no
// pong and still gets its messages through.
func TestHostile(t *testing.T) {
	cfg := testConfig(t)
	cfg.HelloTimeout = 500 * time.Millisecond
	cfg.HandshakeTimeout = 500 * time.Millisecond
	cfg.Heartbeat = presence.Config{Interval: 200 * time.Millisecond, Misses: 5}
	cfg.MaxPending = 8
	stranger := newIdentity(t, "listener", "stranger")
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	// The server conns the harness accepts are not served here (no Recv):
	// the cases end them; the trusted one is taken first.
	cc, sc := pair(t, h, cfg)
	ctx := testCtx(t)
	echo := make(chan control.Message, 16)
	var served sync.WaitGroup
	served.Go(func() {
		for {
			m, err := sc.Recv(ctx)
			if err != nil {
				return
			}
			echo <- m
		}
	})
	t.Cleanup(func() {
		sc.Close(control.CodeNone, "")
		served.Wait()
	})
	drain := func() { // accepted attackers' conns: nobody serves them
		for {
			select {
			case c := <-h.conns:
				go c.Close(control.CodeNone, "")
			default:
				return
			}
		}
	}

	seq := 0
	trustedOK := func(t *testing.T, name string) {
		t.Helper()
		for _, c := range []*Conn{cc, sc} {
			select {
			case <-c.Done():
				t.Fatalf("after %s: trusted connection closed: %v", name, c.Err())
			default:
			}
			s := c.Stats()
			if s.Dead || time.Since(s.LastSeen) > 3*cfg.Heartbeat.Interval {
				t.Errorf("after %s: trusted heartbeat disturbed: %+v", name, s)
			}
		}
		// Missed counts pings not answered; one may be in flight.
		if s := cc.Stats(); s.Missed > 1 {
			t.Errorf("after %s: the trusted listener missed %d pongs", name, s.Missed)
		}
		seq++
		want := control.StreamStop{Session: fmt.Sprint(seq)}
		if err := cc.Send(ctx, want); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-echo:
			if m != want {
				t.Errorf("after %s: trusted stream got %v, want %v", name, m, want)
			}
		case <-time.After(testTimeout):
			t.Fatalf("after %s: trusted stream stalled", name)
		}
	}
	base := runtime.NumGoroutine()
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, f)
		drain()
		waitFor(t, name+": pending back to 0", testTimeout, func() bool { p, _ := h.srv.Pending(); return p == 0 })
		waitFor(t, name+": goroutines back to baseline", testTimeout, func() bool { drain(); return runtime.NumGoroutine() <= base })
		trustedOK(t, name)
	}

	// dialRaw dials as id and, if hello, sends it and reads the ack.
	dialRaw := func(t *testing.T, id string, hello bool) *rawClient {
		t.Helper()
		who := listenerID(t)
		if id == "stranger" {
			who = stranger
		}
		rc, err := rawDial(t, h.addr(), who)
		if err != nil {
			t.Fatal(err)
		}
		if hello {
			rc.greet(t)
		} else {
			rc.open(t)
		}
		return rc
	}
	expect := func(t *testing.T, rc *rawClient, want control.Code) {
		t.Helper()
		msgs, got := rc.finish(t)
		if got != want {
			t.Errorf("closed with %v, want %v", got, want)
		}
		if em, ok := lastError(msgs); !ok || em.Code != want.String() {
			t.Errorf("messages before the close: %#v, want an error %v last", msgs, want)
		}
	}

	run("every message before hello", func(t *testing.T) {
		for _, typ := range allTypes {
			rc := dialRaw(t, "trusted", false)
			rc.write(t, bare(typ)) // a hello with an empty body has protocol 0
			expect(t, rc, control.CodeProtocol)
		}
	})
	run("every message before trust", func(t *testing.T) {
		for _, typ := range allTypes {
			if control.AllowedUntrusted(typ) {
				continue
			}
			rc := dialRaw(t, "stranger", true)
			rc.write(t, bare(typ))
			want := control.CodeUntrusted
			if typ == control.TypeHelloAck {
				want = control.CodeProtocol
			}
			expect(t, rc, want)
		}
	})
	run("oversized lengths", func(t *testing.T) {
		for _, tt := range []struct {
			who   string
			hello bool
			n     uint32
		}{
			{"trusted", false, UntrustedMaxFrame + 1},
			{"trusted", false, control.MaxFrame + 1},
			{"trusted", false, 1 << 31},
			{"trusted", false, 0xffffffff},
			{"stranger", true, UntrustedMaxFrame + 1},
			{"stranger", true, 0xffffffff},
			{"trusted", true, control.MaxFrame + 1},
			{"trusted", true, 0xffffffff},
		} {
			rc := dialRaw(t, tt.who, tt.hello)
			rc.write(t, header(tt.n))
			expect(t, rc, control.CodeFrameTooLarge)
		}
		// A trusted listener's large frame still passes.
		rc := dialRaw(t, "trusted", true)
		rc.write(t, frame(t, control.WebRTCOffer{Session: "s", SDP: strings.Repeat("a", 2*UntrustedMaxFrame)}))
		rc.write(t, frame(t, control.Ping{Seq: 7}))
		if m := rc.readOne(t); m != (control.Pong{Seq: 7}) {
			t.Errorf("after a large frame from a trusted listener: got %v, want pong 7", m)
		}
	})
	run("slow-loris frames", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			hello bool
			want  control.Code
			limit time.Duration
		}{
			{"before hello", false, control.CodeIdleTimeout, cfg.HelloTimeout},
			{"untrusted, after hello", true, control.CodeIdleTimeout, cfg.Heartbeat.DeadAfter()},
		} {
			rc := dialRaw(t, "stranger", tt.hello)
			start := time.Now()
			var drip sync.WaitGroup
			drip.Go(func() { // a 4 KiB frame, a byte every 20 ms
				rc.st.Write(header(UntrustedMaxFrame))
				for range UntrustedMaxFrame {
					select {
					case <-rc.qc.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := rc.st.Write([]byte{'x'}); err != nil {
						return
					}
				}
			})
			got := rc.closeCode(t)
			drip.Wait()
			if got != tt.want {
				t.Errorf("%s: closed with %v, want %v", tt.name, got, tt.want)
			}
			if d := time.Since(start); d > tt.limit+CloseLinger+2*time.Second {
				t.Errorf("%s: closed after %v, limit %v", tt.name, d, tt.limit)
			}
		}
	})
	run("unknown types in a loop", func(t *testing.T) {
		rc := dialRaw(t, "stranger", true)
		for i := range 1000 {
			if rc.qc.Context().Err() != nil {
				break
			}
			if _, err := rc.st.Write(rawFrame(fmt.Sprintf(`{"type":"future_%d"}`, i))); err != nil {
				break
			}
		}
		if got := rc.closeCode(t); got != control.CodeUnknownMessage {
			t.Errorf("closed with %v, want unknown_message", got)
		}
	})
	run("thousands of streams", func(t *testing.T) {
		rc := dialRaw(t, "trusted", true)
		for i := range 2000 {
			_, err := rc.qc.OpenStream()
			if !errors.As(err, new(*quic.StreamLimitReachedError)) {
				t.Fatalf("stream %d: %v, want the stream limit", i+2, err)
			}
			if _, err := rc.qc.OpenUniStream(); !errors.As(err, new(*quic.StreamLimitReachedError)) {
				t.Fatalf("unidirectional stream %d: %v, want the stream limit", i+1, err)
			}
		}
		rc.write(t, frame(t, control.Ping{Seq: 9}))
		if m := rc.readOne(t); m != (control.Pong{Seq: 9}) {
			t.Errorf("control stream after the attempts: got %v, want pong 9", m)
		}
	})
	run("a thousand abandoned handshakes", func(t *testing.T) {
		initials := captureInitials(t, 1000)
		atk, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer atk.Close()
		var peak int64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			for {
				if n, _ := h.srv.Pending(); n > peak {
					peak = n
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		})
		for _, p := range initials {
			if _, err := atk.WriteTo(p, h.srv.Addr()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(cfg.HandshakeTimeout / 2) // let the server take them in (sampling, not a wait for a condition)
		close(stop)
		sampler.Wait()
		// The first ones hold a slot until their handshake times out; from
		// half the cap on, the rest get a Retry and cost no state.
		if peak < 1 || peak > int64(cfg.MaxPending) {
			t.Errorf("pending peaked at %d, want 1..%d", peak, cfg.MaxPending)
		}
		t.Logf("%d initials sent; pending peaked at %d (cap %d)", len(initials), peak, cfg.MaxPending)
	})
}

// captureInitials returns n client Initial packets, each of a different
// connection attempt, caught on a socket that never answers.
func captureInitials(t *testing.T, n int) [][]byte {
	t.Helper()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	defer func() {
		tr.Close()
		udp.Close()
	}()
	tlsConf := listenerID(t).ClientTLS(monitorID(t).Fingerprint, ALPN)
	tlsConf.CurvePreferences = []tls.CurveID{tls.X25519} // one datagram per ClientHello
	out := make([][]byte, 0, n)
	buf := make([]byte, 2048)
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			tr.Dial(ctx, sink.LocalAddr(), tlsConf, &quic.Config{HandshakeIdleTimeout: time.Second})
		}()
		sink.SetReadDeadline(time.Now().Add(testTimeout))
		k, _, err := sink.ReadFrom(buf)
		cancel()
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if buf[0]&0xf0 != 0xc0 { // long header, Initial
			t.Fatalf("captured packet 0x%x, want an Initial", buf[0])
		}
		out = append(out, append([]byte(nil), buf[:k]...))
		// Drop what the cancelled attempt sent after its Initial.
		sink.SetReadDeadline(time.Now())
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				break
			}
		}
	}
	return out
}
