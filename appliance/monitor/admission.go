package monitor

import (
	"slices"
	"time"
)

// admission decides which unpaired connections (strangers, until they
// pair) are served while the pairing window is open. It is a pure
// machine in the shape of pairing.Window: methods return decisions (the
// connections to close), it reads no clock, and it is not safe for
// concurrent use. Core owns one.
//
// Rules:
//   - At most MaxUnpaired strangers are served at once, at most
//     MaxUnpairedPerAddr from one address (source).
//   - A newcomer over a limit evicts the idle stranger (not pairing)
//     quiet longest (its last pairing message, or its arrival), of its
//     address first; it is refused only when every one is pairing.
//   - Each is served for at most Lifetime unless it is pairing; when the
//     window closes every idle one is closed.
//   - A stranger closed (evicted, expired, window closed) or trusted is
//     no longer served: it is counted once and never decided on again.
//
// Strangers are never written to the event log: admission counts them
// (Strangers), so a flood cannot wear the SD card.
type admission struct {
	cfg    admissionConfig
	served map[uint64]*stranger
	counts Strangers
}

// admissionConfig bounds the strangers (see admission).
type admissionConfig struct {
	MaxUnpaired        int
	MaxUnpairedPerAddr int
	Lifetime           time.Duration
}

type stranger struct {
	source  string    // its address without the port: one device, or one attacker
	active  time.Time // its arrival, or its last pairing message
	expires time.Time // closed then, unless pairing
	pairing bool
}

// Strangers counts unpaired connections since the monitor started (they
// are not written to the event log).
type Strangers struct {
	Accepted int // answered (hello_ack)
	Refused  int // closed with busy at once: every slot was pairing
	Evicted  int // closed to make room for a newer one
	Expired  int // closed after UnpairedLifetime
}

func newAdmission(cfg admissionConfig) *admission {
	return &admission{cfg: cfg, served: map[uint64]*stranger{}}
}

// admitDecision is admit's answer: refused (busy, with why), or admitted
// after closing evict (to make room).
type admitDecision struct {
	refused string
	evict   []uint64
}

// admit decides on stranger id from source at now.
func (a *admission) admit(now time.Time, id uint64, source string) admitDecision {
	var d admitDecision
	if a.count(source) >= a.cfg.MaxUnpairedPerAddr {
		old, ok := a.quietest(source)
		if !ok {
			a.counts.Refused++
			return admitDecision{refused: "too many unpaired connections from this address"}
		}
		d.evict = append(d.evict, a.evict(old))
	}
	if a.count("") >= a.cfg.MaxUnpaired {
		old, ok := a.quietest("")
		if !ok {
			a.counts.Refused++
			return admitDecision{refused: "too many unpaired connections"}
		}
		d.evict = append(d.evict, a.evict(old))
	}
	a.counts.Accepted++
	a.served[id] = &stranger{source: source, active: now, expires: now.Add(a.cfg.Lifetime)}
	return d
}

// turnedAway counts a stranger answered while pairing is closed (it is
// closed at once, never served).
func (a *admission) turnedAway() { a.counts.Accepted++ }

// evict stops serving id, which makes room for a newcomer.
func (a *admission) evict(id uint64) uint64 {
	a.counts.Evicted++
	delete(a.served, id)
	return id
}

// began records that id began a pairing attempt at now: it is not
// idle, and not evicted for a newcomer.
func (a *admission) began(now time.Time, id uint64) {
	if s, ok := a.served[id]; ok {
		s.pairing, s.active = true, now
	}
}

// answered records that id's attempt was answered at now (its answer may
// still be on its way: it is the last idle one to be evicted).
func (a *admission) answered(now time.Time, id uint64) {
	if s, ok := a.served[id]; ok {
		s.pairing, s.active = false, now
	}
}

// ended records that id's attempt ended without an answer from it
// (aborted, expired, cancelled): idle again.
func (a *admission) ended(id uint64) {
	if s, ok := a.served[id]; ok {
		s.pairing = false
	}
}

// gone stops serving id: it was trusted, or it closed.
func (a *admission) gone(id uint64) { delete(a.served, id) }

// expire stops serving, and returns in id order, the idle strangers
// whose lifetime ended by now.
func (a *admission) expire(now time.Time) []uint64 {
	out := a.idle(func(s *stranger) bool { return !now.Before(s.expires) })
	a.counts.Expired += len(out)
	return out
}

// windowClosed stops serving, and returns in id order, every idle
// stranger: pairing closed.
func (a *admission) windowClosed() []uint64 {
	return a.idle(func(*stranger) bool { return true })
}

func (a *admission) idle(match func(*stranger) bool) []uint64 {
	var out []uint64
	for _, id := range a.ids() {
		if s := a.served[id]; !s.pairing && match(s) {
			out = append(out, id)
			delete(a.served, id)
		}
	}
	return out
}

// nextDeadline is the end of the first served stranger's lifetime.
func (a *admission) nextDeadline() (time.Time, bool) {
	var next time.Time
	ok := false
	for _, s := range a.served {
		if !ok || s.expires.Before(next) {
			next, ok = s.expires, true
		}
	}
	return next, ok
}

// count is the number of strangers served from source ("" for all).
func (a *admission) count(source string) int {
	n := 0
	for _, s := range a.served {
		if source == "" || s.source == source {
			n++
		}
	}
	return n
}

// quietest is the idle stranger (from source, "" for any) quiet longest;
// the lowest id among equals.
func (a *admission) quietest(source string) (uint64, bool) {
	var best uint64
	found := false
	for _, id := range a.ids() {
		s := a.served[id]
		if s.pairing || (source != "" && s.source != source) {
			continue
		}
		if !found || s.active.Before(a.served[best].active) {
			best, found = id, true
		}
	}
	return best, found
}

func (a *admission) ids() []uint64 {
	out := make([]uint64, 0, len(a.served))
	for id := range a.served {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
