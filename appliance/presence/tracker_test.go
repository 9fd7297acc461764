package presence

import (
	"testing"
	"time"
)

func TestPresenceString(t *testing.T) {
	for p, want := range map[Presence]string{Offline: "offline", Online: "online", 7: "Presence(7)"} {
		if got := p.String(); got != want {
			t.Errorf("Presence(%d).String() = %q, want %q", int(p), got, want)
		}
	}
}

func TestTracker(t *testing.T) {
	tr := NewTracker[string](t0)
	if p, since := tr.State(); p != Offline || !since.Equal(t0) {
		t.Fatalf("initial state %v since %v", p, since)
	}
	s := func(d int) time.Time { return t0.Add(time.Duration(d) * time.Second) }
	type want struct {
		changed bool
		c       Change
	}
	for i, step := range []struct {
		do   func() (Change, bool)
		want want
	}{
		{func() (Change, bool) { return tr.Down("a", "closed", s(1)) }, want{}}, // unknown connection
		{func() (Change, bool) { return tr.Up("a", s(2)) }, want{true, Change{Presence: Online, At: s(2)}}},
		{func() (Change, bool) { return tr.Up("a", s(3)) }, want{}},
		{func() (Change, bool) { return tr.Up("b", s(4)) }, want{}}, // reconnect overlaps the old connection
		{func() (Change, bool) { return tr.Down("a", "closed", s(5)) }, want{}},
		{func() (Change, bool) { return tr.Dead("b", s(6)) }, want{true, Change{Presence: Offline, At: s(6), Reason: ReasonIdleTimeout}}},
		{func() (Change, bool) { return tr.Dead("b", s(7)) }, want{}},
		{func() (Change, bool) { return tr.Up("c", s(8)) }, want{true, Change{Presence: Online, At: s(8)}}},
		{func() (Change, bool) { return tr.Down("c", "peer closed", s(9)) }, want{true, Change{Presence: Offline, At: s(9), Reason: "peer closed"}}},
	} {
		c, changed := step.do()
		if changed != step.want.changed || c != step.want.c {
			t.Errorf("step %d: got %v %+v, want %v %+v", i, changed, c, step.want.changed, step.want.c)
		}
	}
	if p, since := tr.State(); p != Offline || !since.Equal(s(9)) {
		t.Errorf("final state %v since %v", p, since)
	}
}
