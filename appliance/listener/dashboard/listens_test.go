package dashboard

import (
	"context"
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
func (f *modeLink) Ended() bool                 { return false }
func (f *modeLink) Err() error                  { return nil }
func (f *modeLink) Close()                      {}

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
	sp.start = func(listener.Monitor) (sessionLink, *listener.Session) { return f, nil }
	sp.add(listener.Monitor{DeviceID: "AAAAAAA"})
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
