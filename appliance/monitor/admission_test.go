package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// runAdmission runs an admission script: at a time since t0, an op and
// the decision it must give.
//
//	admit ID SRC    -> "admitted", "admitted evict=A,B", or "busy"
//	began ID   answered ID   ended ID   gone ID   turned-away -> ""
//	expire          -> "close=A,B" (or "")
//	window-closed   -> "close=A,B" (or "")
//	next            -> "+DUR" or "none"
//	counts          -> "accepted=N refused=N evicted=N expired=N"
func runAdmission(t *testing.T, cfg admissionConfig, steps []cstep) {
	t.Helper()
	a := newAdmission(cfg)
	ids := func(v []uint64) string {
		if len(v) == 0 {
			return ""
		}
		s := make([]string, len(v))
		for i, id := range v {
			s[i] = fmt.Sprint(id)
		}
		return strings.Join(s, ",")
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		f := strings.Fields(st.op)
		var id uint64
		if len(f) > 1 {
			fmt.Sscan(f[1], &id)
		}
		var got string
		switch f[0] {
		case "admit":
			d := a.admit(now, id, f[2])
			switch {
			case d.refused != "":
				got = "busy"
			case len(d.evict) > 0:
				got = "admitted evict=" + ids(d.evict)
			default:
				got = "admitted"
			}
		case "began":
			a.began(now, id)
		case "answered":
			a.answered(now, id)
		case "ended":
			a.ended(id)
		case "gone":
			a.gone(id)
		case "turned-away":
			a.turnedAway()
		case "expire":
			if c := ids(a.expire(now)); c != "" {
				got = "close=" + c
			}
		case "window-closed":
			if c := ids(a.windowClosed()); c != "" {
				got = "close=" + c
			}
		case "next":
			got = "none"
			if at, ok := a.nextDeadline(); ok {
				got = "+" + at.Sub(t0).String()
			}
		case "counts":
			c := a.counts
			got = fmt.Sprintf("accepted=%d refused=%d evicted=%d expired=%d", c.Accepted, c.Refused, c.Evicted, c.Expired)
		default:
			t.Fatalf("unknown op %q", st.op)
		}
		if got != st.want {
			t.Fatalf("step %d (+%v %s):\n got: %s\nwant: %s", i, st.at, st.op, got, st.want)
		}
	}
}

func TestAdmissionScripts(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		cfg   admissionConfig
		steps []cstep
	}{
		{"slots: the quiet longest makes room; busy only when every one pairs", admissionConfig{MaxUnpaired: 2, MaxUnpairedPerAddr: 2, Lifetime: 30 * s}, []cstep{
			{0, "admit 1 a", "admitted"},
			{s, "admit 2 b", "admitted"},
			{2 * s, "admit 3 c", "admitted evict=1"},
			{2 * s, "began 2", ""},
			{2 * s, "began 3", ""},
			{3 * s, "admit 4 d", "busy"},
			{3 * s, "counts", "accepted=3 refused=1 evicted=1 expired=0"},
		}},
		{"a pairing message makes a stranger the last idle one evicted", admissionConfig{MaxUnpaired: 2, MaxUnpairedPerAddr: 2, Lifetime: 30 * s}, []cstep{
			{0, "admit 1 a", "admitted"},
			{s, "began 1", ""},
			{2 * s, "admit 2 b", "admitted"},
			{3 * s, "answered 1", ""},
			{4 * s, "admit 3 c", "admitted evict=2"},
		}},
		{"per address: its own quiet longest first, then the total", admissionConfig{MaxUnpaired: 3, MaxUnpairedPerAddr: 2, Lifetime: 30 * s}, []cstep{
			{0, "admit 1 x", "admitted"},
			{s, "admit 2 y", "admitted"},
			{2 * s, "admit 3 x", "admitted"},
			{3 * s, "admit 4 x", "admitted evict=1"},
			{3 * s, "began 3", ""},
			{3 * s, "began 4", ""},
			{4 * s, "admit 5 x", "busy"},
			{4 * s, "counts", "accepted=4 refused=1 evicted=1 expired=0"},
			{5 * s, "admit 6 z", "admitted evict=2"},
			{5 * s, "counts", "accepted=5 refused=1 evicted=2 expired=0"},
		}},
		{"lifetime: idle ones expire, pairing ones wait; an ended attempt is idle again", admissionConfig{MaxUnpaired: 8, MaxUnpairedPerAddr: 2, Lifetime: 30 * s}, []cstep{
			{0, "next", "none"},
			{0, "admit 1 a", "admitted"},
			{10 * s, "admit 2 b", "admitted"},
			{0, "next", "+30s"},
			{20 * s, "began 1", ""},
			{30 * s, "expire", ""},
			{35 * s, "ended 1", ""},
			{35 * s, "expire", "close=1"},
			{35 * s, "expire", ""},
			{40 * s, "expire", "close=2"},
			{40 * s, "counts", "accepted=2 refused=0 evicted=0 expired=2"},
			{40 * s, "next", "none"},
		}},
		{"the window closes: every idle one, in id order; trusted and gone ones are not served", admissionConfig{MaxUnpaired: 8, MaxUnpairedPerAddr: 2, Lifetime: 30 * s}, []cstep{
			{0, "admit 3 a", "admitted"},
			{0, "admit 1 b", "admitted"},
			{0, "admit 2 c", "admitted"},
			{0, "admit 4 d", "admitted"},
			{0, "began 2", ""},
			{0, "gone 4", ""},
			{0, "turned-away", ""},
			{0, "window-closed", "close=1,3"},
			{0, "window-closed", ""},
			{0, "counts", "accepted=5 refused=0 evicted=0 expired=0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAdmission(t, tt.cfg, tt.steps) })
	}
}
