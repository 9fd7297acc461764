package monitor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

// fakeAdvertiser records the mDNS pairing flag.
type fakeAdvertiser struct {
	mu    sync.Mutex
	flags []bool
}

func (a *fakeAdvertiser) SetPairingOpen(open bool) error {
	runtime.Gosched() // a slow write, to let a reordering show
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flags = append(a.flags, open)
	return nil
}

func (a *fakeAdvertiser) Close() error { return nil }

func (a *fakeAdvertiser) last() (bool, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.flags) == 0 {
		return false, false
	}
	return a.flags[len(a.flags)-1], true
}

// orderLog is a fakeLog whose appends yield, so that two appends made
// on two goroutines would interleave.
type orderLog struct{ *fakeLog }

func (l orderLog) Append(ctx context.Context, ps ...store.Payload) (uint64, error) {
	runtime.Gosched()
	return l.fakeLog.Append(ctx, ps...)
}

// nextOf returns c's next message other than a status or a pairing
// notice, or an error after 10 s (for the test's own goroutines, which
// may not call t.Fatal).
func nextOf(c *fakeConn) (control.Message, error) {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.out:
			switch m.(type) {
			case control.Status, control.PairingState:
				continue
			}
			return m, nil
		case <-c.done:
			return nil, fmt.Errorf("conn %d closed: %v", c.id, c.Err())
		case <-deadline:
			return nil, fmt.Errorf("conn %d: no message within 10s", c.id)
		}
	}
}

// sendIn hands c's serve goroutine a message, unless c closed.
func sendIn(c *fakeConn, msg control.Message) bool {
	select {
	case c.in <- msg:
		return true
	case <-c.done:
		return false
	}
}

// pairWith runs the listener's side of pairing with code on c, up to
// the monitor's answer to pair_confirm.
func pairWith(m *Monitor, c *fakeConn, code string) (control.Message, error) {
	binding, _ := c.Exporter()
	sess, err := pake.NewInitiator(pake.Params{Code: code, ListenerID: c.peer, MonitorID: m.id.Fingerprint, Binding: binding}, nil)
	if err != nil {
		return nil, err
	}
	pA, _ := sess.Start()
	if !sendIn(c, control.PairStart{Name: "phone", PA: pA}) {
		return nil, errors.New("closed before pair_start")
	}
	msg, err := nextOf(c)
	if err != nil {
		return nil, err
	}
	reply, ok := msg.(control.PairReply)
	if !ok {
		return msg, nil // refused (busy, locked, closed)
	}
	cA, err := sess.Finish(reply.PB)
	if err != nil {
		return nil, err
	}
	if !sendIn(c, control.PairConfirm{CA: cA}) {
		return nil, errors.New("closed before pair_confirm")
	}
	return nextOf(c)
}

// TestAppliedInDecisionOrder: many connections step at once against the
// real shell (trusted listeners streaming and revoked, strangers pairing
// with right and wrong codes, the window opened and closed, the health
// changing): the event log holds the appends in the order the core
// decided them, and the LED and the mDNS flag end as the last step left
// them.
//
// Three rounds: a reordering needs two steps' effects to race, which one
// round of this size shows most of the time, three nearly always.
func TestAppliedInDecisionOrder(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), appliedInDecisionOrder)
	}
}

func appliedInDecisionOrder(t *testing.T) {
	dev := &fakeDevice{events: make(chan hw.ButtonEvent)}
	log := newFakeLog()
	adv := &fakeAdvertiser{}
	var decided []string // on the owner only, then read after settle
	m, acc := newShellWith(t, dev, log, func(m *Monitor) {
		m.events = orderLog{log}
		m.adv = adv
		m.core = NewCore(CoreConfig{Name: "Nursery", LED: true, Window: pairing.WindowConfig{MaxWindowFailures: 1000, MaxSourceFailures: 1000}})
		m.onStep = func(_ Event, eff []Effect) {
			for _, e := range eff {
				if a, ok := e.(Append); ok {
					decided = append(decided, fmt.Sprintf("%T%+v", a.Payload, a.Payload))
				}
			}
		}
	})
	var ids atomic.Uint64
	conn := func(fp identity.Fingerprint, trusted bool) *fakeConn {
		c := newFakeConn(ids.Add(1), fp, trusted)
		c.out = make(chan control.Message, 1024)
		acc <- c
		return c
	}
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	// Trusted listeners: connect, ask for a stream (its answer fails:
	// the pumps start and stop), then leave or are revoked.
	for w := range 8 {
		fp := pfp(byte(200 + w))
		run(func() error {
			for i := range rounds {
				c := conn(fp, true)
				if _, err := nextOf(c); err != nil { // hello_ack
					return err
				}
				sendIn(c, control.StreamStart{Session: "s", Kind: control.StreamAudio})
				sendIn(c, control.WebRTCOffer{Session: "s", SDP: "v=0"})
				if _, err := nextOf(c); err != nil { // the failed answer
					return err
				}
				if i%2 == 0 {
					_ = m.step(StoreAppended{At: m.now(), Payload: store.ListenerRevoked{Fingerprint: fp}})
				} else {
					sendIn(c, control.Bye{})
				}
				<-c.Done()
			}
			return nil
		})
	}
	// Strangers: pair with a wrong code, or the right one (which trusts
	// them and closes the window), or just knock.
	for w := range 8 {
		run(func() error {
			for i := range rounds {
				c := conn(pfp(byte(10+(w*rounds+i)%80)), false)
				msg, err := nextOf(c)
				if err != nil {
					return nil // evicted before its hello_ack was read: fine
				}
				if ack, ok := msg.(control.HelloAck); ok && ack.PairingOpen {
					code := "00000000"
					if (w+i)%5 == 0 {
						code = string(m.SetupCode())
					}
					_, _ = pairWith(m, c, code)
				}
				c.Close(control.CodeNone, "")
			}
			return nil
		})
	}
	// The window and the health, from the admin and the health checker.
	run(func() error {
		for i := range rounds * 2 {
			if i%3 == 2 {
				m.ClosePairing()
			} else {
				_, _ = m.OpenPairing(0)
			}
			_ = m.step(Health{StoreOK: i%4 != 1, Network: true})
		}
		return nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every connection has closed on the test's side; its close is a step
	// of its own, posted by its serve goroutine: wait until every one is
	// applied (the peer table is empty), then for the workers.
	waitFor(t, func() bool {
		n := -1
		_ = m.owner.run(func() { n = len(m.peers) })
		return n == 0
	})
	m.settle()
	var led hw.State
	var open bool
	var got, want []string
	_ = m.owner.run(func() {
		led, open = m.core.LEDState(), m.core.Window().Open
		want = append(want, decided...)
		log.mu.Lock()
		for _, p := range log.appended {
			got = append(got, fmt.Sprintf("%T%+v", p, p))
		}
		log.mu.Unlock()
	})
	if len(want) < 50 {
		t.Fatalf("only %d appends decided: the test did too little", len(want))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("append %d of %d: the log holds\n  %s\nwhere the core decided\n  %s", i, len(want), got[i], want[i])
			}
		}
		t.Fatalf("the log holds %d appends, the core decided %d", len(got), len(want))
	}
	dev.mu.Lock()
	shown := dev.states[len(dev.states)-1]
	dev.mu.Unlock()
	if shown != led {
		t.Fatalf("the LED shows %+v, the core's last step %+v", shown, led)
	}
	if flag, ok := adv.last(); !ok || flag != open {
		t.Fatalf("mDNS advertises pairing=%v, the window is open=%v", flag, open)
	}
	t.Logf("%d appends, %d LED states, window open=%v", len(want), len(dev.states), open)
}

// stuckConn is a peer that never reads: its outbox holds a few messages,
// and a blocking Send would wait for ever (as the transport's does while
// its queue is full and the context lives).
type stuckConn struct{ *fakeConn }

func (c stuckConn) Send(ctx context.Context, m control.Message) error {
	select {
	case c.out <- m:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSlowPeerClosed: a trusted peer that never reads fills its outbox
// with pairing notices and is closed (idle_timeout); the owner never
// waits on it: every step returns, and a peer that reads gets every
// notice.
func TestSlowPeerClosed(t *testing.T) {
	log := newFakeLog()
	m, acc := newShell(t, &fakeDevice{events: make(chan hw.ButtonEvent)}, log)
	slow := newFakeConn(1, pfp(1), true)
	slow.out = make(chan control.Message, 4) // the outbox
	reader := newFakeConn(2, pfp(2), true)
	for _, c := range []connection{stuckConn{slow}, reader} {
		select {
		case acc <- c:
		case <-time.After(5 * time.Second):
			t.Fatal("the monitor does not accept: its owner waits on a peer")
		}
	}
	if _, ok := reader.next(t).(control.HelloAck); !ok {
		t.Fatal("no hello_ack")
	}
	const toggles = 20
	stepped := make(chan struct{})
	go func() {
		defer close(stepped)
		for range toggles {
			_, _ = m.OpenPairing(0)
			m.ClosePairing()
		}
	}()
	select {
	case <-stepped:
	case <-time.After(10 * time.Second):
		t.Fatal("the steps did not return: the owner waited on the peer that does not read")
	}
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the peer that does not read is still open")
	}
	if got := fmt.Sprint(slow.recorded()); !strings.Contains(got, "close idle_timeout") {
		t.Fatalf("the peer that does not read: %s", got)
	}
	notices := 0
	deadline := time.After(5 * time.Second)
	for notices < 2*toggles {
		select {
		case msg := <-reader.out:
			if _, ok := msg.(control.PairingState); ok {
				notices++
			}
		case <-deadline:
			t.Fatalf("the reading peer got %d of %d pairing notices", notices, 2*toggles)
		}
	}
	log.waitFor(t, store.TypeConnectionClosed, 1)
}
