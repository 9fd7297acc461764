package transport

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMaxPending: connections that have not sent hello are capped; the
// one beyond is refused at once with CONNECTION_REFUSED; from half the cap
// on, new connections go through a Retry; a hello frees a slot.
func TestMaxPending(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPending = 4
	cfg.HelloTimeout = testTimeout // the silent ones stay until the test closes them
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)

	var silent []*rawClient
	for i := range cfg.MaxPending {
		rc, err := rawDial(t, h.addr(), listenerID(t))
		if err != nil {
			t.Fatalf("dial %d of %d: %v", i+1, cfg.MaxPending, err)
		}
		silent = append(silent, rc)
	}
	if p, _ := h.srv.Pending(); p != int64(cfg.MaxPending) {
		t.Fatalf("pending = %d, want %d", p, cfg.MaxPending)
	}
	if v := h.srv.verified.Load(); v < int64(cfg.MaxPending/2) {
		t.Errorf("%d connections came through a Retry, want at least %d (from half the cap on)", v, cfg.MaxPending/2)
	}

	// One more: refused at once, and Dial says why.
	start := time.Now()
	_, _, err := Dial(testCtx(t), h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("late"), cfg)
	var trE *quic.TransportError
	if !errors.As(err, &trE) || trE.ErrorCode != quic.ConnectionRefused || !errors.Is(err, control.ErrGoingAway) {
		t.Fatalf("Dial beyond the cap: %v, want CONNECTION_REFUSED as going_away", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused after %v, want at once", d)
	}
	if _, refused := h.srv.Pending(); refused < 1 {
		t.Errorf("refused = %d, want at least 1", refused)
	}

	// A hello frees its slot: then a listener gets in.
	silent[0].greet(t)
	h.next(t)
	waitFor(t, "slot freed", testTimeout, func() bool { p, _ := h.srv.Pending(); return p == int64(cfg.MaxPending-1) })
	// One slot is free, and this dial goes through a Retry. On a loaded
	// machine the client's retransmitted Initial can reach quic-go while
	// it still creates the connection for the first: it is admitted as a
	// new connection too (taking the last slot) or refused as a
	// duplicate (quic-go's server.go, AddWithConnID), and the dial ends
	// with CONNECTION_REFUSED. A listener retries; so does the test, a
	// few times. A duplicate admitted holds the free slot until its hello
	// timeout, as a silent client does: the test then closes one more of
	// its silent clients before it retries.
	var c *Conn
	for try := 0; ; try++ {
		var err error
		c, _, err = Dial(testCtx(t), h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("kitchen"), cfg)
		if err == nil {
			break
		}
		if try == 2 || !errors.Is(err, control.ErrGoingAway) {
			t.Fatalf("Dial with a slot free: %v", err)
		}
		if p, _ := h.srv.Pending(); p == int64(cfg.MaxPending) && len(silent) > 1+try {
			silent[1+try].qc.CloseWithError(0, "")
			waitFor(t, "a slot freed again", testTimeout, func() bool { p, _ := h.srv.Pending(); return p < int64(cfg.MaxPending) })
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.next(t)

	// Closed ones free theirs.
	for _, rc := range silent[1:] {
		rc.qc.CloseWithError(0, "")
	}
	waitFor(t, "slots freed", testTimeout, func() bool { p, _ := h.srv.Pending(); return p == 0 })
	c.Close(control.CodeNone, "")
}

// TestDefaultHelloTimeout: with the default config, a connection that
// sends nothing is closed about DefaultHelloTimeout after its handshake.
func TestDefaultHelloTimeout(t *testing.T) {
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), Config{Logger: testLogger(t)})
	rc, err := rawDial(t, h.addr(), listenerID(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rc.open(t)
	rc.write(t, []byte{0}) // the stream exists, the hello never comes
	_, got := rc.finish(t)
	d := time.Since(start)
	if got != control.CodeIdleTimeout {
		t.Errorf("closed with %v, want idle_timeout", got)
	}
	if d < DefaultHelloTimeout-200*time.Millisecond || d > DefaultHelloTimeout+1500*time.Millisecond {
		t.Errorf("closed after %v, want about %v", d, DefaultHelloTimeout)
	}
	if DefaultHelloTimeout > 2*time.Second {
		t.Errorf("DefaultHelloTimeout = %v: a stranger holds memory that long", DefaultHelloTimeout)
	}
}

// TestReceiveWindow: a listener cannot make the server buffer more than
// its receive windows. The server's reader stops once RecvQueue messages
// wait (nobody calls Recv here); then a listener's writes block after at
// most the stream window, far below quic-go's default 512 KiB.
func TestReceiveWindow(t *testing.T) {
	cfg := testConfig(t)
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	rc, err := rawDial(t, h.addr(), listenerID(t))
	if err != nil {
		t.Fatal(err)
	}
	rc.greet(t)
	h.next(t) // accepted, never read
	var small []byte
	for range DefaultRecvQueue + 1 {
		small = append(small, frame(t, control.StreamStop{Session: "s"})...)
	}
	rc.write(t, small)
	big := frame(t, control.WebRTCOffer{Session: "s", SDP: strings.Repeat("a", 60<<10)})
	rc.st.SetWriteDeadline(time.Now().Add(time.Second))
	written := 0
	for written < 1<<20 {
		n, err := rc.st.Write(big)
		written += n
		if err != nil {
			break
		}
	}
	t.Logf("the listener got %d KiB into the stream before it blocked", written>>10)
	if limit := serverMaxStreamWindow + UntrustedMaxFrame; written > limit {
		t.Errorf("the listener wrote %d bytes past a stalled reader, want at most %d (the stream window)", written, limit)
	}
}

// TestMaxPendingPerAddr: one address cannot take every pending slot.
func TestMaxPendingPerAddr(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPendingPerAddr = 2
	cfg.HelloTimeout = testTimeout
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	for i := range cfg.MaxPendingPerAddr {
		if _, err := rawDial(t, h.addr(), listenerID(t)); err != nil {
			t.Fatalf("dial %d: %v", i+1, err)
		}
	}
	_, err := rawDial(t, h.addr(), listenerID(t))
	var trE *quic.TransportError
	if !errors.As(err, &trE) || trE.ErrorCode != quic.ConnectionRefused {
		t.Fatalf("dial %d from one address: %v, want CONNECTION_REFUSED", cfg.MaxPendingPerAddr+1, err)
	}
	// Another address still gets in (127.0.0.2 is loopback on Linux).
	if _, err := rawDialFrom(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, h.addr(), listenerID(t)); err != nil {
		t.Fatalf("dial from another address: %v", err)
	}
	if p, _ := h.srv.Pending(); p != int64(cfg.MaxPendingPerAddr+1) {
		t.Errorf("pending = %d, want %d", p, cfg.MaxPendingPerAddr+1)
	}
}

// TestMaxPendingKnown: with every pending slot taken by strangers, a
// connection from an address a trusted listener used (Config.Known) gets
// one of its own slots; one from any other address is refused.
func TestMaxPendingKnown(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPending, cfg.MaxPendingKnown = 2, 1
	cfg.HelloTimeout = testTimeout
	parent := netip.MustParseAddr("127.0.0.2")
	cfg.Known = func(a netip.Addr) bool { return a == parent }
	h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), cfg)
	for i := range cfg.MaxPending {
		if _, err := rawDial(t, h.addr(), listenerID(t)); err != nil {
			t.Fatalf("dial %d: %v", i+1, err)
		}
	}
	from := func(ip string) Config {
		c := cfg
		c.LocalAddr = &net.UDPAddr{IP: net.ParseIP(ip)}
		return c
	}
	if _, _, err := Dial(testCtx(t), h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("stranger"), from("127.0.0.3")); !errors.Is(err, control.ErrGoingAway) {
		t.Fatalf("a stranger beyond the cap: %v, want refused", err)
	}
	var c *Conn
	for try := 0; ; try++ { // retried as TestMaxPending's dial into a freed slot is
		var err error
		c, _, err = Dial(testCtx(t), h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("parent"), from("127.0.0.2"))
		if err == nil {
			break
		}
		if try == 2 {
			t.Fatalf("the parent's address beyond the cap: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.next(t)
	defer c.Close(control.CodeNone, "")
	// Its own slot is free again once Accept took it.
	waitFor(t, "known slot freed", testTimeout, func() bool { h.srv.pmu.Lock(); defer h.srv.pmu.Unlock(); return h.srv.known == 0 })
}
