package listener

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup runs a monitor and a listener paired with it through a relay.
func setup(t testing.TB) (*monitor.Monitor, *Listener, Monitor, *relay) {
	t.Helper()
	dir := t.TempDir()
	mon, err := monitor.Open(monitor.Config{StateDir: filepath.Join(dir, "m"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	r := newRelay(t, mon.Addr())
	l, err := Open(Config{StateDir: filepath.Join(dir, "l"), Name: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := l.Pair(ctx, PairRequest{Target: r.addr(), Code: mon.SetupCode()})
	if err != nil {
		t.Fatal(err)
	}
	return mon, l, m, r
}

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	rng := rand.New(rand.NewPCG(1, 2))
	prevMax := time.Duration(0)
	for n := range 12 {
		d := b.Delay(n, rng)
		if d <= 0 || d > b.Max {
			t.Fatalf("attempt %d: delay %v outside (0, %v]", n, d, b.Max)
		}
		prevMax = max(prevMax, d)
	}
	if prevMax < b.Max*3/4 {
		t.Fatalf("backoff never grows near its cap: max %v", prevMax)
	}
	if d := b.Delay(0, rng); d > b.Min*5/4 {
		t.Fatalf("first delay %v, want about %v", d, b.Min)
	}
}

// TestSessionOfflineAndBack: a cut network is reported offline within
// 3.5 s, and the session reconnects by itself when it returns.
func TestSessionOfflineAndBack(t *testing.T) {
	_, l, m, r := setup(t)
	changes := make(chan Change, 16)
	s := l.NewSession(m, SessionOptions{OnChange: func(c Change) { changes <- c }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	next := func(want Presence, within time.Duration) Change {
		t.Helper()
		select {
		case c := <-changes:
			if c.Presence != want {
				t.Fatalf("got %s (%v), want %s", c.Presence, c.Err, want)
			}
			return c
		case <-time.After(within):
			t.Fatalf("no %s within %v", want, within)
		}
		return Change{}
	}
	next(Online, 5*time.Second)
	cut := time.Now()
	r.blocked.Store(true)
	next(Offline, 5*time.Second)
	if d := time.Since(cut); d > 3500*time.Millisecond {
		t.Errorf("offline after %v, want within 3.5s", d)
	}
	back := time.Now()
	r.blocked.Store(false)
	c := next(Online, 5*time.Second)
	t.Logf("offline after %v, online again %v after the network returned (rtt %v)", back.Sub(cut), time.Since(back), c.RTT)
	if s.Conn() == nil {
		t.Error("no live connection after reconnecting")
	}
}

// TestStreamResumesAfterReconnect: a kept-up session restarts its stream
// after the network comes back.
func TestStreamResumesAfterReconnect(t *testing.T) {
	_, l, m, r := setup(t)
	streamer := NewStreamer(StreamOptions{})
	online, offline := make(chan struct{}, 4), make(chan struct{}, 4)
	s := l.NewSession(m, SessionOptions{
		OnChange: func(c Change) {
			if c.Presence == Online {
				online <- struct{}{}
			} else {
				offline <- struct{}{}
			}
		},
		OnConnected: func(ctx context.Context, c *transport.Conn, ack control.HelloAck) {
			if err := streamer.Run(ctx, c, ack); err != nil {
				t.Errorf("stream: %v", err)
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done; streamer.Close() }()
	waitPackets := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for streamer.Stats().AudioPackets <= n {
			if time.Now().After(deadline) {
				t.Fatalf("stream stuck at %d packets", streamer.Stats().AudioPackets)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	<-online
	waitPackets(20)
	r.blocked.Store(true)
	select { // the heartbeat drops the connection
	case <-offline:
	case <-time.After(10 * time.Second):
		t.Fatal("never offline")
	}
	before := streamer.Stats()
	r.blocked.Store(false)
	select {
	case <-online:
	case <-time.After(10 * time.Second):
		t.Fatal("never back online")
	}
	waitPackets(before.AudioPackets + 20)
	if st := streamer.Stats(); st.Sessions < 2 {
		t.Fatalf("stream not restarted after the reconnection: %+v", st)
	}
}
