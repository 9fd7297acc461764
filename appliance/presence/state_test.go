package presence

import "testing"

// TestStateLabels: the labels front ends show (the dashboard's JSON
// included) stay what they were.
func TestStateLabels(t *testing.T) {
	for s, want := range map[State]string{Connecting: "connecting", Online: "online", Offline: "offline", State(7): "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", int(s), got, want)
		}
		if b, _ := s.MarshalText(); string(b) != want {
			t.Errorf("%d: MarshalText %q, want %q", int(s), b, want)
		}
	}
}
