package listener

import (
	"strconv"
	"time"
)

// Presence is whether a monitor is reachable, as its heartbeat says: the
// control connection is up (Online) or not (Offline). mDNS never decides
// it. This is the listener's one presence model.
type Presence int

// Presence values. A session starts Connecting and reports Online or
// Offline after its first dial.
const (
	Connecting Presence = iota
	Online
	Offline
)

func (p Presence) String() string {
	switch p {
	case Connecting:
		return "connecting"
	case Online:
		return "online"
	case Offline:
		return "offline"
	}
	return "Presence(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText writes the presence as its name ("online").
func (p Presence) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

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
