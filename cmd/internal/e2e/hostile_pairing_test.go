package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// stranger is an attacker on the Wi-Fi, speaking the protocol from its
// own loopback address (127.0.0.N: a device of its own, as the monitor
// counts them).
type stranger struct {
	dir  string // for its identity
	addr string
	from *net.UDPAddr
	id   *identity.Identity
}

func (s *stranger) dial(ctx context.Context) (*transport.Conn, identity.Fingerprint, error) {
	if s.id == nil {
		id, _, err := identity.LoadOrCreate(filepath.Join(s.dir, "id"), control.RoleListener, "stranger")
		if err != nil {
			return nil, identity.Fingerprint{}, err
		}
		s.id = id
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, _, err := transport.Dial(dctx, s.addr, s.id, identity.Fingerprint{}, control.Hello{Name: "stranger"}, transport.Config{LocalAddr: s.from})
	return c, s.id.Fingerprint, err
}

// share starts SPAKE2 on c with code and returns the session and pA.
func share(c *transport.Conn, id identity.Fingerprint, code string) (*pake.Initiator, []byte, error) {
	binding, err := c.Exporter()
	if err != nil {
		return nil, nil, err
	}
	l, err := pake.NewInitiator(pake.Params{Code: code, ListenerID: id, MonitorID: c.Peer(), Binding: binding}, nil)
	if err != nil {
		return nil, nil, err
	}
	pA, err := l.Start()
	return l, pA, err
}

// TestParentPairsUnderAttack runs the real monitor while strangers on
// the network attack pairing all at once, each from its own address:
// pairing messages that are not points (once enough to close a window
// in 80 ms), a session begun and held, connections that sit idle to fill
// the unpaired slots, and wrong codes. Meanwhile the paired parent opens
// pairing from its listener (no button), hears of the wrong codes, and a
// new phone pairs. Nothing of the strangers is written to the event log
// but the wrong codes (bounded per window).
func TestParentPairsUnderAttack(t *testing.T) {
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0")
	code := mon.code(t)
	parent := []string{"--state-dir", filepath.Join(dir, "parent"), "--name", "parent laptop"}
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", append(parent, "pair", mon.addr, "--code", code)...)
	listen := start(t, nil, "cradle", append(parent, "listen", "Nursery", "--output", "none")...)
	listen.waitLine(0, regexp.MustCompile(`Nursery online`), 10*time.Second)

	// The parent opens pairing for a new phone from the listener (and
	// may close it again).
	if _, errs, rc := run(t, nil, "cradle", append(parent, "pairing", "open", "Nursery", "--for", "20m")...); rc == 0 || !strings.Contains(errs, "at most 15m") {
		t.Fatalf("cradle pairing open --for 20m: exit %d %s", rc, errs)
	}
	mustRun(t, nil, "cradle", append(parent, "pairing", "open", "Nursery")...)
	if out := mustRun(t, nil, "cradle", append(parent, "pairing", "close", "Nursery")...); !strings.Contains(out, "Nursery: pairing closed") {
		t.Fatalf("cradle pairing close: %s", out)
	}
	out := mustRun(t, nil, "cradle", append(parent, "pairing", "open", "Nursery", "--for", "5m")...)
	if !strings.Contains(out, "pairing open for 5m0s") {
		t.Fatalf("cradle pairing open: %s", out)
	}
	events0 := len(strings.Split(strings.TrimSpace(mon.admin(t, "events")), "\n"))

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var garbage, held, idle, wrong, locked atomic.Int64
	// Closed when each attack has taken hold: 100 garbage shares refused,
	// a session held, all eight idle connections in, the guesser's turn
	// over.
	refusing, holding, filled, lockedOut := newSignal(), newSignal(), newSignal(), newSignal()
	at := func(n int) *stranger {
		return &stranger{dir: t.TempDir(), addr: mon.addr, from: &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(n))}}
	}
	// 1. Shares that are not points, as fast as it can: each one is
	// refused (bad_request) before any key derivation, and counts for
	// nothing.
	wg.Go(func() {
		s := at(3)
		for ctx.Err() == nil {
			c, _, err := s.dial(ctx)
			if err != nil {
				continue
			}
			for i := 0; i < 50 && ctx.Err() == nil; i++ {
				if c.Send(ctx, control.PairStart{Name: "x", PA: make([]byte, 65)}) != nil {
					break
				}
				if m, err := c.Recv(ctx); err != nil {
					break
				} else if e, ok := m.(control.ErrorMsg); ok && e.Code == control.CodeBadRequest.String() {
					if garbage.Add(1) >= 100 {
						refusing.fire()
					}
				}
			}
			c.Close(control.CodeNone, "")
		}
	})
	// 2. A session begun and never finished, taken again at once.
	wg.Go(func() {
		s := at(4)
		for ctx.Err() == nil {
			c, me, err := s.dial(ctx)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if _, pA, err := share(c, me, "00000000"); err == nil && c.Send(ctx, control.PairStart{Name: "x", PA: pA}) == nil {
				if m, err := c.Recv(ctx); err == nil {
					if _, ok := m.(control.PairReply); ok {
						held.Add(1)
						holding.fire()
					}
				}
				select { // hold it until the monitor ends it
				case <-c.Done():
				case <-ctx.Done():
				}
			}
			c.Close(control.CodeNone, "")
		}
	})
	// 3. Idle connections from eight addresses, redialled when closed.
	for n := 10; n < 18; n++ {
		wg.Go(func() {
			s := at(n)
			for ctx.Err() == nil {
				c, _, err := s.dial(ctx)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if idle.Add(1) >= 8 {
					filled.fire()
				}
				select {
				case <-c.Done():
				case <-ctx.Done():
				}
				c.Close(control.CodeNone, "")
			}
		})
	}
	// 4. Wrong codes from one address, until its turn is over.
	wg.Go(func() {
		s := at(5)
		for ctx.Err() == nil && locked.Load() == 0 {
			c, me, err := s.dial(ctx)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			l, pA, err := share(c, me, "00000000")
			if err == nil && c.Send(ctx, control.PairStart{Name: "x", PA: pA}) == nil {
				m, err := c.Recv(ctx)
				switch m := m.(type) {
				case control.PairReply:
					if cA, err := l.Finish(m.PB); err == nil && c.Send(ctx, control.PairConfirm{CA: cA}) == nil {
						if m, err := c.Recv(ctx); err == nil {
							if e, ok := m.(control.ErrorMsg); ok && e.Code == control.CodePairingFailed.String() {
								wrong.Add(1)
							}
						}
					}
				case control.ErrorMsg:
					if m.Code == control.CodePairingLocked.String() {
						locked.Add(1)
						lockedOut.fire()
					}
				}
				_ = err
			}
			c.Close(control.CodeNone, "")
		}
	})

	// While all that runs: wait for the wrong codes to be done, then the
	// new phone pairs.
	for _, sig := range []*oneShot{refusing, lockedOut, holding, filled} {
		select {
		case <-sig.c:
		case <-ctx.Done():
		}
	}
	phone := []string{"--state-dir", filepath.Join(dir, "phone"), "--name", "new phone"}
	start := time.Now()
	pairOut, pairErr, rc := run(t, nil, "cradle", append(phone, "pair", mon.addr, "--code", code)...)
	took := time.Since(start)
	cancel()
	wg.Wait()
	t.Logf("under attack: %d garbage shares refused, %d sessions held, %d idle connections, %d wrong codes then locked out (%d)",
		garbage.Load(), held.Load(), idle.Load(), wrong.Load(), locked.Load())
	if rc != 0 || !strings.Contains(pairOut, `Paired with "Nursery"`) {
		t.Fatalf("the new phone could not pair under attack (exit %d): %s %s", rc, pairOut, pairErr)
	}
	t.Logf("the new phone paired in %v", took.Round(time.Millisecond))
	if garbage.Load() < 100 || held.Load() < 1 || idle.Load() < 8 || wrong.Load() != 3 || locked.Load() != 1 {
		t.Errorf("the attacks did not all run: garbage %d, held %d, idle %d, wrong %d, locked %d",
			garbage.Load(), held.Load(), idle.Load(), wrong.Load(), locked.Load())
	}
	// The parent was told.
	listen.waitLine(0, regexp.MustCompile(`3 wrong setup code\(s\) tried`), 5*time.Second)
	// The monitor counted the strangers in memory, and wrote only the
	// wrong codes and the windows of them.
	var st struct {
		Pairing struct {
			FailedAttempts int `json:"failed_attempts"`
			Strangers      struct{ Accepted, Evicted, Expired, Refused int }
		}
	}
	if err := json.Unmarshal([]byte(mon.admin(t, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("monitor: %+v", st.Pairing)
	if st.Pairing.FailedAttempts != 3 {
		t.Errorf("the monitor counted %d failed attempts, want the 3 wrong codes only", st.Pairing.FailedAttempts)
	}
	evs := strings.Split(strings.TrimSpace(mon.admin(t, "events")), "\n")[events0:]
	var conns int
	for _, e := range evs {
		if strings.Contains(e, "connection-") {
			conns++
		}
	}
	if st.Pairing.Strangers.Accepted < 20 || len(evs) > 12 || conns > 4 {
		t.Errorf("%d strangers, %d events written during the attack (%d connection events):\n%s",
			st.Pairing.Strangers.Accepted, len(evs), conns, strings.Join(evs, "\n"))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("the attack ran out its time: %v", fmt.Sprint(time.Since(start)))
	}
}

// oneShot is a channel closed once, by the first fire.
type oneShot struct {
	c    chan struct{}
	once sync.Once
}

func newSignal() *oneShot { return &oneShot{c: make(chan struct{})} }

func (s *oneShot) fire() { s.once.Do(func() { close(s.c) }) }
