package monitor

import (
	"context"
	"errors"
	"fmt"
	"github.com/cradle-monitor/cradle/store/history"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// TestHostileStrangersWriteNothing attacks a whole monitor, its pairing
// window open, from several loopback addresses while a trusted listener
// stays connected: every message type before trust, malformed and
// abandoned pairing, idle connections, and a few hundred connections
// opened and dropped. Each gets its error or close; the event log gains
// nothing (no write per attempt reaches the SD card), goroutines return
// to where they were, and the trusted listener's statuses keep coming
// every 200 ms.
func TestHostileStrangersWriteNothing(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	trusted := trustedConn(t, m)
	if _, err := m.OpenPairing(pairing.DefaultWindowMax); err != nil {
		t.Fatal(err)
	}
	// The trusted listener's statuses, timed, for the whole attack.
	var gapMu sync.Mutex
	var worst time.Duration
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		last := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			msg, err := trusted.Recv(ctx)
			cancel()
			select {
			case <-stop:
				return
			default:
			}
			if err != nil {
				gapMu.Lock()
				worst = max(worst, time.Since(last), time.Second)
				gapMu.Unlock()
				if errors.Is(err, transport.ErrClosed) {
					return
				}
				continue
			}
			if _, ok := msg.(control.Status); ok {
				gapMu.Lock()
				worst = max(worst, time.Since(last))
				gapMu.Unlock()
				last = time.Now()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	seq := m.Store().State().Seq
	baseline := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	// Every message type before trust, each on a fresh connection.
	wg.Go(func() {
		c := newClientFrom(t, "127.0.0.2")
		for _, m2 := range []control.Message{
			control.StreamStart{Session: "s", Kind: "audio"}, control.WebRTCOffer{Session: "s", SDP: "v=0"},
			control.WebRTCICE{Session: "s"}, control.StreamStop{Session: "s"}, control.InfoRequest{},
			control.PairOpen{}, control.PairClose{}, control.Status{}, control.Info{}, control.PairReply{},
			control.PairDone{}, control.PairingState{}, control.Hello{Protocol: 1},
			control.HistoryRequest{ToMillis: 1 << 40}, control.History{},
		} {
			conn, _ := c.dial(m)
			if conn == nil {
				t.Errorf("%s: the stranger was not served", m2.MessageType())
				continue
			}
			_ = conn.Send(ctx, m2)
			select {
			case <-conn.Done():
			case <-time.After(5 * time.Second):
				t.Errorf("%s before trust: still open after 5 s", m2.MessageType())
			}
			var ce *control.Error
			if !errors.As(conn.Err(), &ce) || (ce.Code != control.CodeUntrusted && ce.Code != control.CodeProtocol) {
				t.Errorf("%s before trust: closed with %v", m2.MessageType(), conn.Err())
			}
		}
	})
	// Malformed shares, then a session begun and abandoned, repeatedly.
	wg.Go(func() {
		c := newClientFrom(t, "127.0.0.3")
		for range 10 {
			conn, _ := c.dial(m)
			if conn == nil {
				continue
			}
			for range 20 {
				send(t, conn, control.PairStart{Name: "x", PA: []byte{4, 0}})
				if e, ok := recv(t, conn).(control.ErrorMsg); !ok || e.Code != "bad_request" {
					t.Errorf("a malformed share answered %+v", e)
				}
			}
			send(t, conn, control.PairStart{Name: "x", PA: validShare(t)})
			recv(t, conn)
			conn.Close(control.CodeNone, "")
		}
	})
	// Connections opened and dropped at once, from four addresses.
	for n := range 4 {
		wg.Go(func() {
			c := newClientFrom(t, fmt.Sprintf("127.0.0.%d", 10+n))
			for range 75 {
				if conn, _ := c.dial(m); conn != nil {
					conn.Close(control.CodeNone, "")
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the attack took over a minute")
	}
	if got := m.Store().State().Seq; got != seq {
		t.Errorf("the strangers wrote %d events to the log", got-seq)
	}
	// Only the trusted listener's connection is in the history.
	conns := 0
	for _, r := range m.hist.live() {
		if r.Kind == history.KindConn {
			conns++
			if r.Name != "tester" || conns > 1 {
				t.Errorf("a stranger's connection is in the history: %+v", r)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the attack, %d before:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
	close(stop)
	<-watched
	gapMu.Lock()
	defer gapMu.Unlock()
	if worst > 700*time.Millisecond {
		t.Errorf("the trusted listener waited %v for a status during the attack", worst)
	}
	select {
	case <-trusted.Done():
		t.Fatalf("the trusted listener was closed: %v", trusted.Err())
	default:
	}
	t.Logf("strangers %+v, the trusted listener's longest wait for a status %v", m.Status().Pairing.Strangers, worst)
}
