package presence

import "strconv"

// State is whether the device at the other end of a control connection is
// reachable, as the connection's heartbeat says: the connection is up and
// its Heartbeat holds (Online), or it is down or the heartbeat gave up
// (Offline). mDNS never decides it. It is the one presence model: the
// listener's sessions report it, its alarm consumes it, and every front
// end shows String.
type State int

// States. A listener's session starts Connecting (no verdict yet) and is
// Online or Offline after its first dial.
const (
	Connecting State = iota
	Online
	Offline
)

// String is the state's label, the one every front end shows:
// "connecting", "online" or "offline".
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Online:
		return "online"
	case Offline:
		return "offline"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the state as its label ("online").
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
