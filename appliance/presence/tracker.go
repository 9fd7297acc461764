package presence

import (
	"strconv"
	"time"
)

// Presence is whether the other device is reachable.
type Presence int

const (
	Offline Presence = iota
	Online
)

func (p Presence) String() string {
	switch p {
	case Offline:
		return "offline"
	case Online:
		return "online"
	}
	return "Presence(" + strconv.Itoa(int(p)) + ")"
}

// ReasonIdleTimeout is the Down reason for a connection whose heartbeat
// reported the peer dead.
const ReasonIdleTimeout = "idle timeout"

// Change is a transition reported by Tracker.
type Change struct {
	Presence Presence
	At       time.Time
	Reason   string // why the last connection went down (Offline only)
}

// Tracker turns connections to one peer coming up and going down into
// Online/Offline changes: the peer is Online while at least one connection
// is up, so a reconnect that overlaps the old connection does not flicker.
// It is pure and not safe for concurrent use. K identifies a connection.
type Tracker[K comparable] struct {
	conns map[K]struct{}
	state Presence
	since time.Time
}

// NewTracker returns a tracker that starts Offline at now.
func NewTracker[K comparable](now time.Time) *Tracker[K] {
	return &Tracker[K]{conns: make(map[K]struct{}), since: now}
}

// Up records that connection k is up (idempotent). It returns the change
// to Online, if this is one.
func (t *Tracker[K]) Up(k K, now time.Time) (Change, bool) {
	t.conns[k] = struct{}{}
	if t.state == Online {
		return Change{}, false
	}
	t.state, t.since = Online, now
	return Change{Presence: Online, At: now}, true
}

// Down records that connection k is gone, for reason (unknown k: no-op).
// It returns the change to Offline when k was the last connection.
func (t *Tracker[K]) Down(k K, reason string, now time.Time) (Change, bool) {
	if _, ok := t.conns[k]; !ok {
		return Change{}, false
	}
	delete(t.conns, k)
	if len(t.conns) > 0 {
		return Change{}, false
	}
	t.state, t.since = Offline, now
	return Change{Presence: Offline, At: now, Reason: reason}, true
}

// Dead is Down with ReasonIdleTimeout, for a heartbeat that reported dead.
func (t *Tracker[K]) Dead(k K, now time.Time) (Change, bool) {
	return t.Down(k, ReasonIdleTimeout, now)
}

// State returns the current presence and since when it holds.
func (t *Tracker[K]) State() (Presence, time.Time) { return t.state, t.since }
