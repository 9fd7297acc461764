package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/media"
)

// TestLevelWatch drives the status pump's core with a script of levels
// and ticks (times in ms since the watch started).
func TestLevelWatch(t *testing.T) {
	tone := media.Level{RMSDBFS: -15, PeakDBFS: -12, Noise: true}
	type op struct {
		at    int          // ms
		level *media.Level // a level arrives; else a tick
		want  string       // for a tick: "tone" or "floor", and " fault"
	}
	lvl := func(at int) op { return op{at: at, level: &tone} }
	tick := func(at int, want string) op { return op{at: at, want: want} }
	tests := []struct {
		name  string
		noMic bool
		ops   []op
	}{
		{"nothing heard yet, then stalled from the start", false, []op{
			tick(200, "floor"), tick(1000, "floor"), tick(1001, "floor fault"),
		}},
		{"steady levels", false, []op{
			lvl(200), tick(201, "tone"), lvl(400), tick(401, "tone"), lvl(600), tick(601, "tone"),
		}},
		{"a late level is not missed, a stale one is", false, []op{
			lvl(200), tick(400, "tone"), tick(500, "tone"), tick(501, "floor"),
		}},
		{"stall: fault after a second without a level", false, []op{
			lvl(200), lvl(1000), tick(1200, "tone"), tick(1300, "tone"), tick(1400, "floor"),
			tick(2000, "floor"), tick(2001, "floor fault"), tick(5000, "floor fault"),
			lvl(5100), tick(5200, "tone"),
		}},
		{"no real microphone", true, []op{
			tick(200, "floor fault"), lvl(300), tick(400, "tone fault"),
		}},
	}
	ms := func(n int) time.Time { return time.Unix(1000, 0).Add(time.Duration(n) * time.Millisecond) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newLevelWatch(200*time.Millisecond, tt.noMic, ms(0))
			for _, o := range tt.ops {
				if o.level != nil {
					w.level(*o.level, ms(o.at))
					continue
				}
				st := w.status(ms(o.at))
				got := "floor"
				switch {
				case st.RMSDBFS == tone.RMSDBFS && st.PeakDBFS == tone.PeakDBFS && st.Noise:
					got = "tone"
				case st.RMSDBFS != media.MinDBFS || st.PeakDBFS != media.MinDBFS || st.Noise:
					got = "?"
				}
				switch {
				case slices.Equal(st.Faults, []string{control.FaultMicrophone}):
					got += " fault"
				case st.Faults != nil:
					got += " faults?"
				}
				if got != o.want {
					t.Errorf("tick at %dms: %s (%+v), want %s", o.at, got, st, o.want)
				}
			}
		})
	}
}

// trustedConn pairs a raw client with m on one connection: statuses flow
// on it from then on.
func trustedConn(t *testing.T, m *Monitor) *transport.Conn {
	t.Helper()
	c := newClient(t)
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	conn, _ := c.dial(m)
	if err := c.pair(t, conn, conn, m.SetupCode()); err != nil {
		t.Fatal(err)
	}
	return conn
}

type timedStatus struct {
	at time.Time
	control.Status
}

// collectStatuses records the statuses that arrive on conn within d.
func collectStatuses(t *testing.T, conn *transport.Conn, d time.Duration) []timedStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var sts []timedStatus
	for {
		msg, err := conn.Recv(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return sts
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if st, ok := msg.(control.Status); ok {
			sts = append(sts, timedStatus{time.Now(), st})
		}
	}
}

func isTone(st control.Status) bool { return st.RMSDBFS > -20 && st.RMSDBFS < -10 }

// TestStatusReportsStalledMicrophone: with a test tone that plays for a
// second and then hangs, statuses keep arriving every 200 ms through the
// stall, at the floor level, and report the microphone fault from about a
// second into the stall, not before.
func TestStatusReportsStalledMicrophone(t *testing.T) {
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Media: media.ModeTest,
		MediaConfig: media.Config{TestAudio: "tone:1s,stall"}, History: HistoryConfig{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	conn := trustedConn(t, m)
	sts := collectStatuses(t, conn, 3500*time.Millisecond)

	// Statuses keep coming, through the stall too, at the level interval.
	if len(sts) < 10 {
		t.Fatalf("%d statuses in 3.5s, want one every 200ms", len(sts))
	}
	for i := 1; i < len(sts); i++ {
		if gap := sts[i].at.Sub(sts[i-1].at); gap > 450*time.Millisecond {
			t.Errorf("no status for %v before status %d", gap, i)
		}
	}
	if d := time.Since(sts[len(sts)-1].at); d > 450*time.Millisecond {
		t.Errorf("the last status %v before the end, want one every 200ms", d)
	}
	lastTone, firstFault := -1, -1
	for i, st := range sts {
		if isTone(st.Status) {
			lastTone = i
		}
		if firstFault < 0 && slices.Contains(st.Faults, control.FaultMicrophone) {
			firstFault = i
		}
	}
	if lastTone < 2 || firstFault < 0 {
		t.Fatalf("last tone status #%d, first fault #%d, want tone then a fault:\n%s", lastTone, firstFault, describeStatuses(sts))
	}
	stalled := sts[lastTone].at
	faultAfter := sts[firstFault].at.Sub(stalled)
	t.Logf("%d statuses; the fault came %v after the last tone level", len(sts), faultAfter.Round(time.Millisecond))
	if firstFault <= lastTone || faultAfter < 600*time.Millisecond || faultAfter > 1800*time.Millisecond {
		t.Errorf("fault %v after the last tone level, want about 1s:\n%s", faultAfter, describeStatuses(sts))
	}
	for i, st := range sts[firstFault:] {
		if !slices.Equal(st.Faults, []string{control.FaultMicrophone}) {
			t.Errorf("status %d after the first fault has faults %q", i+1, st.Faults)
		}
	}
	if n := len(sts) - 1 - lastTone; n < 8 {
		t.Errorf("%d statuses after the last tone level, want one every 200ms:\n%s", n, describeStatuses(sts))
	}
	for i := range sts {
		if st := sts[i]; st.at.Sub(stalled) > 500*time.Millisecond && (st.RMSDBFS != media.MinDBFS || st.Noise) {
			t.Errorf("status %d during the stall: %+v, want the floor", i, st.Status)
		}
		if sts[i].Listeners != 1 {
			t.Errorf("status %d: %d listeners, want 1", i, sts[i].Listeners)
		}
	}
}

// TestStatusSteadyToneNoFault: the test mode's steady tone is a working
// microphone: no fault, ever.
func TestStatusSteadyToneNoFault(t *testing.T) {
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Media: media.ModeTest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	conn := trustedConn(t, m)
	sts := collectStatuses(t, conn, 2500*time.Millisecond)
	if len(sts) < 10 {
		t.Fatalf("%d statuses in 2.5s, want one every 200ms", len(sts))
	}
	for i, st := range sts {
		if st.Faults != nil || (i > 0 && !isTone(st.Status)) {
			t.Errorf("status %d: %+v, want the tone and no fault", i, st.Status)
		}
	}
}

func describeStatuses(sts []timedStatus) string {
	var b strings.Builder
	for i, st := range sts {
		fmt.Fprintf(&b, "%s #%d %.1f dBFS faults %q\n", st.at.Format("15:04:05.000"), i, st.RMSDBFS, st.Faults)
	}
	return b.String()
}
