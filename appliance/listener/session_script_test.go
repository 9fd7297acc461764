package listener

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/media/fanout"
)

// These tests drive a Session through a fake dialer in virtual time
// (testing/synctest): the reconnect policy as the session carries it out.

var errNet = errors.New("fake: network unreachable")

func fakeSession(t *testing.T, d *fakeDialer, discovery bool, opt SessionOptions) *Session {
	t.Helper()
	opt.dialer = d
	s := startSession(nil, PairedMonitor{Name: "Nursery", Address: "127.0.0.1:1"}, opt, Policy{Backoff: DefaultBackoff, Discovery: discovery})
	t.Cleanup(func() { s.Close() })
	return s
}

func gaps(ds []dialRecord) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ds); i++ {
		out = append(out, ds[i].at.Sub(ds[i-1].at))
	}
	return out
}

func within(d, want time.Duration) bool { return d >= want*3/4 && d <= want*5/4 }

func TestSessionRevokedIsFinal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		atDial  bool
		err     error
		wantErr error
	}{
		{"revoked while connected", false, &control.Error{Code: control.CodeRevoked, Remote: true}, control.ErrRevoked},
		{"revoked at dial", true, &control.Error{Code: control.CodeRevoked, Remote: true}, control.ErrRevoked},
		{"untrusted at dial", true, fmt.Errorf("dial: %w", control.ErrUntrusted), control.ErrUntrusted},
		{"identity changed", true, fmt.Errorf("tls: %w", control.ErrFingerprintMismatch), control.ErrFingerprintMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeConn()
				d := newFakeDialer(dialResult{conn: c}, dialResult{conn: newFakeConn()})
				if tc.atDial {
					d = newFakeDialer(dialResult{err: tc.err}, dialResult{conn: newFakeConn()})
				}
				s := fakeSession(t, d, true, SessionOptions{})
				synctest.Wait()
				if !tc.atDial {
					c.kill(tc.err)
				}
				select {
				case <-s.Done():
				case <-time.After(30 * time.Second):
					t.Fatal("the session kept retrying")
				}
				if !errors.Is(s.Err(), tc.wantErr) {
					t.Fatalf("session ended with %v, want %v", s.Err(), tc.wantErr)
				}
				if dials, _ := d.record(); len(dials) != 1 {
					t.Fatalf("%d dials, want 1: %v is final", len(dials), tc.err)
				}
			})
		})
	}
}

func TestSessionBackoffResetsAfterSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		fail := dialResult{err: errNet}
		d := newFakeDialer(fail, fail, fail, dialResult{conn: c}, fail)
		s := fakeSession(t, d, false, SessionOptions{})
		sub := s.Subscribe(SubscribeOptions{})
		waitPresence(t, sub, Online)
		time.Sleep(5 * time.Second)
		c.kill(errNet) // the heartbeat gave up on the link
		waitPresence(t, sub, Offline)
		time.Sleep(time.Second)
		dials, _ := d.record()
		g := gaps(dials)
		if len(g) < 6 {
			t.Fatalf("only %d dials", len(dials))
		}
		for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
			if !within(g[i], want) {
				t.Fatalf("wait before retry %d: %v, want %v ±25%%", i+1, g[i], want)
			}
		}
		// g[3] is the connection's life: the redial after the loss is
		// immediate, and the wait after that starts from the minimum again.
		if redial := dials[4].at.Sub(dials[3].at); redial != 5*time.Second {
			t.Fatalf("redial %v after connecting, want 5s: at once after the loss", redial)
		}
		if !within(g[4], 100*time.Millisecond) {
			t.Fatalf("first wait after a success %v, want the minimum 100ms: backoff did not reset", g[4])
		}
	})
}

func TestSessionRediscoversAfterRepeatedFailures(t *testing.T) {
	for _, discovery := range []bool{true, false} {
		t.Run(fmt.Sprint("discovery=", discovery), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFakeDialer(dialResult{err: errNet})
				d.newAddr = "127.0.0.9:4"
				fakeSession(t, d, discovery, SessionOptions{})
				time.Sleep(2 * time.Second)
				dials, found := d.record()
				if !discovery {
					if len(found) != 0 {
						t.Fatalf("rediscovered %d times with discovery off", len(found))
					}
					return
				}
				if len(found) == 0 {
					t.Fatal("never rediscovered after repeated failures")
				}
				if !found[0].Equal(dials[1].at) {
					t.Fatalf("first rediscovery at %v, want right after the second failed dial (%v)", found[0], dials[1].at)
				}
				if dials[1].addr != "127.0.0.1:1" || dials[2].addr != "127.0.0.9:4" {
					t.Fatalf("dials went to %q then %q, want the new address after rediscovery", dials[1].addr, dials[2].addr)
				}
			})
		})
	}
}

// TestSessionStatusWithoutStream: status reaches subscribers while
// nobody streams, and a new subscriber first gets the present state.
func TestSessionStatusWithoutStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := fakeSession(t, newFakeDialer(dialResult{conn: c}), false, SessionOptions{})
		sub := s.Subscribe(SubscribeOptions{})
		waitPresence(t, sub, Online)
		c.in <- control.Status{RMSDBFS: -30, Noise: true}
		ev := next(t, sub)
		st, ok := ev.(StatusEvent)
		if !ok || st.Status.RMSDBFS != -30 {
			t.Fatalf("got %#v, want the status", ev)
		}
		synctest.Wait()
		late := s.Subscribe(SubscribeOptions{})
		if p, ok := next(t, late).(PresenceEvent); !ok || p.Presence != Online {
			t.Fatalf("late subscriber: first event %#v, want presence online", p)
		}
		if st, ok := next(t, late).(StatusEvent); !ok || st.Status.RMSDBFS != -30 {
			t.Fatalf("late subscriber: second event %#v, want the latest status", st)
		}
		if a := s.Snapshot().Alarm; a.Active {
			t.Fatalf("alarm %+v while not listening", a)
		}
	})
}

// TestSubscriptionDropsMediaNotControl: a subscriber that does not read
// loses its oldest media, never presence or alarm changes.
func TestSubscriptionDropsMediaNotControl(t *testing.T) {
	s := &Session{fan: fanout.New(droppable)}
	opt := SubscribeOptions{Audio: true, Queue: 4}
	sub := &Subscription{s: s, opt: opt, fs: s.fan.SubscribeFunc(opt.Queue, opt.wants)}
	s.fan.Publish(PresenceEvent{Change{Presence: Online}})
	for i := range 10 {
		s.fan.Publish(MediaEvent{Arrived: time.Unix(int64(i), 0)})
	}
	s.fan.Publish(AlarmEvent{})
	if sub.Dropped() != 8 {
		t.Fatalf("dropped %d, want 8", sub.Dropped())
	}
	ctx := context.Background()
	var kinds []string
	for range 4 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprintf("%T", ev))
	}
	want := []string{"listener.PresenceEvent", "listener.MediaEvent", "listener.MediaEvent", "listener.AlarmEvent"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("kept %v, want %v", kinds, want)
	}
	s.fan.Close(nil) // the session ended
	if _, err := sub.Next(ctx); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Next after end: %v", err)
	}
}

func next(t *testing.T, sub *Subscription) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("no event: %v", err)
	}
	return ev
}

func waitPresence(t *testing.T, sub *Subscription, want Presence) Change {
	t.Helper()
	for {
		if p, ok := next(t, sub).(PresenceEvent); ok && p.Presence == want {
			return p.Change
		}
	}
}
