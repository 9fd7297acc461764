package alarm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)

const (
	ms  = time.Millisecond
	sec = time.Second
	min = time.Minute
)

// step is one line of an alarm script: at a time since t0, do op, and expect
// the effects printed as want (see fmtEffects).
//
// Ops: "online", "offline", "listen on|off", "stream", "audio",
// "fault on|off", "noise on|off", "ack", "tick"; and two that stand for
// many calls, printing all their effects: "flow UNTIL" (Audio every 10 ms
// from at to UNTIL, both included, with a Tick at every multiple of 50 ms,
// as the shell does) and "ticks UNTIL" (Tick at every multiple of 50 ms
// from at to UNTIL).
type step struct {
	at   time.Duration
	op   string
	want string
}

func rel(t time.Time) string { return "+" + t.Sub(t0).String() }

// fmtState prints a State: "clear", or "REASON since +T sounding|acked".
func fmtState(s State) string {
	if !s.Active && s == (State{}) {
		return "clear"
	}
	out := fmt.Sprintf("%s since %s", s.Reason, rel(s.Since))
	if s.Sounding {
		out += " sounding"
	}
	if s.Acknowledged {
		out += " acked"
	}
	if !s.Active {
		out += " inactive" // never expected
	}
	return out
}

func fmtEffects(effs []Effect) string {
	var out []string
	for _, e := range effs {
		switch e := e.(type) {
		case AlarmChanged:
			out = append(out, fmtState(e.State))
		case Chime:
			out = append(out, "chime "+rel(e.At))
		default:
			out = append(out, fmt.Sprintf("?%T", e))
		}
	}
	return strings.Join(out, "; ")
}

// every calls f at each multiple of d from from to until, both included
// when they are multiples.
func every(from, until, d time.Duration, f func(at time.Duration)) {
	for at := (from + d - 1) / d * d; at <= until; at += d {
		f(at)
	}
}

func apply(t *testing.T, m *Machine, s step) string {
	t.Helper()
	now := t0.Add(s.at)
	f := strings.Fields(s.op)
	onOff := func() bool {
		if len(f) != 2 || (f[1] != "on" && f[1] != "off") {
			t.Fatalf("%q: want on or off", s.op)
		}
		return f[1] == "on"
	}
	until := func() time.Duration {
		if len(f) != 2 {
			t.Fatalf("%q: missing UNTIL", s.op)
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			t.Fatalf("%q: %v", s.op, err)
		}
		return d
	}
	switch f[0] {
	case "online":
		return fmtEffects(m.Online(now))
	case "offline":
		return fmtEffects(m.Offline(now))
	case "listen":
		return fmtEffects(m.Listening(onOff(), now))
	case "stream":
		return fmtEffects(m.StreamUp(now))
	case "audio":
		return fmtEffects(m.Audio(now))
	case "fault":
		return fmtEffects(m.Faults(onOff(), now))
	case "noise":
		return fmtEffects(m.Noise(onOff(), now))
	case "ack":
		return fmtEffects(m.Ack(now))
	case "tick":
		return fmtEffects(m.Tick(now))
	case "flow":
		var effs []Effect
		every(s.at, until(), 10*ms, func(at time.Duration) {
			effs = append(effs, m.Audio(t0.Add(at))...)
			if at%(50*ms) == 0 {
				effs = append(effs, m.Tick(t0.Add(at))...)
			}
		})
		return fmtEffects(effs)
	case "ticks":
		var effs []Effect
		every(s.at, until(), 50*ms, func(at time.Duration) {
			effs = append(effs, m.Tick(t0.Add(at))...)
		})
		return fmtEffects(effs)
	}
	t.Fatalf("unknown op %q", s.op)
	return ""
}

func runScript(t *testing.T, m *Machine, steps []step) {
	t.Helper()
	var end time.Duration // time only moves forward
	for i, s := range steps {
		if s.at < end {
			t.Fatalf("step %d (+%v %s): time goes back from +%v", i, s.at, s.op, end)
		}
		end = s.at
		if f := strings.Fields(s.op); f[0] == "flow" || f[0] == "ticks" {
			end, _ = time.ParseDuration(f[1])
		}
		if got := apply(t, m, s); got != s.want {
			t.Fatalf("step %d (+%v %s):\n got: %s\nwant: %s", i, s.at, s.op, got, s.want)
		}
	}
}

// listening is the start of most scripts: the parent listens to a monitor
// that is online, and audio flows from +0 to +1s.
var listening = []step{
	{0, "listen on", ""},
	{0, "online", ""},
	{0, "stream", ""},
	{0, "flow 1s", ""},
}

func TestScripts(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"not listening: nothing", Config{}, []step{
			{0, "online", ""},
			{0, "stream", ""},
			{0, "flow 1s", ""},
			{1 * sec, "ticks 10s", ""}, // audio stopped, no grace
			{10 * sec, "fault on", ""},
			{11 * sec, "offline", ""},
			{12 * sec, "noise on", ""},
			{13 * sec, "ack", ""},
			{14 * sec, "ticks 20s", ""},
			{20 * sec, "listen off", ""},
		}},
		{"connecting: no alarm before the first presence", Config{}, []step{
			{0, "listen on", ""},
			{0, "stream", ""},
			{0, "ticks 30s", ""}, // no Online: neither link nor audio is judged
			{30 * sec, "offline", "link lost since +30s sounding"},
		}},
		{"offline first raises link lost", Config{}, []step{
			{0, "offline", ""},
			{1 * sec, "listen on", "link lost since +1s sounding"},
			{2 * sec, "offline", ""},
			{3 * sec, "online", "clear"},
		}},
		{"offline while listening raises link lost at once, online clears it", Config{}, append(listening[:4:4], []step{
			{1 * sec, "offline", "link lost since +1s sounding"},
			{1 * sec, "ticks 5s", ""},
			{5 * sec, "online", "clear"},
			{5 * sec, "stream", ""},
			{5 * sec, "flow 6s", ""},
		}...)},
		{"stream never comes: audio lost at the grace", Config{}, []step{
			{0, "listen on", ""},
			{1 * sec, "online", ""},
			{1 * sec, "ticks 5950ms", ""},
			{6*sec - 1, "tick", ""},
			{6 * sec, "tick", "audio lost since +6s sounding"},
			{6 * sec, "ticks 20s", ""},
			{20 * sec, "audio", "clear"},
		}},
		{"grace runs from the latest of online, stream up, listening", Config{}, []step{
			{0, "online", ""},
			{10 * sec, "listen on", ""}, // online long ago: the grace starts now
			{13 * sec, "stream", ""},    // and again
			{18*sec - 1, "tick", ""},
			{18 * sec, "tick", "audio lost since +18s sounding"},
		}},
		{"packets stop: audio lost 400 ms after the last", Config{}, append(listening[:4:4], []step{
			{1 * sec, "ticks 1350ms", ""},
			{1400*ms - 1, "tick", ""},
			{1400 * ms, "tick", "audio lost since +1.4s sounding"},
			{1400 * ms, "ticks 2s", ""},
			{2 * sec, "audio", "clear"}, // packets resume
			{2 * sec, "flow 3s", ""},
		}...)},
		{"a late packet without ticks shows nothing", Config{}, append(listening[:4:4], []step{
			{1500 * ms, "audio", ""},
			{1500 * ms, "flow 2s", ""},
		}...)},
		{"ack silences but keeps the alarm active", Config{}, append(listening[:4:4], []step{
			{1 * sec, "ticks 1400ms", "audio lost since +1.4s sounding"},
			{3 * sec, "ack", "audio lost since +1.4s acked"},
			{4 * sec, "ack", ""},
			{4 * sec, "ticks 10s", ""},
			{10 * sec, "audio", "clear"},
			{10 * sec, "flow 11s", ""},
			{11 * sec, "ack", ""},
		}...)},
		{"reminder sounds again while the reason holds", Config{}, []step{
			{0, "listen on", ""},
			{0, "offline", "link lost since +0s sounding"},
			{10 * sec, "ack", "link lost since +0s acked"},
			{5*min + 10*sec - 1, "tick", ""},
			{5*min + 10*sec, "tick", "link lost since +0s sounding"},
			{5*min + 20*sec, "ack", "link lost since +0s acked"},
			{10*min + 19*sec, "ticks 10m20s", "link lost since +0s sounding"},
			{11 * min, "online", "clear"},
		}},
		{"reminder applies before an ack at the same time", Config{}, []step{
			{0, "listen on", ""},
			{0, "offline", "link lost since +0s sounding"},
			{0, "ack", "link lost since +0s acked"},
			{5 * min, "ack", ""}, // sounds and is acked again: no net change
			{10*min - 1, "tick", ""},
			{10 * min, "tick", "link lost since +0s sounding"},
		}},
		{"no reminder when the reason clears", Config{}, []step{
			{0, "listen on", ""},
			{0, "offline", "link lost since +0s sounding"},
			{1 * sec, "ack", "link lost since +0s acked"},
			{2 * sec, "online", "clear"},
			{2 * sec, "stream", ""},
			{2 * sec, "flow 6m", ""},
		}},
		{"a different reason sounds again at once", Config{}, append(listening[:4:4], []step{
			{1 * sec, "fault on", "microphone fault since +1s sounding"},
			{1 * sec, "flow 2s", ""},
			{2 * sec, "ack", "microphone fault since +1s acked"},
			{2 * sec, "flow 3s", ""},
			{3 * sec, "offline", "link lost since +3s sounding"},
			{4 * sec, "ack", "link lost since +3s acked"},
			{5 * sec, "online", "microphone fault since +5s sounding"}, // less severe, but new
		}...)},
		{"ack with no alarm does nothing", Config{}, append(listening[:4:4], []step{
			{1 * sec, "ack", ""},
			{1 * sec, "flow 6m", ""}, // no reminder either
		}...)},
		{"microphone fault raised and cleared", Config{}, append(listening[:4:4], []step{
			{1 * sec, "fault on", "microphone fault since +1s sounding"},
			{1 * sec, "flow 3s", ""},
			{3 * sec, "fault on", ""},
			{3 * sec, "fault off", "clear"},
			{3 * sec, "fault off", ""},
		}...)},
		{"microphone fault reported before listening", Config{}, []step{
			{0, "online", ""},
			{0, "fault on", ""},
			{1 * sec, "listen on", "microphone fault since +1s sounding"},
			{2 * sec, "listen off", "clear"},
		}},
		{"severity: link lost over audio lost over microphone fault", Config{}, append(listening[:4:4], []step{
			{1 * sec, "fault on", "microphone fault since +1s sounding"},
			{1 * sec, "ticks 1400ms", "audio lost since +1.4s sounding"},
			{2 * sec, "ack", "audio lost since +1.4s acked"},
			{3 * sec, "offline", "link lost since +3s sounding"},
			{3 * sec, "fault on", ""},
			{4 * sec, "online", "microphone fault since +4s sounding"}, // the reconnect restarts the grace
			{4 * sec, "ticks 8950ms", ""},
			{9 * sec, "tick", "audio lost since +9s sounding"},
			{10 * sec, "fault off", ""},
			{11 * sec, "fault on", ""},
			{12 * sec, "stream", ""}, // not audio yet
			{13 * sec, "audio", "microphone fault since +13s sounding"},
			{13 * sec, "flow 14s", ""},
			{14 * sec, "fault off", "clear"},
		}...)},
		{"reconnect restarts the grace", Config{}, append(listening[:4:4], []step{
			{1 * sec, "offline", "link lost since +1s sounding"},
			{2 * sec, "online", "clear"},
			{2 * sec, "ticks 6950ms", ""},
			{7 * sec, "tick", "audio lost since +7s sounding"},
			{8 * sec, "stream", ""},
			{9 * sec, "audio", "clear"},
		}...)},
		{"repeated online or listening restarts no grace", Config{}, []step{
			{0, "listen on", ""},
			{0, "online", ""},
			{3 * sec, "online", ""},
			{4 * sec, "listen on", ""},
			{5 * sec, "tick", "audio lost since +5s sounding"},
		}},
		{"stream up does not clear audio lost", Config{}, append(listening[:4:4], []step{
			{1 * sec, "ticks 1400ms", "audio lost since +1.4s sounding"},
			{2 * sec, "stream", ""},
			{2 * sec, "ticks 10s", ""},
			{10 * sec, "audio", "clear"},
		}...)},
		{"stream up restarts the grace for the first packet", Config{}, append(listening[:4:4], []step{
			{1 * sec, "stream", ""}, // re-established while audio flowed
			{1 * sec, "ticks 5950ms", ""},
			{6 * sec, "tick", "audio lost since +6s sounding"},
		}...)},
		{"listening off disarms everything", Config{}, append(listening[:4:4], []step{
			{1 * sec, "fault on", "microphone fault since +1s sounding"},
			{2 * sec, "offline", "link lost since +2s sounding"},
			{3 * sec, "listen off", "clear"},
			{3 * sec, "ticks 10m", ""},
			{10 * min, "ack", ""},
			{10 * min, "listen on", "link lost since +10m0s sounding"},
			{11 * min, "online", "microphone fault since +11m0s sounding"},
			{11 * min, "listen off", "clear"},
			{12 * min, "listen on", "microphone fault since +12m0s sounding"},
			{12 * min, "listen off", "clear"},
			{12 * min, "fault off", ""},
			{13 * min, "listen on", ""},
			{13 * min, "ticks 13m4950ms", ""}, // a new grace
			{13*min + 5*sec, "tick", "audio lost since +13m5s sounding"},
		}...)},
		{"chime at most once per interval", Config{}, []step{
			{0, "noise on", ""}, // not listening
			{0, "noise off", ""},
			{0, "listen on", ""},
			{1 * sec, "noise on", "chime +1s"},
			{2 * sec, "noise on", ""}, // no edge
			{3 * sec, "noise off", ""},
			{4 * sec, "noise on", ""}, // too soon: dropped
			{5 * sec, "noise off", ""},
			{11*sec - 1, "noise on", ""},
			{11 * sec, "noise off", ""},
			{11 * sec, "noise on", "chime +11s"},
			{12 * sec, "noise off", ""},
			{30 * sec, "noise on", "chime +30s"},
		}},
		{"noise never affects the alarm", Config{}, []step{
			{0, "listen on", ""},
			{0, "offline", "link lost since +0s sounding"},
			{1 * sec, "ack", "link lost since +0s acked"},
			{2 * sec, "noise on", "chime +2s"},
			{3 * sec, "noise off", ""},
			{5*min + sec, "noise on", "link lost since +0s sounding; chime +5m1s"}, // the reminder was due
		}},
		{"configured times", Config{AudioGap: 100 * ms, StreamGrace: sec, Reminder: 2 * sec, ChimeInterval: 3 * sec}, []step{
			{0, "listen on", ""},
			{0, "online", ""},
			{sec, "tick", "audio lost since +1s sounding"},
			{sec, "audio", "clear"},
			{1100 * ms, "tick", "audio lost since +1.1s sounding"},
			{1200 * ms, "ack", "audio lost since +1.1s acked"},
			{3200 * ms, "tick", "audio lost since +1.1s sounding"},
			{4 * sec, "noise on", "chime +4s"},
			{4 * sec, "noise off", ""},
			{7 * sec, "noise on", "chime +7s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runScript(t, New(tt.cfg), tt.steps)
		})
	}
}

// TestAudioLostWithin500ms drives the machine as the shell does, packets
// every 10 ms and a Tick every 50 ms, stops the packets at every phase
// against the ticks, and checks the alarm comes at least AudioGap and at
// most AudioGap+50 ms (450 ms) after the last packet.
func TestAudioLostWithin500ms(t *testing.T) {
	for phase := time.Duration(0); phase < 50*ms; phase += ms {
		m := New(Config{})
		m.Listening(true, t0)
		m.Online(t0)
		m.StreamUp(t0)
		last := time.Second + phase
		var raised time.Duration
		for at := time.Duration(0); at <= 3*time.Second && raised == 0; at += ms {
			var effs []Effect
			if at%(10*ms) == phase%(10*ms) && at <= last {
				effs = append(effs, m.Audio(t0.Add(at))...)
			}
			if at%(50*ms) == 0 {
				effs = append(effs, m.Tick(t0.Add(at))...)
			}
			for _, e := range effs {
				if c, ok := e.(AlarmChanged); ok && c.State.Reason == AudioLost {
					raised = at
				} else {
					t.Fatalf("phase %v: +%v: unexpected %s", phase, at, fmtEffects([]Effect{e}))
				}
			}
		}
		if gap := raised - last; raised == 0 || gap < 400*ms || gap > 450*ms {
			t.Errorf("phase %v: last packet +%v, alarm +%v: gap %v, want 400ms to 450ms", phase, last, raised, gap)
		}
	}
}

func TestAudioAllocatesNothing(t *testing.T) {
	m := New(Config{})
	runScript(t, m, listening)
	now := t0.Add(time.Second)
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(10 * ms)
		if effs := m.Audio(now); effs != nil {
			t.Fatalf("Audio returned %v", effs)
		}
	})
	if allocs != 0 {
		t.Fatalf("Audio allocates %v times per call", allocs)
	}
	// Nor while an alarm that audio does not clear holds.
	if got, want := fmtEffects(m.Faults(true, now)), "microphone fault since "+rel(now)+" sounding"; got != want {
		t.Fatalf("fault: %s, want %s", got, want)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		now = now.Add(10 * ms)
		if effs := m.Audio(now); effs != nil {
			t.Fatalf("Audio returned %v", effs)
		}
	})
	if allocs != 0 {
		t.Fatalf("Audio allocates %v times per call during an alarm", allocs)
	}
}

func TestNextDeadline(t *testing.T) {
	m := New(Config{})
	check := func(want time.Duration, ok bool) {
		t.Helper()
		d, gotOK := m.NextDeadline()
		if gotOK != ok || (ok && !d.Equal(t0.Add(want))) {
			t.Fatalf("NextDeadline = %v, %v; want +%v, %v", rel(d), gotOK, want, ok)
		}
	}
	check(0, false)
	m.Listening(true, t0)
	check(0, false) // presence unknown
	m.Online(t0.Add(sec))
	check(6*sec, true) // the stream grace
	m.StreamUp(t0.Add(2 * sec))
	check(7*sec, true)
	m.Audio(t0.Add(3 * sec))
	check(3400*ms, true)
	m.Tick(t0.Add(3400 * ms)) // audio lost
	check(0, false)
	m.Ack(t0.Add(4 * sec))
	check(5*min+4*sec, true) // the reminder
	m.Audio(t0.Add(5 * sec))
	check(5400*ms, true)
	m.Offline(t0.Add(6 * sec))
	check(0, false)
	m.Ack(t0.Add(7 * sec))
	check(5*min+7*sec, true)
	m.Listening(false, t0.Add(8*sec))
	check(0, false)
}

func TestState(t *testing.T) {
	m := New(Config{})
	if st := m.State(); st != (State{}) {
		t.Fatalf("new: %+v", st)
	}
	m.Listening(true, t0)
	m.Offline(t0.Add(sec))
	m.Ack(t0.Add(2 * sec))
	want := State{Active: true, Reason: LinkLost, Since: t0.Add(sec), Acknowledged: true}
	if st := m.State(); st != want {
		t.Fatalf("state\n got %+v\nwant %+v", st, want)
	}
}

func TestConfig(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if err := (Config{AudioGap: 300 * ms, StreamGrace: sec, Reminder: min, ChimeInterval: sec}).Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []Config{{AudioGap: -1}, {StreamGrace: -1}, {Reminder: -1}, {ChimeInterval: -1}} {
		err := c.Validate()
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v, want ErrConfig", c, err)
		}
	}
	if err := (Config{Reminder: -time.Second}).Validate(); err == nil || !strings.Contains(err.Error(), "Reminder is -1s") {
		t.Errorf("err %v: want it to name the field and value", err)
	}
	want := Config{DefaultAudioGap, DefaultStreamGrace, DefaultReminder, DefaultChimeInterval}
	if got := New(Config{AudioGap: -1}).cfg; got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
}

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{
		None: "none", LinkLost: "link lost", AudioLost: "audio lost",
		MicrophoneFault: "microphone fault", Refused: "access refused", 9: "Reason(9)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%d: %q, want %q", int(r), got, want)
		}
	}
	if !(LinkLost > AudioLost && AudioLost > MicrophoneFault && MicrophoneFault > None) {
		t.Error("reasons are not ordered by severity")
	}
}
