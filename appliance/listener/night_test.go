package listener

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// A compressed night: a presence-only session (StreamOff: WebRTC needs
// real sockets, which virtual time cannot carry) over a simulated link
// whose connections run the real heartbeat, through twelve virtual hours
// of churn: Wi-Fi drops too short to matter, drops long enough to go
// offline, and monitor restarts.

// nightRTT is the simulated link's round trip.
const nightRTT = 20 * time.Millisecond

// nightLink is the simulated network: up or down; a dial made while it
// is down waits for it (as QUIC retransmits its Initial), until the dial
// times out.
type nightLink struct {
	mu      sync.Mutex
	up      bool
	upWake  chan struct{} // closed when the link comes up
	refuse  bool          // the monitor is restarting: dials fail at once
	live    atomic.Int64  // connections whose heartbeat still runs
	current *nightConn    // the latest connection
}

func newNightLink() *nightLink {
	l := &nightLink{up: true, upWake: make(chan struct{})}
	close(l.upWake)
	return l
}

func (l *nightLink) isUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

func (l *nightLink) set(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if up == l.up {
		return
	}
	l.up = up
	if up {
		close(l.upWake)
	} else {
		l.upWake = make(chan struct{})
	}
}

func (l *nightLink) setRefuse(r bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refuse = r
}

var errRefused = errors.New("night: connection refused")

func (l *nightLink) Dial(ctx context.Context, m PairedMonitor) (Conn, control.HelloAck, error) {
	l.mu.Lock()
	wake, refuse := l.upWake, l.refuse
	l.mu.Unlock()
	if refuse {
		return nil, control.HelloAck{}, errRefused
	}
	select {
	case <-wake:
	case <-ctx.Done():
		return nil, control.HelloAck{}, ctx.Err()
	}
	select {
	case <-time.After(nightRTT):
	case <-ctx.Done():
		return nil, control.HelloAck{}, ctx.Err()
	}
	c := &nightConn{link: l, in: make(chan control.Message, 4), done: make(chan struct{}), h: presence.New(presence.Config{}, time.Now())}
	l.mu.Lock()
	l.current = c
	l.mu.Unlock()
	l.live.Add(1)
	go c.run() // owned by the connection: ends when it closes
	return c, control.HelloAck{Trusted: true, Name: m.Name}, nil
}

func (l *nightLink) Rediscover(ctx context.Context, m PairedMonitor) (string, error) {
	return "", errors.New("night: discovery is off")
}

// nightConn is a control connection over the simulated link, with the
// real heartbeat: it pings every second and hears the monitor's pongs
// (after nightRTT), the monitor's own pings (half a second out of step)
// and a status every 10 s, all only while the link is up; the heartbeat
// closes it with presence.ErrIdleTimeout, as transport.Conn would.
type nightConn struct {
	link *nightLink
	in   chan control.Message
	done chan struct{}

	mu  sync.Mutex
	h   *presence.Heartbeat
	err error
}

func (c *nightConn) run() {
	defer c.link.live.Add(-1)
	type pending struct {
		at   time.Time
		pong presence.Pong
	}
	var pongs []pending
	now := time.Now()
	peerPing, status := now.Add(500*time.Millisecond), now.Add(10*time.Second)
	var peerSeq uint64
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		c.mu.Lock()
		next := earliest(c.h.NextTick(), peerPing, status)
		c.mu.Unlock()
		if len(pongs) > 0 {
			next = earliest(next, pongs[0].at)
		}
		t.Reset(time.Until(next))
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		now := time.Now()
		up := c.link.isUp()
		c.mu.Lock()
		for len(pongs) > 0 && !pongs[0].at.After(now) {
			if up {
				c.h.OnPong(pongs[0].pong, now)
			}
			pongs = pongs[1:]
		}
		if !peerPing.After(now) {
			if up {
				peerSeq++
				c.h.OnPing(presence.Ping{Seq: peerSeq, SentUnixNano: now.UnixNano()}, now)
			}
			peerPing = peerPing.Add(time.Second)
		}
		sendStatus := false
		if !status.After(now) {
			if up {
				c.h.OnFrame(now)
				sendStatus = true
			}
			status = status.Add(10 * time.Second)
		}
		ping, dead := c.h.Tick(now)
		c.mu.Unlock()
		if dead {
			c.kill(presence.ErrIdleTimeout)
			return
		}
		if ping != nil && up {
			pongs = append(pongs, pending{at: now.Add(nightRTT), pong: presence.Answer(*ping)})
		}
		if sendStatus {
			select {
			case c.in <- control.Status{RMSDBFS: -50}:
			default: // the session reads slower than 4 statuses: drop, as a full stream would stall
			}
		}
	}
}

func (c *nightConn) Send(ctx context.Context, m control.Message) error { return c.Err() }

func (c *nightConn) Recv(ctx context.Context) (control.Message, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *nightConn) Done() <-chan struct{} { return c.done }

func (c *nightConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *nightConn) Stats() presence.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h.Stats()
}

func (c *nightConn) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 48080}
}

func (c *nightConn) Close(code control.Code, reason string) error {
	c.kill(&control.Error{Code: code, Message: reason})
	return nil
}

func (c *nightConn) kill(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// TestSessionNight: twelve virtual hours of churn. After every event the
// session's presence is right and reported within its bound (offline
// within DeadAfter of a drop, never for a drop the heartbeat tolerates;
// online within the longest backoff plus a round trip once the monitor
// answers), and at every hour it holds one connection, one heartbeat,
// one subscription, the same number of goroutines, and a heap that does
// not grow. With -short it is one virtual hour.
func TestSessionNight(t *testing.T) {
	night := 12 * time.Hour
	if testing.Short() {
		night = time.Hour
	}
	synctest.Test(t, func(t *testing.T) {
		link := newNightLink()
		s := startSession(nil, PairedMonitor{Name: "Nursery", Address: "192.0.2.1:48080"}, SessionOptions{dialer: link}, Policy{Backoff: DefaultBackoff})
		defer s.Close()
		// The long-lived subscriber records every presence change.
		type change struct {
			p  Presence
			at time.Time
		}
		var mu sync.Mutex
		var changes []change
		statuses := 0
		sub := s.Subscribe(SubscribeOptions{})
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for {
				ev, err := sub.Next(context.Background())
				if err != nil {
					return
				}
				mu.Lock()
				switch ev := ev.(type) {
				case PresenceEvent:
					changes = append(changes, change{ev.Presence, ev.At})
				case StatusEvent:
					statuses++
				}
				mu.Unlock()
			}
		}()
		seen := 0
		// since returns the presence changes since the last call.
		since := func() []change {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			out := append([]change(nil), changes[seen:]...)
			seen = len(changes)
			return out
		}
		time.Sleep(time.Second)
		if c := since(); len(c) != 1 || c[0].p != Online {
			t.Fatalf("start: presence changes %v, want online", c)
		}

		deadAfter := presence.Config{}.DeadAfter()
		reconnect := DefaultBackoff.Max + nightRTT
		rng := rand.New(rand.NewPCG(14, 12)) // the same night every run
		rdur := func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }
		start := time.Now()
		var (
			goroutines    []int
			heap          []uint64
			drops, shorts int
			restarts      int
			worstOffline  time.Duration
			worstOnline   time.Duration
		)
		checkpoint := func() {
			synctest.Wait()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			goroutines = append(goroutines, runtime.NumGoroutine())
			heap = append(heap, ms.HeapInuse)
			if n := link.live.Load(); n != 1 {
				t.Errorf("at %v: %d connections with a running heartbeat, want 1", time.Since(start), n)
			}
			if subs := s.fan.Len(); subs != 1 {
				t.Errorf("at %v: %d subscriptions, want 1", time.Since(start), subs)
			}
		}
		// online waits for the session to come back after the monitor
		// answers again at back.
		online := func(what string, back time.Time) {
			time.Sleep(reconnect + time.Second)
			c := since()
			if len(c) != 1 || c[0].p != Online {
				t.Fatalf("at %v, %s: presence changes %v after it answered again, want online", time.Since(start), what, c)
			}
			d := c[0].at.Sub(back)
			worstOnline = max(worstOnline, d)
			if d < 0 || d > reconnect {
				t.Errorf("at %v, %s: online %v after the monitor answered again, want within %v", time.Since(start), what, d, reconnect)
			}
		}
		checkpoint()
		nextHour := start.Add(time.Hour)
		for time.Since(start) < night {
			time.Sleep(30*time.Second + rdur(10*time.Minute))
			if p := s.Snapshot().Presence; p != Online {
				t.Fatalf("at %v: presence %v after a quiet spell, want online", time.Since(start), p)
			}
			switch k := rng.IntN(3); k {
			case 0: // a Wi-Fi drop the heartbeat tolerates
				shorts++
				link.set(false)
				time.Sleep(200*time.Millisecond + rdur(1800*time.Millisecond))
				link.set(true)
				time.Sleep(5 * time.Second)
				if c := since(); len(c) != 0 {
					t.Fatalf("at %v: a short drop made presence changes %v, want none", time.Since(start), c)
				}
			case 1: // a drop long enough to go offline
				drops++
				cut := time.Now()
				link.set(false)
				time.Sleep(deadAfter + time.Second + rdur(5*time.Minute))
				c := since()
				if len(c) != 1 || c[0].p != Offline {
					t.Fatalf("at %v: a long drop made presence changes %v, want offline", time.Since(start), c)
				}
				d := c[0].at.Sub(cut)
				worstOffline = max(worstOffline, d)
				// Dead DeadAfter after the newest answered ping was
				// sent: at best a ping sent an interval and a round trip
				// before the drop (its successor's pong was cut off).
				if early := deadAfter - presence.DefaultInterval - nightRTT; d > deadAfter || d < early {
					t.Errorf("at %v: offline %v after the drop, want within %v and no sooner than %v", time.Since(start), d, deadAfter, early)
				}
				back := time.Now()
				link.set(true)
				online("after a long drop", back)
			case 2: // the monitor restarts: it closes, refuses a while, answers
				restarts++
				link.mu.Lock()
				cur := link.current
				link.mu.Unlock()
				link.setRefuse(true)
				closed := time.Now()
				cur.kill(&control.Error{Code: control.CodeGoingAway, Remote: true})
				time.Sleep(5*time.Second + rdur(25*time.Second))
				c := since()
				if len(c) != 1 || c[0].p != Offline || !c[0].at.Equal(closed) {
					t.Fatalf("at %v: the monitor's close made presence changes %v, want offline at once (%v)", time.Since(start), c, closed)
				}
				back := time.Now()
				link.setRefuse(false)
				online("after a monitor restart", back)
			}
			// A front end that comes and goes sees the present first.
			tmp := s.Subscribe(SubscribeOptions{})
			if p, ok := next(t, tmp).(PresenceEvent); !ok || p.Presence != Online {
				t.Fatalf("at %v: a new subscriber's first event %#v, want presence online", time.Since(start), p)
			}
			tmp.Close()
			if time.Now().After(nextHour) {
				checkpoint()
				nextHour = nextHour.Add(time.Hour)
			}
		}
		checkpoint()
		mu.Lock()
		st := statuses
		mu.Unlock()
		t.Logf("%v virtual: %d short drops (no offline), %d long drops (worst offline after %v), %d monitor restarts (worst online again after %v), %d connections, %d statuses",
			time.Since(start).Round(time.Second), shorts, drops, worstOffline, restarts, worstOnline, s.Stats().Connections, st)
		t.Logf("goroutines at each hour: %v; heap in use: first %d KB, last %d KB, most %d KB", goroutines, heap[0]/1024, heap[len(heap)-1]/1024, maxOf(heap)/1024)
		if g := maxOf(goroutines) - goroutines[0]; g > 0 {
			t.Errorf("goroutines grew by %d over the night: %v", g, goroutines)
		}
		// A leak of a timer or a subscription per event (a few hundred
		// events) would show as tens of KB; 256 KB allows for the GC.
		if grow := int64(heap[len(heap)-1]) - int64(heap[1]); grow > 256<<10 {
			t.Errorf("heap in use grew %d KB between the first and the last hour", grow/1024)
		}
		if drops == 0 || shorts == 0 || restarts == 0 {
			t.Errorf("the night lacked some churn: %d long drops, %d short, %d restarts", drops, shorts, restarts)
		}
		s.Close()
		<-readerDone
	})
}

func earliest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.Before(t) {
			t = u
		}
	}
	return t
}

func maxOf[T int | uint64](xs []T) T {
	var m T
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
