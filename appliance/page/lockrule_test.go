package page

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// probeDeadline is how long a fake session waits for the pool to answer a
// call back into it; the pool answers at once unless it holds its lock.
const probeDeadline = 2 * time.Second

// probingLink is a fake session whose every method first calls back into
// the pool (a snapshot for a new tab, which takes the pool's lock) and
// fails the test when that does not return within probeDeadline: the pool
// called it with its lock held. (Were the callback synchronous, such a
// pool would deadlock; the deadline turns that into a failure.)
type probingLink struct {
	t      *testing.T
	h      *sessionPool
	events chan listener.Event
	ended  chan struct{}
	endErr error

	mu     sync.Mutex
	called map[string]int
	mode   listener.StreamMode
	probes sync.WaitGroup // callbacks still blocked behind the pool's lock
}

func newProbingLink(t *testing.T, h *sessionPool) *probingLink {
	return &probingLink{t: t, h: h, events: make(chan listener.Event, 16), ended: make(chan struct{}), called: map[string]int{}}
}

// probe calls back into the pool and waits for it, up to probeDeadline.
func (f *probingLink) probe(what string) {
	f.mu.Lock()
	f.called[what]++
	f.mu.Unlock()
	back := make(chan struct{})
	f.probes.Go(func() {
		defer close(back)
		f.h.pairing("AAAAAAA") // takes and lets go the pool's lock
		f.h.tabHold("t", "AAAAAAA")
	})
	select {
	case <-back:
	case <-time.After(probeDeadline):
		f.t.Errorf("the pool called %s while holding its lock (a call back into the pool did not return in %v)", what, probeDeadline)
	}
}

func (f *probingLink) Next(ctx context.Context) (listener.Event, error) {
	select {
	case ev := <-f.events:
		return ev, nil
	case <-f.ended:
		return nil, listener.ErrSessionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *probingLink) SetStream(m listener.StreamMode) {
	f.probe("SetStream")
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

func (f *probingLink) Snapshot() listener.Snapshot {
	f.probe("Snapshot")
	return listener.Snapshot{Change: listener.Change{RTT: 3 * time.Millisecond}}
}

func (f *probingLink) Ended() bool {
	f.probe("Ended")
	select {
	case <-f.ended:
		return true
	default:
		return false
	}
}

func (f *probingLink) Err() error { f.probe("Err"); return f.endErr }

func (f *probingLink) Close() {
	f.probe("Close")
	f.end(nil)
}

// end ends the fake session by itself, with err.
func (f *probingLink) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.ended:
	default:
		f.endErr = err
		close(f.ended)
	}
}

func (f *probingLink) streamMode() listener.StreamMode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

// TestPoolNeverCallsSessionsUnderItsLock drives every pool operation that
// reaches a session (start, snapshot, stream changes, a session's end, a
// replacement, remove, close) against sessions that call back into the
// pool, and fails if any such call finds the pool's lock held.
func TestPoolNeverCallsSessionsUnderItsLock(t *testing.T) {
	h := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 4)
	var (
		mu    sync.Mutex
		links []*probingLink
	)
	h.start = func(listener.PairedMonitor) (sessionLink, *listener.Session) {
		f := newProbingLink(t, h)
		f.probe("Start")
		mu.Lock()
		links = append(links, f)
		mu.Unlock()
		return f, nil
	}
	link := func(i int) *probingLink {
		mu.Lock()
		defer mu.Unlock()
		return links[i]
	}
	m := listener.PairedMonitor{DeviceID: "AAAAAAA", Name: "nursery"}
	h.add(m)
	c, err := h.addClient(false)
	if err != nil {
		t.Fatal(err)
	}
	next := func(typ string) event {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			m, err := c.sub.Next(ctx)
			if err != nil {
				t.Fatalf("no %s event: %v", typ, err)
			}
			var ev event
			if err := json.Unmarshal(m.data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type == typ {
				return ev
			}
		}
	}
	next("snapshot")

	if _, err := h.tabListen(c.id, m.DeviceID, true); err != nil {
		t.Fatal(err)
	}
	if got := link(0).streamMode(); got != listener.StreamAudioVideo {
		t.Fatalf("session streams %v after a tab's Video, want %v", got, listener.StreamAudioVideo)
	}
	if err := h.listen(m.DeviceID); err != nil {
		t.Fatal(err)
	}
	h.unlisten(m.DeviceID)
	if err := h.tabStop(c.id, m.DeviceID); err != nil {
		t.Fatal(err)
	}
	if got := link(0).streamMode(); got != listener.StreamOff {
		t.Fatalf("session streams %v after Stop, want off", got)
	}
	if _, err := h.tabListen(c.id, m.DeviceID, false); err != nil {
		t.Fatal(err)
	}

	link(0).events <- listener.PresenceEvent{Change: listener.Change{Monitor: m, Presence: listener.Online, At: time.Now()}}
	if ev := next("presence"); ev.Presence != "online" || ev.RTTMs != 3 {
		t.Fatalf("presence %+v, want online with the session's live RTT", ev)
	}

	// A second tab leaves while listening: its listen is released.
	c2, err := h.addClient(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.tabListen(c2.id, m.DeviceID, false); err != nil {
		t.Fatal(err)
	}
	h.removeClient(c2)

	// The session ends by itself; pairing again replaces it.
	link(0).end(errors.New("revoked"))
	if ev := next("presence"); ev.Presence != "offline" {
		t.Fatalf("presence %+v after the session ended, want offline", ev)
	}
	h.add(m)
	next("snapshot")
	h.remove(m.DeviceID)
	next("snapshot")
	h.add(m)
	h.close()
	h.removeClient(c) // as the tab's handler does when its stream ends

	mu.Lock()
	defer mu.Unlock()
	if len(links) != 3 {
		t.Fatalf("%d sessions started, want 3", len(links))
	}
	total := map[string]int{}
	for _, f := range links {
		f.probes.Wait()
		f.mu.Lock()
		for k, n := range f.called {
			total[k] += n
		}
		f.mu.Unlock()
	}
	for _, what := range []string{"Start", "SetStream", "Snapshot", "Ended", "Err", "Close"} {
		if total[what] == 0 {
			t.Errorf("the test never saw the pool call %s: it does not cover it", what)
		}
	}
	t.Logf("calls: %v", total)
}
