package transport

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// TestTrySendNeverWaits: a peer that never reads fills the send queue;
// TrySend then fails with ErrSendQueueFull at once instead of waiting,
// and StartClose returns at once while the connection closes.
func TestTrySendNeverWaits(t *testing.T) {
	cfg := testConfig(t)
	cfg.SendQueue = 4
	h := newHarness(t, newAllowSet(), cfg)
	rc, err := rawDial(t, h.addr(), listenerID(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.qc.CloseWithError(0, "")
	rc.greet(t) // then never reads again
	srv := h.next(t)
	big := control.ErrorMsg{Code: control.CodeBadRequest.String(), Message: strings.Repeat("x", 4000)}
	start := time.Now()
	full := false
	for i := 0; i < 10000 && !full; i++ {
		err := srv.TrySend(big)
		switch {
		case errors.Is(err, ErrSendQueueFull):
			full = true
		case err != nil:
			t.Fatalf("TrySend %d: %v", i, err)
		}
	}
	if !full {
		t.Fatal("the send queue never filled")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("filling the queue took %v: TrySend waited", d)
	}
	start = time.Now()
	srv.StartClose(control.CodeIdleTimeout, "does not read")
	srv.StartClose(control.CodeIdleTimeout, "twice is fine")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("StartClose took %v", d)
	}
	select {
	case <-srv.Done():
	case <-time.After(testTimeout):
		t.Fatal("the connection did not close")
	}
	if err := srv.TrySend(big); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrySend after the close: %v", err)
	}
}
