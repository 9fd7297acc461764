package listener

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// Presence of a monitor as the heartbeat sees it.
type Presence string

// Presence values.
const (
	Offline Presence = "offline"
	Online  Presence = "online"
)

// Change is a presence change (or a fresh report) for one monitor.
type Change struct {
	Monitor  Monitor
	Presence Presence
	At       time.Time
	Address  string        // the address in use (online) or last tried
	RTT      time.Duration // smoothed round-trip time when online
	LastSeen time.Time     // the last frame from the monitor
	Err      error         // why it is offline, if known
}

// Backoff between reconnection attempts: jittered exponential, capped.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff reconnects within a few seconds at most.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}

// Delay is the wait before attempt n (0-based): Min·2ⁿ capped at Max,
// with ±25 % jitter so that many listeners do not retry in lock step.
func (b Backoff) Delay(n int, r *rand.Rand) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	j := time.Duration(float64(d) * (0.75 + 0.5*r.Float64()))
	return min(j, b.Max)
}

// Session is a kept-up connection to one monitor: Supervise dials it,
// watches it through the heartbeat, and redials after every loss.
type Session struct {
	l       *Listener
	mon     Monitor
	backoff Backoff
	onState func(Change)
	onConn  func(context.Context, *transport.Conn, control.HelloAck) // runs while connected (streams resume here)

	mu   sync.Mutex
	conn *transport.Conn
}

// SessionOptions tune a Session; zero values take defaults.
type SessionOptions struct {
	Backoff Backoff
	// OnChange receives every presence change, in order, from the
	// session's goroutine: keep it short.
	OnChange func(Change)
	// OnConnected runs on each new connection until it closes or ctx ends;
	// this is where a stream is (re)started.
	OnConnected func(ctx context.Context, c *transport.Conn, ack control.HelloAck)
}

// NewSession prepares a kept-up connection to m.
func (l *Listener) NewSession(m Monitor, opt SessionOptions) *Session {
	if opt.Backoff.Min <= 0 {
		opt.Backoff = DefaultBackoff
	}
	return &Session{l: l, mon: m, backoff: opt.Backoff, onState: opt.OnChange, onConn: opt.OnConnected}
}

// Conn returns the live connection, or nil while offline.
func (s *Session) Conn() *transport.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *Session) report(ch Change) {
	if s.onState != nil {
		s.onState(ch)
	}
}

// Run keeps the connection up until ctx ends. It reports Offline once at
// the start if the first dial fails, then every change. It returns when
// ctx is done, or at once with an error the user must act on (the monitor's
// identity changed, or this listener was revoked).
func (s *Session) Run(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	presence := Presence("")
	var lastSeen time.Time
	for attempt := 0; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, s.dialTimeout())
		c, ack, err := s.l.Dial(dctx, s.mon)
		cancel()
		if ctx.Err() != nil {
			if c != nil {
				c.Close(control.CodeGoingAway, "")
			}
			return nil
		}
		if err != nil {
			if presence != Offline {
				presence = Offline
				s.report(Change{Monitor: s.mon, Presence: Offline, At: time.Now(), Address: s.mon.Address, LastSeen: lastSeen, Err: err})
			}
			if fatal(err) {
				return err
			}
			if attempt%3 == 1 && s.l.cfg.Discovery { // after the 2nd, 5th ... failure
				s.tryRediscover(ctx)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.backoff.Delay(attempt, rng)):
			}
			continue
		}
		attempt = -1
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
		presence = Online
		s.report(Change{Monitor: s.mon, Presence: Online, At: time.Now(), Address: s.mon.Address, RTT: c.Stats().SRTT, LastSeen: c.Stats().LastSeen})
		s.serve(ctx, c, ack)
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		lastSeen = c.Stats().LastSeen
		if ctx.Err() != nil {
			c.Close(control.CodeGoingAway, "")
			return nil
		}
		presence = Offline
		cerr := c.Err()
		s.report(Change{Monitor: s.mon, Presence: Offline, At: time.Now(), Address: s.mon.Address, LastSeen: lastSeen, Err: cerr})
		if fatal(cerr) {
			return cerr
		}
	}
}

// serve runs while c is up: the OnConnected hook, and a drain of messages
// nobody else reads.
func (s *Session) serve(ctx context.Context, c *transport.Conn, ack control.HelloAck) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if s.onConn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.onConn(cctx, c, ack)
		}()
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Recv(cctx); err != nil {
					return
				}
			}
		}()
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
}

// tryRediscover looks the monitor up over mDNS after its last address
// failed a few times; a new address is remembered. The pinned
// fingerprint still decides whom the next dial accepts.
func (s *Session) tryRediscover(ctx context.Context) {
	addr, err := s.l.rediscover(ctx, s.mon)
	if err != nil || addr == s.mon.Address {
		return
	}
	s.l.log.Info("monitor found at a new address", "monitor", s.mon.Name, "old", s.mon.Address, "new", addr)
	if err := s.l.RecordAddress(ctx, s.mon, addr); err != nil {
		s.l.log.Warn("cannot remember the new address", "err", err)
	}
	s.mon.Address = addr
}

func (s *Session) dialTimeout() time.Duration {
	hb := s.l.cfg.Heartbeat.WithDefaults()
	return max(3*time.Second, hb.Interval*time.Duration(hb.Misses))
}

// fatal errors stop reconnection: retrying cannot help.
func fatal(err error) bool {
	return errors.Is(err, control.ErrFingerprintMismatch) || errors.Is(err, control.ErrRevoked) || errors.Is(err, control.ErrUntrusted)
}
