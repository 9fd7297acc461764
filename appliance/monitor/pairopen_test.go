package monitor

import (
	"math"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// TestPairOpenFromListener: a paired listener opens the window for the
// default time (0) or the time it asks, closes it, and a time out of
// range (negative, over the maximum, or one that would overflow) is a
// bad_request that leaves the window as it was.
func TestPairOpenFromListener(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	_, conn := pairedClient(t, m)
	m.ClosePairing()
	// answer returns the answer to the request named ref, skipping notices.
	answer := func(ref control.Type) control.Message {
		t.Helper()
		for {
			switch msg := recvAny(t, conn).(type) {
			case control.PairingState:
				if msg.Ref == ref {
					return msg
				}
			case control.ErrorMsg:
				return msg
			}
		}
	}
	for _, tc := range []struct {
		ms   int64
		want time.Duration // 0: refused
	}{
		{0, pairing.DefaultWindowOpen},
		{int64(2 * time.Minute / time.Millisecond), 2 * time.Minute},
		{int64(10 * time.Minute / time.Millisecond), 10 * time.Minute},
		{-1, 0},
		{int64(pairing.DefaultWindowMax/time.Millisecond) + 1, 0},
		{math.MaxInt64, 0},
		{math.MaxInt64 / 1000, 0},
	} {
		send(t, conn, control.PairOpen{DurationMillis: tc.ms})
		got := answer(control.TypePairOpen)
		switch st, ok := got.(control.PairingState); {
		case tc.want == 0:
			var e control.ErrorMsg
			if e, ok = got.(control.ErrorMsg); !ok || e.Code != control.CodeBadRequest.String() {
				t.Errorf("pair_open %d ms: %#v, want bad_request", tc.ms, got)
			}
			if m.Status().Pairing.Open {
				t.Errorf("pair_open %d ms opened the window", tc.ms)
			}
		case !ok || !st.Open:
			t.Errorf("pair_open %d ms: %#v, want the window open", tc.ms, got)
		default:
			if rem := time.Duration(st.RemainingMillis) * time.Millisecond; rem > tc.want || rem < tc.want-5*time.Second {
				t.Errorf("pair_open %d ms: open for %v, want %v", tc.ms, rem, tc.want)
			}
			send(t, conn, control.PairClose{})
			if st, ok := answer(control.TypePairClose).(control.PairingState); !ok || st.Open {
				t.Errorf("pair_close: %#v", st)
			}
			if m.Status().Pairing.Open {
				t.Error("pair_close left the window open")
			}
		}
	}
}
