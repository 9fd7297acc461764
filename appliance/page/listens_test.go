package page

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"sync"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// modeLink is a fake session that records the last stream mode it was
// told, taking its time about it (as a session's SetStream may).
type modeLink struct {
	mu    sync.Mutex
	mode  listener.StreamMode
	ended chan struct{}
}

func (f *modeLink) Next(ctx context.Context) (listener.Event, error) {
	select {
	case <-f.ended:
		return nil, listener.ErrSessionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *modeLink) SetStream(m listener.StreamMode) {
	if m != listener.StreamOff { // starting a stream is the slow one
		for range 50 {
			runtime.Gosched()
		}
	}
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

func (f *modeLink) Snapshot() listener.Snapshot { return listener.Snapshot{} }
func (f *modeLink) Ended() bool {
	select {
	case <-f.ended:
		return true
	default:
		return false
	}
}

func (f *modeLink) Err() error { return nil }
func (f *modeLink) Close()     {}

func (f *modeLink) streamMode() listener.StreamMode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

// TestListenChangesReachTheSessionInOrder: listens taken and released
// from many goroutines at once leave the session in the mode the final
// counts ask for: a change told to the session late never overrides a
// newer one.
func TestListenChangesReachTheSessionInOrder(t *testing.T) {
	sp := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 64)
	f := &modeLink{ended: make(chan struct{})}
	sp.start = func(listener.PairedMonitor) (sessionLink, *listener.Session) { return f, nil }
	sp.add(listener.PairedMonitor{DeviceID: "AAAAAAA"})
	defer func() {
		close(f.ended)
		sp.close()
	}()
	for round := range 300 {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := sp.listen("AAAAAAA"); err != nil {
					t.Error(err)
					return
				}
				sp.unlisten("AAAAAAA")
			})
		}
		wg.Wait()
		if got := f.streamMode(); got != listener.StreamOff {
			t.Fatalf("round %d: every listen released, but the session was last told %v", round, got)
		}
	}
}

// TestListensOutliveAReplacedSession: a tab listening to a monitor whose
// session ended (and that is paired again) keeps its listen: the new
// session streams, and Stop brings the counts back to zero, not below.
func TestListensOutliveAReplacedSession(t *testing.T) {
	sp := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 4)
	var links []*modeLink
	sp.start = func(listener.PairedMonitor) (sessionLink, *listener.Session) {
		f := &modeLink{ended: make(chan struct{})}
		links = append(links, f) // add runs on this goroutine only
		return f, nil
	}
	m := listener.PairedMonitor{DeviceID: "AAAAAAA"}
	sp.add(m)
	c := testTab(t, sp)
	if _, err := sp.tabListen(c.id, m.DeviceID, false); err != nil {
		t.Fatal(err)
	}
	close(links[0].ended) // the session ends by itself
	for {                 // the tab hears of it once the pool has seen it
		var ev event
		if err := json.Unmarshal(nextMsg(t, c), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "presence" && ev.Presence == "offline" {
			break
		}
	}
	sp.add(m) // paired again
	if len(links) != 2 {
		t.Fatalf("%d sessions started, want a new one", len(links))
	}
	if got := links[1].streamMode(); got != listener.StreamAudio {
		t.Fatalf("the new session streams %v, want audio for the tab still listening", got)
	}
	if err := sp.tabStop(c.id, m.DeviceID); err != nil {
		t.Fatal(err)
	}
	if a, v := sp.counts(m.DeviceID); a != 0 || v != 0 {
		t.Fatalf("counts %d/%d after Stop, want 0/0", a, v)
	}
	if got := links[1].streamMode(); got != listener.StreamOff {
		t.Fatalf("the new session streams %v after Stop, want off", got)
	}
	sp.removeClient(c)
	close(links[1].ended)
	sp.close()
}
