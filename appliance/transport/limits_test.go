package transport

import (
	"errors"
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
	h := newHarness(t, newGate(listenerID(t).Fingerprint), cfg)

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
	silent[0].open(t)
	silent[0].write(t, frame(t, testHello("raw")))
	if m := silent[0].readOne(t); m.MessageType() != control.TypeHelloAck {
		t.Fatalf("got %v, want hello_ack", m)
	}
	h.next(t)
	waitFor(t, "slot freed", testTimeout, func() bool { p, _ := h.srv.Pending(); return p == int64(cfg.MaxPending-1) })
	c, _ := dial(t, h, cfg)
	h.next(t)

	// Closed ones free theirs.
	for _, rc := range silent[1:] {
		rc.qc.CloseWithError(0, "")
	}
	waitFor(t, "slots freed", testTimeout, func() bool { p, _ := h.srv.Pending(); return p == 0 })
	c.Close(control.CodeNone, "")
}
