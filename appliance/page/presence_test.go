package page

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// TestPagePresence: the card's presence is the session's presence as its
// events said, and offline once the session ended, whatever it said last.
func TestPagePresence(t *testing.T) {
	h := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 1)
	e := &monEntry{mon: listener.PairedMonitor{DeviceID: "AAAAAAA"}, presence: listener.Connecting}
	h.mons["AAAAAAA"] = e
	h.order = []string{"AAAAAAA"}
	snapshot := func() string {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.snapshotLocked(nil).Monitors[0].Presence
	}
	presence := func(p listener.Presence) func() {
		return func() {
			h.onEvent(e, listener.PresenceEvent{Change: listener.Change{Monitor: e.mon, Presence: p, At: time.Now(), Err: errors.New("gone")}})
		}
	}
	ended := func() {
		h.mu.Lock()
		e.ended = true // what sessionEnded records
		h.mu.Unlock()
	}
	for i, step := range []struct {
		op   func()
		want string
	}{
		{func() {}, "connecting"},
		{presence(listener.Online), "online"},
		{presence(listener.Offline), "offline"},
		{presence(listener.Online), "online"},
		{ended, "offline"}, // the session ended while it said online
	} {
		step.op()
		if got := snapshot(); got != step.want {
			t.Fatalf("step %d: presence %q, want %q", i, got, step.want)
		}
		h.mu.Lock()
		msg := presenceMsg(e)
		h.mu.Unlock()
		if msg.Presence != step.want {
			t.Fatalf("step %d: presence event says %q, snapshot %q", i, msg.Presence, step.want)
		}
	}
}
