package presence

import (
	"errors"
	"time"
)

// ErrIdleTimeout is the cause to close a connection with when Tick
// reports the peer dead.
var ErrIdleTimeout = errors.New("presence: idle timeout: the other device stopped answering")

// Ping is sent every Interval; the peer answers with Answer(ping).
type Ping struct {
	Seq          uint64 // 1, 2, 3, ... per connection and direction
	SentUnixNano int64  // sender's clock; echoed back, never compared across devices
}

// Pong answers a Ping.
type Pong struct {
	Seq          uint64
	EchoUnixNano int64 // the Ping's SentUnixNano
}

// Answer returns the Pong for p.
func Answer(p Ping) Pong { return Pong{Seq: p.Seq, EchoUnixNano: p.SentUnixNano} }

// Stats describe a heartbeat for logs and status pages.
type Stats struct {
	LastSeen time.Time     // last frame of any kind from the peer (start: New's now); for display, not life
	LastPong time.Time     // arrival of the last valid pong (zero before the first)
	Proven   time.Time     // send time of the newest answered ping (start: New's now)
	Deadline time.Time     // Proven + DeadAfter: the peer is dead unless a newer ping is answered by then
	SRTT     time.Duration // smoothed RTT (RFC 6298, alpha 1/8); 0 before the first sample
	RTTVar   time.Duration // RTT variation (RFC 6298, beta 1/4)
	LastRTT  time.Duration // the latest sample
	Sent     uint64        // pings sent
	Received uint64        // first pongs to pings still remembered (the last 32)
	Missed   int           // pings since the newest answered one, not counting one sent less than an Interval ago
	Dead     bool
}

// window is how many sent pings are remembered for matching pongs. It
// exceeds MaxMisses+1, so any pong that arrives before the peer is declared
// dead still finds its ping.
const window = 32

type sentPing struct {
	seq      uint64
	at       time.Time
	answered bool
}

// Heartbeat is one connection's heartbeat state. It is not safe for
// concurrent use: the connection's goroutine owns it. See the package
// documentation for the rule and the caller's duties.
type Heartbeat struct {
	interval  time.Duration
	misses    int
	nextPing  time.Time
	lastPing  time.Time
	seq       uint64 // last ping sent
	acked     uint64 // highest ping answered
	sent      [window]sentPing
	st        Stats
	gotSample bool
}

// New returns a heartbeat for a connection that came up at now. The first
// ping is due at once. It panics if cfg.Validate fails: check the config
// when it is loaded.
func New(cfg Config, now time.Time) *Heartbeat {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.WithDefaults()
	h := &Heartbeat{interval: cfg.Interval, misses: cfg.Misses, nextPing: now}
	h.st.LastSeen, h.st.Proven = now, now
	h.st.Deadline = now.Add(h.deadAfter())
	return h
}

func (h *Heartbeat) deadAfter() time.Duration {
	return Config{Interval: h.interval, Misses: h.misses}.DeadAfter()
}

// Tick advances the heartbeat to now. It returns a Ping to send when one
// is due, and dead once no ping sent in the last DeadAfter has been
// answered (now reached Deadline). Dead is final: later calls keep returning it and ignore the peer.
func (h *Heartbeat) Tick(now time.Time) (send *Ping, dead bool) {
	if h.st.Dead || !now.Before(h.st.Deadline) {
		h.st.Dead = true
		return nil, true
	}
	if !now.Before(h.nextPing) {
		h.seq++
		h.sent[h.seq%window] = sentPing{seq: h.seq, at: now}
		h.lastPing = now
		h.st.Sent++
		h.nextPing = h.nextPing.Add(h.interval)
		if !h.nextPing.After(now) { // the caller was late: no burst, restart the cadence
			h.nextPing = now.Add(h.interval)
		}
		send = &Ping{Seq: h.seq, SentUnixNano: now.UnixNano()}
	}
	h.countMissed(now)
	return send, false
}

// NextTick is when Tick must be called next: the next ping or the
// deadline, whichever is first. Calling Tick earlier or more often is fine.
func (h *Heartbeat) NextTick() time.Time {
	if h.nextPing.Before(h.st.Deadline) && !h.st.Dead {
		return h.nextPing
	}
	return h.st.Deadline
}

// OnFrame records a frame of any kind from the peer for Stats.LastSeen. It
// is not a sign of life: a frame proves only the peer-to-us direction, and
// the link may be cut the other way (see the package documentation).
func (h *Heartbeat) OnFrame(now time.Time) {
	if h.st.Dead || !now.After(h.st.LastSeen) {
		return
	}
	h.st.LastSeen = now
}

// OnPing records the peer's ping as a frame and returns the Pong to send.
// The peer's ping is not a sign of life either.
func (h *Heartbeat) OnPing(p Ping, now time.Time) Pong {
	h.OnFrame(now)
	return Answer(p)
}

// OnPong records a pong. A pong to a ping never sent (seq 0, a future seq,
// or an echo that does not match the remembered ping) is ignored entirely.
// A pong to a ping too old to be remembered (window pings ago, longer ago
// than any DeadAfter) counts as a frame only. Any other pong is the sign of
// life: it proves the round trip as of its ping's send time, so the
// deadline becomes at least that send time + DeadAfter (a stale pong, to a
// ping sent DeadAfter ago or more, moves it nowhere). Only the first pong
// to a ping gives an RTT sample, so late pongs count once, duplicates not
// at all.
func (h *Heartbeat) OnPong(p Pong, now time.Time) {
	if h.st.Dead || p.Seq == 0 || p.Seq > h.seq {
		return
	}
	e := &h.sent[p.Seq%window]
	remembered := e.seq == p.Seq
	if remembered && e.at.UnixNano() != p.EchoUnixNano {
		return
	}
	h.OnFrame(now)
	if !remembered || e.answered {
		return
	}
	e.answered = true
	h.st.LastPong = now
	if e.at.After(h.st.Proven) {
		h.st.Proven = e.at
		if d := e.at.Add(h.deadAfter()); d.After(h.st.Deadline) {
			h.st.Deadline = d
		}
	}
	h.st.Received++
	h.acked = max(h.acked, p.Seq)
	h.sampleRTT(max(now.Sub(e.at), 0))
	h.countMissed(now)
}

// sampleRTT folds r into SRTT and RTTVar as RFC 6298 section 2 does.
func (h *Heartbeat) sampleRTT(r time.Duration) {
	h.st.LastRTT = r
	if !h.gotSample {
		h.gotSample = true
		h.st.SRTT, h.st.RTTVar = r, r/2
		return
	}
	diff := h.st.SRTT - r
	if diff < 0 {
		diff = -diff
	}
	h.st.RTTVar = (3*h.st.RTTVar + diff) / 4
	h.st.SRTT = (7*h.st.SRTT + r) / 8
}

func (h *Heartbeat) countMissed(now time.Time) {
	n := h.seq - h.acked
	if n > 0 && now.Sub(h.lastPing) < h.interval {
		n-- // the newest ping is still in flight
	}
	h.st.Missed = int(n)
}

// SetInterval changes the ping interval from now on (clamped to
// [MinInterval, MaxInterval]); the next ping is due one new interval after
// the last one. The deadline becomes Proven + the new DeadAfter, except
// that a shorter interval never declares the peer dead before now + the
// new DeadAfter unless the old deadline was earlier still: the peer gets a
// fair chance at the new pace, and never more time than before.
func (h *Heartbeat) SetInterval(d time.Duration, now time.Time) {
	h.interval = min(max(d, MinInterval), MaxInterval)
	if h.seq > 0 {
		h.nextPing = h.lastPing.Add(h.interval)
	}
	if h.st.Dead {
		return
	}
	t := h.deadAfter()
	deadline := now.Add(t)
	if h.st.Deadline.Before(deadline) {
		deadline = h.st.Deadline
	}
	if d := h.st.Proven.Add(t); d.After(deadline) {
		deadline = d
	}
	h.st.Deadline = deadline
}

// Interval returns the current ping interval.
func (h *Heartbeat) Interval() time.Duration { return h.interval }

// Stats returns a snapshot of the heartbeat.
func (h *Heartbeat) Stats() Stats { return h.st }
