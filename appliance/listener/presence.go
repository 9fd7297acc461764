package listener

import (
	"time"

	"github.com/cradle-monitor/cradle/appliance/presence"
)

// Presence is whether a monitor is reachable, as the heartbeat of its
// control connection says: presence.State, the one presence model. Its
// String ("connecting", "online", "offline") is the label front ends show.
type Presence = presence.State

// Presence values. A session starts Connecting and reports Online or
// Offline after its first dial.
const (
	Connecting = presence.Connecting
	Online     = presence.Online
	Offline    = presence.Offline
)

// Change is a presence change (or a fresh report) for one monitor.
type Change struct {
	Monitor  PairedMonitor
	Presence Presence
	At       time.Time
	Address  string        // the address in use (online) or last tried
	RTT      time.Duration // smoothed round-trip time when online
	LastSeen time.Time     // the last frame from the monitor
	Err      error         // why it is offline, if known
}
