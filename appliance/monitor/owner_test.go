package monitor

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// TestParts: stop cancels every part and waits for it; an error while
// running is reported, one after cancel is not; a part started after stop
// does not run.
func TestParts(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	first := make(chan struct{}) // closed by the first report
	g := newParts(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if reported = append(reported, err); len(reported) == 1 {
			close(first)
		}
	})
	boom := errors.New("boom")
	g.Go(func(context.Context) error { return boom })
	<-first // the error is reported before stop cancels (waiting for the part's return alone raced with the report)
	var ended atomic.Int32
	for range 3 {
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			ended.Add(1)
			return ctx.Err()
		})
	}
	g.stop()
	if ended.Load() != 3 {
		t.Fatalf("stop returned with %d of 3 parts ended", ended.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0] != boom {
		t.Fatalf("reported %v, want only boom", reported)
	}
	ran := false
	g.Go(func(context.Context) error { ran = true; return nil })
	g.stop()
	if ran {
		t.Fatal("a part started after stop ran")
	}
}

// TestCoreOwner: posted functions run one at a time, in order; after stop
// a post fails with errStopped (twice is fine).
func TestCoreOwner(t *testing.T) {
	o := startCoreOwner()
	var in atomic.Int32
	var got []int
	done := make(chan struct{})
	for i := range 4 {
		go func() {
			_ = o.run(func() {
				if in.Add(1) != 1 {
					t.Error("two posted functions ran at once")
				}
				got = append(got, i)
				in.Add(-1)
			})
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	if len(got) != 4 {
		t.Fatalf("ran %v", got)
	}
	o.stop()
	o.stop()
	if err := o.run(func() { t.Error("ran after stop") }); !errors.Is(err, errStopped) {
		t.Fatalf("run after stop: %v", err)
	}
}

// TestCloseRecordsLiveConnections: Close stops the parts before the core's
// owner, so a connection open at Close is recorded as closed (going_away).
func TestCloseRecordsLiveConnections(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0", limits: pairing.WindowConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		trustedConn(t, m)
	}
	m.Close()
	st, err := store.Open(filepath.Join(dir, "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var reasons []string
	st.Events(0, func(e store.Event) error {
		if c, ok := e.Payload.(store.ConnectionClosed); ok {
			reasons = append(reasons, c.Reason)
		}
		return nil
	})
	if len(reasons) != 3 || reasons[0] != "going_away" || reasons[2] != "going_away" {
		t.Fatalf("connection-closed reasons %q, want going_away three times", reasons)
	}
}
