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
	op   string // "open [DUR]", "close manual|reset", "begin C [SOURCE]" (SOURCE defaults to sC), "fail C", "abort C", "succeed C", "tick", "reset"
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
		default:
			out = append(out, fmt.Sprintf("unknown %T", e))
		}
	}
	if err != nil {
		name := map[error]string{
			ErrWindowClosed: "window-closed", ErrBusy: "busy", ErrSourceLocked: "source-locked",
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
		src := "s" + f[1]
		if len(f) > 2 {
			src = f[2]
		}
		return fmtEffects(w.Begin(now, arg(), src))
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
		name  string
		steps []step
	}{
		{"closed window refuses", []step{
			{0, "begin 1", "err=window-closed"},
			{0, "tick", ""},
			{0, "close manual", ""},
		}},
		{"wrong code counts once", []step{
			{0, "open", "opened until=+3m0s"},
			{1 * sec, "begin 1", "started conn=1 deadline=+11s"},
			{2 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{3 * sec, "fail 1", ""},  // the same failure reported twice
			{3 * sec, "abort 1", ""}, // then its connection closes
			{2 * min, "tick", ""},    // its old session deadline has passed
			{2 * min, "begin 2", "started conn=2 deadline=+2m10s"},
		}},
		{"success closes the window and cancels the others", []step{
			{0, "open", "opened until=+3m0s"},
			{10 * sec, "begin 1", "started conn=1 deadline=+20s"},
			{11 * sec, "begin 2", "started conn=2 deadline=+21s"},
			{12 * sec, "succeed 1", "paired conn=1; cancelled conn=2; closed success"},
			{13 * sec, "begin 3", "err=window-closed"},
			{14 * sec, "succeed 1", "err=no-session"},
			{15 * sec, "succeed 2", "err=no-session"},
			{4 * min, "tick", ""},
		}},
		{"one session per source, four at once", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1 10.0.0.9", "started conn=1 deadline=+10s"},
			{1 * sec, "begin 2 10.0.0.9", "err=busy"}, // the same device again
			{1 * sec, "begin 1 10.0.0.8", "err=busy"}, // the same connection again
			{1 * sec, "begin 2", "started conn=2 deadline=+11s"},
			{1 * sec, "begin 3", "started conn=3 deadline=+11s"},
			{1 * sec, "begin 4", "started conn=4 deadline=+11s"},
			{2 * sec, "begin 5", "err=busy"}, // every slot is taken
			{2 * sec, "succeed 5", "err=no-session"},
			{2 * sec, "fail 5", ""},
			{3 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{4 * sec, "begin 5", "started conn=5 deadline=+14s"},
		}},
		{"a held session expires uncounted and frees its slot", []step{
			{0, "open", "opened until=+3m0s"},
			{10 * sec, "begin 1", "started conn=1 deadline=+20s"},
			{19 * sec, "tick", ""},
			{20 * sec, "tick", "expired conn=1"},
			{21 * sec, "succeed 1", "err=no-session"},
			{22 * sec, "fail 1", ""},
			{22 * sec, "begin 2", "started conn=2 deadline=+32s"},
		}},
		{"late success without tick fails", []step{
			{0, "open", "opened until=+3m0s"},
			{10 * sec, "begin 1", "started conn=1 deadline=+20s"},
			{20 * sec, "succeed 1", "expired conn=1; err=no-session"},
		}},
		{"window times out", []step{
			{0, "open", "opened until=+3m0s"},
			{3*min - 1, "tick", ""},
			{3 * min, "tick", "closed timeout"},
			{3 * min, "begin 1", "err=window-closed"},
			{4 * min, "tick", ""},
		}},
		{"begin at the deadline without tick", []step{
			{0, "open 5m", "opened until=+5m0s"},
			{5 * min, "begin 1", "closed timeout; err=window-closed"},
		}},
		{"session begun in time may finish after the deadline", []step{
			{0, "open", "opened until=+3m0s"},
			{175 * sec, "begin 1", "started conn=1 deadline=+3m5s"},
			{3 * min, "tick", ""},
			{181 * sec, "begin 2", "err=window-closed"},
			{182 * sec, "succeed 1", "paired conn=1; closed success"},
		}},
		{"late session fails then window closes", []step{
			{0, "open", "opened until=+3m0s"},
			{175 * sec, "begin 1", "started conn=1 deadline=+3m5s"},
			{182 * sec, "fail 1", "failed conn=1 window=1 lifetime=1; closed timeout"},
		}},
		{"late session expires then window closes", []step{
			{0, "open", "opened until=+3m0s"},
			{175 * sec, "begin 1", "started conn=1 deadline=+3m5s"},
			{185 * sec, "tick", "expired conn=1; closed timeout"},
		}},
		{"open while open extends, never shortens, keeps the counts", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+10s"},
			{1 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{1 * min, "open 5m", "opened until=+6m0s extended"},
			{2 * min, "open", "opened until=+6m0s extended"},
			{2 * min, "begin 2", "started conn=2 deadline=+2m10s"},
			{2 * min, "open", "opened until=+6m0s extended"}, // the session carries on
			{2*min + sec, "fail 2", "failed conn=2 window=2 lifetime=2"},
			{6 * min, "tick", "closed timeout"},
			{7 * min, "open", "opened until=+10m0s"}, // a new window: its count restarts
			{7 * min, "begin 3", "started conn=3 deadline=+7m10s"},
			{7 * min, "fail 3", "failed conn=3 window=1 lifetime=3"},
		}},
		{"window duration limits", []step{
			{0, "open 16m", "err=duration"},
			{0, "open -1s", "err=duration"},
			{0, "open 15m", "opened until=+15m0s"},
			{0, "open 15m1s", "err=duration"},
		}},
		{"abort is not a guess", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 7", "started conn=7 deadline=+10s"},
			{5 * sec, "abort 7", ""},
			{5 * sec, "abort 7", ""},
			{6 * sec, "begin 8 s7", "started conn=8 deadline=+16s"},
		}},
		{"manual close cancels sessions without counting", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+10s"},
			{0, "begin 2", "started conn=2 deadline=+10s"},
			{5 * sec, "close manual", "cancelled conn=1; cancelled conn=2; closed manual"},
			{6 * sec, "fail 1", ""},
			{6 * sec, "close manual", ""},
			{7 * sec, "begin 2", "err=window-closed"},
		}},
		{"a source that guessed wrong three times has had its turn", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1 A", "started conn=1 deadline=+10s"},
			{1 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{1 * sec, "begin 2 A", "started conn=2 deadline=+11s"},
			{2 * sec, "fail 2", "failed conn=2 window=2 lifetime=2"},
			{2 * sec, "begin 3 A", "started conn=3 deadline=+12s"},
			{3 * sec, "fail 3", "failed conn=3 window=3 lifetime=3"},
			{3 * sec, "begin 4 A", "err=source-locked"},
			{3 * sec, "begin 5 B", "started conn=5 deadline=+13s"}, // the parent's phone still pairs
			{4 * sec, "succeed 5", "paired conn=5; closed success"},
			{5 * sec, "open", "opened until=+3m5s"}, // a new window: a new turn
			{5 * sec, "begin 6 A", "started conn=6 deadline=+15s"},
		}},
		{"a parent's press while open gives every device a new turn; the window's counts carry on", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1 A", "started conn=1 deadline=+10s"},
			{1 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{1 * sec, "begin 2 A", "started conn=2 deadline=+11s"},
			{2 * sec, "fail 2", "failed conn=2 window=2 lifetime=2"},
			{2 * sec, "begin 3 A", "started conn=3 deadline=+12s"},
			{3 * sec, "fail 3", "failed conn=3 window=3 lifetime=3"},
			{3 * sec, "begin 4 A", "err=source-locked"},
			{4 * sec, "open", "opened until=+3m4s extended"}, // the button at first setup
			{4 * sec, "begin 5 A", "started conn=5 deadline=+14s"},
			{5 * sec, "fail 5", "failed conn=5 window=4 lifetime=4"}, // not a new window
			{5 * sec, "begin 6 A", "started conn=6 deadline=+15s"},
			{6 * sec, "succeed 6", "paired conn=6; closed success"},
		}},
		{"factory reset closes, cancels and clears", []step{
			{0, "open", "opened until=+3m0s"},
			{0, "begin 1", "started conn=1 deadline=+10s"},
			{1 * sec, "fail 1", "failed conn=1 window=1 lifetime=1"},
			{1 * sec, "begin 2", "started conn=2 deadline=+11s"},
			{1 * sec, "reset", "cancelled conn=2; closed reset"},
			{2 * sec, "fail 2", ""},
			{2 * sec, "reset", ""},
			{3 * sec, "open", "opened until=+3m3s"},
			{3 * sec, "begin 3", "started conn=3 deadline=+13s"},
			{4 * sec, "fail 3", "failed conn=3 window=1 lifetime=1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runScript(t, NewWindow(WindowConfig{}, 0), tt.steps)
		})
	}
}

// failN runs n begin/fail pairs from n sources, one second apart,
// starting at *at.
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

// TestWindowTwentiethFailureCloses: 20 wrong codes (from as many
// devices) close the window, cancelling the sessions in progress; the
// next window starts a fresh count, and nothing is ever locked.
func TestWindowTwentiethFailureCloses(t *testing.T) {
	w := NewWindow(WindowConfig{DefaultOpen: 10 * time.Minute, SessionTimeout: time.Minute}, 0)
	var at time.Duration
	runScript(t, w, []step{{0, "open", "opened until=+10m0s"}, {0, "begin 1", "started conn=1 deadline=+1m0s"}})
	got := failN(t, w, &at, 20)
	for i, s := range got[:19] {
		if want := fmt.Sprintf("failed conn=%d window=%d lifetime=%d", 100+i, i+1, i+1); s != want {
			t.Fatalf("failure %d: got %q, want %q", i+1, s, want)
		}
	}
	if want := "failed conn=119 window=20 lifetime=20; cancelled conn=1; closed too-many-failures"; got[19] != want {
		t.Fatalf("20th failure: got %q, want %q", got[19], want)
	}
	runScript(t, w, []step{
		{at, "begin 2", "err=window-closed"},
		{at + time.Minute, "tick", ""},
		{at + time.Minute, "open", "opened until=+11m20s"},
		{at + time.Minute, "begin 2", "started conn=2 deadline=+2m20s"},
		{at + time.Minute, "fail 2", "failed conn=2 window=1 lifetime=21"},
	})
	if st := w.Status(); !st.Open || st.FailuresThisWindow != 1 || st.LifetimeFailures != 21 {
		t.Fatalf("status = %+v", st)
	}
	// 100 windows of 20 wrong codes each: pairing never locks.
	for range 100 {
		w.Close(t0.Add(at), CloseManual)
		if _, err := w.Open(t0.Add(at), 0); err != nil {
			t.Fatalf("open after %d failures: %v", w.Status().LifetimeFailures, err)
		}
		failN(t, w, &at, 20)
	}
	if st := w.Status(); st.Open || st.LifetimeFailures != 2021 || st.LastClose != CloseTooManyFailures {
		t.Fatalf("after 100 windows: %+v", st)
	}
}

// TestWindowSessionBudget: each session costs a key derivation, so one
// source may begin ten per window and the window closes at the Begin
// after the hundredth.
func TestWindowSessionBudget(t *testing.T) {
	w := NewWindow(WindowConfig{DefaultOpen: 10 * time.Minute}, 0)
	runScript(t, w, []step{{0, "open", "opened until=+10m0s"}})
	at := time.Second
	for i := range 10 {
		c := fmt.Sprint(i + 1)
		runScript(t, w, []step{{at, "begin " + c + " A", fmt.Sprintf("started conn=%s deadline=+%v", c, at+10*time.Second)}, {at, "abort " + c, ""}})
	}
	runScript(t, w, []step{{at, "begin 11 A", "err=source-locked"}})
	for i := 10; i < 100; i++ {
		c := fmt.Sprint(i + 1)
		runScript(t, w, []step{{at, "begin " + c, fmt.Sprintf("started conn=%s deadline=+%v", c, at+10*time.Second)}})
		if i < 99 {
			runScript(t, w, []step{{at, "abort " + c, ""}})
		}
	}
	runScript(t, w, []step{
		{at, "begin 200", "cancelled conn=100; closed too-many-failures; err=window-closed"},
		{at, "open", "opened until=+10m1s"},
		{at, "begin 201 A", "started conn=201 deadline=+11s"},
	})
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
	w.Begin(t0.Add(10*time.Second), 1, "a")
	check(20*time.Second, true)
	w.Begin(t0.Add(12*time.Second), 2, "b")
	check(20*time.Second, true)
	w.Fail(t0.Add(15*time.Second), 1, "wrong code")
	check(22*time.Second, true)
	w.Abort(t0.Add(16*time.Second), 2)
	check(3*time.Minute, true)
	w.Begin(t0.Add(175*time.Second), 3, "c")
	check(185*time.Second, true) // past the window's own deadline
	w.Tick(t0.Add(185 * time.Second))
	check(0, false)
	if st := w.Status(); st.Open || st.Sessions != 0 || st.LifetimeFailures != 1 || st.LastClose != CloseTimeout {
		t.Fatalf("status %+v", st)
	}
}

func TestWindowStatus(t *testing.T) {
	w := NewWindow(WindowConfig{}, 3)
	w.Open(t0, 5*time.Minute)
	w.Begin(t0.Add(time.Second), 42, "a")
	w.Begin(t0.Add(time.Second), 43, "b")
	w.Fail(t0.Add(time.Second), 43, "wrong code")
	want := WindowStatus{Open: true, Until: t0.Add(5 * time.Minute), Sessions: 1, FailuresThisWindow: 1, LifetimeFailures: 4}
	if st := w.Status(); st != want {
		t.Fatalf("status\n got %+v\nwant %+v", st, want)
	}
	w.Succeed(t0.Add(2*time.Second), 42)
	if st := w.Status(); st != (WindowStatus{FailuresThisWindow: 1, LifetimeFailures: 4, LastClose: CloseSuccess}) {
		t.Fatalf("after success: %+v", st)
	}
}

func TestWindowConfig(t *testing.T) {
	w := NewWindow(WindowConfig{DefaultOpen: time.Minute, MaxOpen: 2 * time.Minute, SessionTimeout: 5 * time.Second,
		MaxSessions: 1, MaxWindowFailures: 2, MaxSourceFailures: 1, MaxWindowSessions: 3, MaxSourceSessions: 2}, -5)
	if _, err := w.Open(t0, 3*time.Minute); err == nil || !strings.Contains(err.Error(), "at most 2m0s") {
		t.Fatalf("err %v: want it to name the limit", err)
	}
	runScript(t, w, []step{
		{0, "open 3m", "err=duration"},
		{0, "open", "opened until=+1m0s"},
		{0, "begin 1 A", "started conn=1 deadline=+5s"},
		{0, "begin 2 B", "err=busy"},
		{5 * time.Second, "tick", "expired conn=1"},
		{6 * time.Second, "begin 2 A", "started conn=2 deadline=+11s"},
		{6 * time.Second, "abort 2", ""},
		{6 * time.Second, "begin 3 A", "err=source-locked"},
		{6 * time.Second, "begin 3 B", "started conn=3 deadline=+11s"},
		{6 * time.Second, "fail 3", "failed conn=3 window=1 lifetime=1"},
		{6 * time.Second, "begin 4 B", "err=source-locked"},
		{7 * time.Second, "begin 4 C", "closed too-many-failures; err=window-closed"},
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
