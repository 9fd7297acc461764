package listener

import (
	"errors"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// Backoff between reconnection attempts: jittered exponential, capped.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff reconnects within a few seconds at most.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}

// Delay is the wait before retry n (0-based): Min·2ⁿ capped at Max, with
// ±25 % jitter (jitter is a random number in [0, 1)) so that many
// listeners do not retry in lock step.
func (b Backoff) Delay(n int, jitter float64) time.Duration {
	d := b.Min
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	j := time.Duration(float64(d) * (0.75 + 0.5*jitter))
	return min(j, b.Max)
}

// Outcome is what became of the session's last connection attempt.
type Outcome int

// Outcomes fed to Policy.Next.
const (
	DialFailed   Outcome = iota + 1 // the dial (QUIC, TLS or hello) failed
	Connected                       // hello_ack received: the monitor is online
	Disconnected                    // a live connection closed (heartbeat, close, network)
)

func (o Outcome) String() string {
	switch o {
	case DialFailed:
		return "dial failed"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	}
	return "outcome?"
}

// Retry is the reconnect policy's state between two steps.
type Retry struct {
	// Failures counts the dials that failed since the last connection.
	Failures int
}

// Decision is what a session does after an outcome.
type Decision struct {
	// Stop ends the session with Err: retrying cannot help (the monitor's
	// identity changed, or it revoked this listener).
	Stop bool
	Err  error
	// Rediscover looks the monitor up over mDNS before the next dial: its
	// last address stopped answering, and it may have moved.
	Rediscover bool
	// DialAt is when to dial next (zero after Connected: serve the
	// connection).
	DialAt time.Time
}

// Policy is the reconnect policy, a pure function of the outcome of the
// last attempt, the retry state and the time. Its rules:
//
//   - An error that Is control.ErrRevoked, control.ErrUntrusted or
//     control.ErrFingerprintMismatch is final: stop and say why.
//   - A connection resets the state: the next loss starts from the
//     shortest backoff again.
//   - A live connection that closed is redialled at once (the heartbeat
//     already waited its bound before closing it).
//   - A failed dial waits Backoff.Delay(failures-1), and after the second
//     failure in a row, then after every RediscoverEvery more, looks the
//     monitor up over mDNS (when Discovery is on).
type Policy struct {
	Backoff         Backoff
	Discovery       bool
	RediscoverEvery int // default 3
}

// Next returns the new state and the decision after outcome o (with err,
// for DialFailed and Disconnected) at now; jitter is a random number in
// [0, 1) that spreads the backoff.
func (p Policy) Next(r Retry, o Outcome, err error, now time.Time, jitter float64) (Retry, Decision) {
	if p.Backoff.Min <= 0 {
		p.Backoff = DefaultBackoff
	}
	if p.RediscoverEvery <= 0 {
		p.RediscoverEvery = 3
	}
	switch o {
	case Connected:
		return Retry{}, Decision{}
	case Disconnected:
		if Final(err) {
			return r, Decision{Stop: true, Err: err}
		}
		return Retry{}, Decision{DialAt: now}
	}
	if Final(err) {
		return r, Decision{Stop: true, Err: err}
	}
	r.Failures++
	return r, Decision{
		Rediscover: p.Discovery && r.Failures >= 2 && (r.Failures-2)%p.RediscoverEvery == 0,
		DialAt:     now.Add(p.Backoff.Delay(r.Failures-1, jitter)),
	}
}

// Final reports whether err ends reconnection: retrying cannot help.
func Final(err error) bool {
	return errors.Is(err, control.ErrFingerprintMismatch) || errors.Is(err, control.ErrRevoked) || errors.Is(err, control.ErrUntrusted)
}
