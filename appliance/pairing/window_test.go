package pairing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)

// step is one line of a window script: at a time since t0, do op, and expect
// the effects and error printed as want (see fmtEffects).
type step struct {
	at   time.Duration
	op   string // "open [DUR]", "close manual|reset", "begin C", "fail C", "abort C", "succeed C", "tick", "reset"
	want string
}

func fmtEffects(effs []Effect, err error) string {
	var out []string
	rel := func(t time.Time) string { return "+" + t.Sub(t0).String() }
	for _, e := range effs {
		switch e := e.(type) {
		case WindowOpened:
			s := "opened until=" + rel(e.Until)
			if e.Extended {
				s += " extended"
			}
			out = append(out, s)
		case WindowClosed:
			out = append(out, "closed "+e.Reason.String())
		case SessionStarted:
			out = append(out, fmt.Sprintf("started conn=%d deadline=%s", e.Conn, rel(e.Deadline)))
		case AttemptFailed:
			out = append(out, fmt.Sprintf("failed conn=%d window=%d lifetime=%d", e.Conn, e.WindowFailures, e.LifetimeFailures))
		case SessionExpired:
			out = append(out, fmt.Sprintf("expired conn=%d", e.Conn))
		case SessionCancelled:
			out = append(out, fmt.Sprintf("cancelled conn=%d", e.Conn))
		case Paired:
			out = append(out, fmt.Sprintf("paired conn=%d", e.Conn))
		case Locked:
			out = append(out, fmt.Sprintf("locked lifetime=%d", e.LifetimeFailures))
		default:
			out = append(out, fmt.Sprintf("unknown %T", e))
		}
	}
	if err != nil {
		name := map[error]string{
			ErrWindowClosed: "window-closed", ErrBusy: "busy", ErrLocked: "locked",
			ErrNoSession: "no-session", ErrWindowDuration: "duration",
		}
		s := "err=?" + err.Error()
		for sentinel, n := range name {
			if errors.Is(err, sentinel) {
				s = "err=" + n
			}
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func apply(t *testing.T, w *Window, s step) string {
	t.Helper()
	now := t0.Add(s.at)
	f := strings.Fields(s.op)
	arg := func() uint64 {
		if len(f) < 2 {
			t.Fatalf("%q: missing argument", s.op)
		}
		c, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("%q: %v", s.op, err)
		}
		return c
	}
	switch f[0] {
	case "open":
		var d time.Duration
		if len(f) > 1 {
			var err error
			if d, err = time.ParseDuration(f[1]); err != nil {
				t.Fatalf("%q: %v", s.op, err)
			}
		}
		return fmtEffects(w.Open(now, d))
	case "close":
		r := map[string]CloseReason{"manual": CloseManual, "reset": CloseReset}[f[1]]
		return fmtEffects(w.Close(now, r), nil)
	case "begin":
		return fmtEffects(w.Begin(now, arg()))
	case "fail":
		return fmtEffects(w.Fail(now, arg(), "wrong code"), nil)
	case "abort":
		return fmtEffects(w.Abort(now, arg()), nil)
	case "succeed":
		return fmtEffects(w.Succeed(now, arg()))
	case "tick":
		return fmtEffects(w.Tick(now), nil)
	case "reset":
		return fmtEffects(w.Reset(), nil)
	}
	t.Fatalf("unknown op %q", s.op)
	return ""
}

func runScript(t *testing.T, w *Window, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := apply(t, w, s); got != s.want {
			t.Fatalf("step %d (+%v %s):\n got: %s\nwant: %s", i, s.at, s.op, got, s.want)
		}
	}
}

func TestWindowScripts(t *testing.T) {
	const sec = time.Second
	const min = time.Minute
	tests := []struct {
		name     string
		lifetime int
		steps    []step
	}{
		{"closed window refuses", 0, []step{
			{0, "begin 1", "err=window-closed"},
			{0, "tick", ""},
			{0, "close manual", ""},
		}},
		{"wrong code counts once", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{1 * sec, "begin 1", "started conn=1 deadline=+1m1s"},
			{2 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{3 * sec, "fail 1", ""},  // the same failure reported twice
			{3 * sec, "abort 1", ""}, // then its connection closes
			{2 * min, "tick", ""},    // its old session deadline has passed
			{2 * min, "begin 2", "started conn=2 deadline=+3m0s"},
		}},
		{"success closes the window", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{10 * sec, "begin 1", "started conn=1 deadline=+1m10s"},
			{20 * sec, "succeed 1", "paired conn=1; closed success"},
			{21 * sec, "begin 2", "err=window-closed"},
			{22 * sec, "succeed 1", "err=no-session"},
			{4 * min, "tick", ""},
		}},
		{"second listener is busy", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+1m0s"},
			{1 * sec, "begin 2", "err=busy"},
			{1 * sec, "begin 1", "err=busy"},
			{2 * sec, "succeed 2", "err=no-session"},
			{2 * sec, "fail 2", ""},
			{3 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{4 * sec, "begin 2", "started conn=2 deadline=+1m4s"},
		}},
		{"idle session fails via tick", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{10 * sec, "begin 1", "started conn=1 deadline=+1m10s"},
			{69 * sec, "tick", ""},
			{70 * sec, "tick", "expired conn=1; failed conn=1 window=1 lifetime=1"},
			{71 * sec, "succeed 1", "err=no-session"},
			{72 * sec, "fail 1", ""},
		}},
		{"late success without tick fails", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{10 * sec, "begin 1", "started conn=1 deadline=+1m10s"},
			{70 * sec, "succeed 1", "expired conn=1; failed conn=1 window=1 lifetime=1; err=no-session"},
		}},
		{"window times out", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{3*min - 1, "tick", ""},
			{3 * min, "tick", "closed timeout"},
			{3 * min, "begin 1", "err=window-closed"},
			{4 * min, "tick", ""},
		}},
		{"begin at the deadline without tick", 0, []step{
			{0, "open 5m", "opened until=+5m0s"},
			{5 * min, "begin 1", "closed timeout; err=window-closed"},
		}},
		{"session begun in time may finish after the deadline", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{170 * sec, "begin 1", "started conn=1 deadline=+3m50s"},
			{3 * min, "tick", ""},
			{190 * sec, "begin 2", "err=window-closed"},
			{200 * sec, "succeed 1", "paired conn=1; closed success"},
		}},
		{"late session fails then window closes", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{170 * sec, "begin 1", "started conn=1 deadline=+3m50s"},
			{200 * sec, "fail 1", "failed conn=1 window=1 lifetime=1; closed timeout"},
		}},
		{"late session expires then window closes", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{170 * sec, "begin 1", "started conn=1 deadline=+3m50s"},
			{230 * sec, "tick", "expired conn=1; failed conn=1 window=1 lifetime=1; closed timeout"},
		}},
		{"open while open extends, never shortens, keeps failures", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+1m0s"},
			{1 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{1 * min, "open 5m", "opened until=+6m0s extended"},
			{2 * min, "open", "opened until=+6m0s extended"},
			{2 * min, "begin 2", "started conn=2 deadline=+3m0s"},
			{2 * min, "open", "opened until=+6m0s extended"}, // the session carries on
			{2*min + sec, "fail 2", "failed conn=2 window=2 lifetime=2"},
			{6 * min, "tick", "closed timeout"},
			{7 * min, "open", "opened until=+10m0s"}, // a new window: its count restarts
			{7 * min, "begin 3", "started conn=3 deadline=+8m0s"},
			{7 * min, "abort 3", "failed conn=3 window=1 lifetime=3"},
		}},
		{"window duration limits", 0, []step{
			{0, "open 16m", "err=duration"},
			{0, "open -1s", "err=duration"},
			{0, "open 15m", "opened until=+15m0s"},
			{0, "open 15m1s", "err=duration"},
		}},
		{"abort counts as a failure", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 7", "started conn=7 deadline=+1m0s"},
			{5 * sec, "abort 7", "failed conn=7 window=1 lifetime=1"},
		}},
		{"manual close cancels a session without counting", 0, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+1m0s"},
			{5 * sec, "close manual", "cancelled conn=1; closed manual"},
			{6 * sec, "fail 1", ""},
			{6 * sec, "close manual", ""},
			{7 * sec, "begin 2", "err=window-closed"},
		}},
		{"lifetime limit locks", 98, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+1m0s"},
			{1 * sec, "fail 1", "failed conn=1 window=1 lifetime=99"},
			{2 * sec, "begin 2", "started conn=2 deadline=+1m2s"},
			{3 * sec, "fail 2", "failed conn=2 window=2 lifetime=100; closed too-many-failures; locked lifetime=100"},
			{4 * sec, "open", "err=locked"},
			{4 * sec, "begin 3", "err=locked"},
			{5 * sec, "reset", ""},
			{6 * sec, "open", "opened until=+3m6s"},
			{6 * sec, "begin 3", "started conn=3 deadline=+1m6s"},
			{7 * sec, "fail 3", "failed conn=3 window=1 lifetime=1"},
		}},
		{"locked at start", 100, []step{
			{0, "open", "err=locked"},
			{0, "begin 1", "err=locked"},
			{0, "open 1m", "err=locked"},
		}},
		{"factory reset closes and cancels", 40, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+1m0s"},
			{1 * sec, "reset", "cancelled conn=1; closed reset"},
			{2 * sec, "fail 1", ""},
			{2 * sec, "reset", ""},
		}},
		{"close with reset reason keeps the lifetime count", 40, []step{
			{0, "open", "opened until=+3m0s"},
			{0, "close reset", "closed reset"},
			{1 * sec, "open", "opened until=+3m1s"},
			{1 * sec, "begin 1", "started conn=1 deadline=+1m1s"},
			{2 * sec, "fail 1", "failed conn=1 window=1 lifetime=41"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runScript(t, NewWindow(WindowConfig{}, tt.lifetime), tt.steps)
		})
	}
}

// failN runs n begin/fail pairs, one second apart, starting at *at.
func failN(t *testing.T, w *Window, at *time.Duration, n int) []string {
	t.Helper()
	var got []string
	for i := range n {
		conn := fmt.Sprint(100 + i)
		if s := apply(t, w, step{at: *at, op: "begin " + conn}); !strings.HasPrefix(s, "started") {
			t.Fatalf("begin %d: %s", i, s)
		}
		got = append(got, apply(t, w, step{at: *at, op: "fail " + conn}))
		*at += time.Second
	}
	return got
}

func TestWindowTwentiethFailureCloses(t *testing.T) {
	w := NewWindow(WindowConfig{DefaultOpen: 10 * time.Minute}, 0)
	var at time.Duration
	runScript(t, w, []step{{0, "open", "opened until=+10m0s"}})
	got := failN(t, w, &at, 20)
	for i, s := range got[:19] {
		if want := fmt.Sprintf("failed conn=%d window=%d lifetime=%d", 100+i, i+1, i+1); s != want {
			t.Fatalf("failure %d: got %q, want %q", i+1, s, want)
		}
	}
	if want := "failed conn=119 window=20 lifetime=20; closed too-many-failures"; got[19] != want {
		t.Fatalf("20th failure: got %q, want %q", got[19], want)
	}
	runScript(t, w, []step{
		{at, "begin 1", "err=window-closed"},
		{at + time.Minute, "begin 1", "err=window-closed"},
		{at + time.Minute, "tick", ""},
		{at + time.Minute, "open", "opened until=+11m20s"},
		{at + time.Minute, "begin 1", "started conn=1 deadline=+2m20s"},
		{at + time.Minute, "fail 1", "failed conn=1 window=1 lifetime=21"},
	})
	if st := w.Status(); !st.Open || st.FailuresThisWindow != 1 || st.LifetimeFailures != 21 || st.Locked {
		t.Fatalf("status = %+v", st)
	}
}

// TestWindowLifetimeAcrossRestarts counts AttemptFailed effects as the
// owner's event log would, "restarts" by building a new Window from that
// count, and reaches the lock on the 100th failure, which is also the 20th
// of its window: the window closes once.
func TestWindowLifetimeAcrossRestarts(t *testing.T) {
	logged := 0 // AttemptFailed events in the "event log"
	var at time.Duration
	for restart := range 5 {
		w := NewWindow(WindowConfig{}, logged)
		if st := w.Status(); st.LifetimeFailures != logged || st.Locked || st.Open {
			t.Fatalf("restart %d: status %+v, want lifetime %d", restart, st, logged)
		}
		if _, err := w.Open(t0.Add(at), 0); err != nil {
			t.Fatalf("restart %d: open: %v", restart, err)
		}
		got := failN(t, w, &at, 20)
		logged += strings.Count(strings.Join(got, ";"), "failed conn=")
		last := got[len(got)-1]
		want := fmt.Sprintf("failed conn=119 window=20 lifetime=%d; closed too-many-failures", logged)
		if restart == 4 {
			want += "; locked lifetime=100"
		}
		if last != want {
			t.Fatalf("restart %d: last failure %q, want %q", restart, last, want)
		}
	}
	w := NewWindow(WindowConfig{}, logged)
	if _, err := w.Open(t0.Add(at), 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("open after %d failures: err %v, want ErrLocked", logged, err)
	}
	if st := w.Status(); !st.Locked || st.LifetimeFailures != 100 {
		t.Fatalf("status %+v", st)
	}
	w.Reset()
	if st := w.Status(); st.Locked || st.LifetimeFailures != 0 {
		t.Fatalf("after reset: %+v", st)
	}
	if _, err := w.Open(t0.Add(at), 0); err != nil {
		t.Fatalf("open after reset: %v", err)
	}
}

func TestWindowNextDeadline(t *testing.T) {
	w := NewWindow(WindowConfig{}, 0)
	check := func(want time.Duration, ok bool) {
		t.Helper()
		d, gotOK := w.NextDeadline()
		if gotOK != ok || (ok && !d.Equal(t0.Add(want))) {
			t.Fatalf("NextDeadline = %v, %v; want +%v, %v", d.Sub(t0), gotOK, want, ok)
		}
	}
	check(0, false)
	w.Open(t0, 0)
	check(3*time.Minute, true)
	w.Begin(t0.Add(10*time.Second), 1)
	check(70*time.Second, true)
	w.Fail(t0.Add(20*time.Second), 1, "wrong code")
	check(3*time.Minute, true)
	w.Begin(t0.Add(170*time.Second), 2)
	check(230*time.Second, true) // past the window's own deadline
	w.Tick(t0.Add(230 * time.Second))
	check(0, false)
	if st := w.Status(); st.Open || st.InSession || st.LifetimeFailures != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestWindowStatus(t *testing.T) {
	w := NewWindow(WindowConfig{}, 3)
	w.Open(t0, 5*time.Minute)
	w.Begin(t0.Add(time.Second), 42)
	want := WindowStatus{
		Open: true, Until: t0.Add(5 * time.Minute),
		InSession: true, Session: 42, SessionDeadline: t0.Add(61 * time.Second),
		LifetimeFailures: 3,
	}
	if st := w.Status(); st != want {
		t.Fatalf("status\n got %+v\nwant %+v", st, want)
	}
	w.Succeed(t0.Add(2*time.Second), 42)
	if st := w.Status(); st != (WindowStatus{LifetimeFailures: 3}) {
		t.Fatalf("after success: %+v", st)
	}
}

func TestWindowConfig(t *testing.T) {
	w := NewWindow(WindowConfig{DefaultOpen: time.Minute, MaxOpen: 2 * time.Minute, SessionTimeout: 5 * time.Second, MaxWindowFailures: 2, MaxLifetimeFailures: 3}, -5)
	if _, err := w.Open(t0, 3*time.Minute); err == nil || !strings.Contains(err.Error(), "at most 2m0s") {
		t.Fatalf("err %v: want it to name the limit", err)
	}
	runScript(t, w, []step{
		{0, "open 3m", "err=duration"},
		{0, "open", "opened until=+1m0s"},
		{0, "begin 1", "started conn=1 deadline=+5s"},
		{5 * time.Second, "tick", "expired conn=1; failed conn=1 window=1 lifetime=1"},
		{6 * time.Second, "begin 2", "started conn=2 deadline=+11s"},
		{6 * time.Second, "fail 2", "failed conn=2 window=2 lifetime=2; closed too-many-failures"},
		{7 * time.Second, "open", "opened until=+1m7s"},
		{7 * time.Second, "begin 3", "started conn=3 deadline=+12s"},
		{7 * time.Second, "fail 3", "failed conn=3 window=1 lifetime=3; closed too-many-failures; locked lifetime=3"},
	})
}

func TestCloseReasonString(t *testing.T) {
	for r, want := range map[CloseReason]string{
		CloseTimeout: "timeout", CloseSuccess: "success", CloseTooManyFailures: "too-many-failures",
		CloseManual: "manual", CloseReset: "reset", 0: "CloseReason(0)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%d: %q, want %q", int(r), got, want)
		}
	}
}
