package page

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
)

// testTab registers a tab on h and reads its hello and snapshot.
func testTab(t *testing.T, h *sessionPool) *client {
	t.Helper()
	c, err := h.addClient(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.sub.Close)
	for _, want := range []string{"hello", "snapshot"} {
		var ev event
		if err := json.Unmarshal(nextMsg(t, c), &ev); err != nil || ev.Type != want {
			t.Fatalf("tab's first events: %+v (%v), want %s", ev, err, want)
		}
	}
	return c
}

// nextMsg returns the tab's next queued event, which must be there.
func nextMsg(t *testing.T, c *client) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.sub.Next(ctx)
	if err != nil {
		t.Fatalf("no event for the tab: %v", err)
	}
	return m.data
}

// TestSlowTabKeepsChanges: a tab that does not read while statuses pour
// in loses its oldest statuses, never a presence or alarm change, and
// keeps the newest status.
func TestSlowTabKeepsChanges(t *testing.T) {
	h := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 1)
	e := &monEntry{mon: listener.PairedMonitor{DeviceID: "AAAAAAA"}}
	h.mons["AAAAAAA"] = e
	h.order = []string{"AAAAAAA"}
	c := testTab(t, h)
	t0 := time.Unix(1000, 0)
	n := 3 * clientQueue
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second) // far enough apart that none is throttled
		switch i {
		case 10:
			h.onEvent(e, listener.PresenceEvent{Change: listener.Change{Monitor: e.mon, Presence: listener.Online, At: at}})
		case 100:
			h.onEvent(e, listener.AlarmEvent{Monitor: e.mon, State: alarm.State{Active: true, Reason: alarm.AudioLost, Since: at, Sounding: true}})
		}
		h.onEvent(e, listener.StatusEvent{Monitor: e.mon, At: at, Status: control.Status{RMSDBFS: float64(-i)}})
	}
	if got := c.sub.Len(); got != clientQueue {
		t.Fatalf("%d events queued, want the queue's %d", got, clientQueue)
	}
	if c.sub.Dropped() == 0 {
		t.Fatal("nothing dropped")
	}
	var presence, alarmed bool
	var last *statusView
	for c.sub.Len() > 0 {
		var ev event
		if err := json.Unmarshal(nextMsg(t, c), &ev); err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case "presence":
			presence = ev.Presence == "online"
		case "alarm":
			alarmed = ev.Alarm != nil && ev.Alarm.Active
		case "status":
			last = ev.Status
		}
	}
	if !presence || !alarmed {
		t.Fatalf("after the overflow: presence change kept %v, alarm change kept %v; want both", presence, alarmed)
	}
	if last == nil || last.RMSDBFS != float64(-(n-1)) {
		t.Fatalf("last status %+v, want the newest (%d dBFS)", last, -(n - 1))
	}
}
