package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/store/history"
)

// TestHistorySurvivesSIGKILL: cradled keeps a scripted night (quiet, a
// 2 s tone burst, quiet, a 3 s burst, a 3 s microphone stall, quiet) in
// compressed time (1 s level records, written every second) while nobody
// listens; after a SIGKILL the file holds both episodes and the fault, and
// level records up to the stated loss: the flush interval plus the step in
// progress (and the 2 s a step waits for late levels).
func TestHistorySurvivesSIGKILL(t *testing.T) {
	state := t.TempDir()
	conf := filepath.Join(t.TempDir(), "cradled.toml")
	if err := os.WriteFile(conf, []byte(`media = "test"
test_audio = "quiet:2s,tone:2s,quiet:4s,tone:3s,stall:3s,quiet"
vox_attack = "300ms"
vox_hold = "300ms"
history_step = "1s"
history_flush = "1s"
history_gap = "2s"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	mon := startMonitor(t, nil, state, "127.0.0.1:0", "--config", conf)
	time.Sleep(17 * time.Second)
	killed := time.Now()
	mon.signal(syscall.SIGKILL)
	mon.wait(10 * time.Second)

	db, err := history.Open(filepath.Join(state, history.FileName), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pg, err := db.Read(killed.Add(-time.Hour), killed.Add(time.Hour), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var eps, faults []history.Record
	var lastLevel time.Time
	for _, r := range pg.Records {
		switch r.Kind {
		case history.KindEpisode:
			eps = append(eps, r)
		case history.KindFault:
			faults = append(faults, r)
		case history.KindMinute:
			lastLevel = r.Start
		}
	}
	for _, e := range eps {
		t.Logf("episode %s – %s (%v), peak %.1f dBFS", e.Start.Format("15:04:05.000"), e.End.Format("15:04:05.000"), e.End.Sub(e.Start), e.Peak)
	}
	if len(eps) != 2 {
		t.Fatalf("%d episodes on the card after SIGKILL, want 2", len(eps))
	}
	near := func(what string, got, want, tol time.Duration) {
		t.Helper()
		if (got - want).Abs() > tol {
			t.Errorf("%s: %v, want %v ± %v", what, got, want, tol)
		}
	}
	near("first burst", eps[0].End.Sub(eps[0].Start), 2*time.Second, 400*time.Millisecond)
	near("second burst (ended by the stall: the level interval in progress is lost with it)", eps[1].End.Sub(eps[1].Start), 3*time.Second, 500*time.Millisecond)
	near("from burst to burst", eps[1].Start.Sub(eps[0].Start), 6*time.Second, 400*time.Millisecond)
	if len(faults) != 1 || faults[0].Label != "microphone" || faults[0].Open {
		t.Fatalf("faults %+v, want one microphone fault, ended", faults)
	}
	// The stall starts as the second burst ends; the fault shows after a
	// second without levels (on a 1 s tick) and ends when they resume.
	near("fault after the burst", faults[0].Start.Sub(eps[1].End), time.Second, 1100*time.Millisecond)
	near("fault end", faults[0].End.Sub(eps[1].End), 3*time.Second, 1100*time.Millisecond)
	// The stated loss: the flush interval (1 s), the step in progress
	// (1 s) and the 2 s a step waits for late levels, with a second for
	// scheduling.
	if lost := killed.Sub(lastLevel); lost > 5*time.Second {
		t.Errorf("the last level record on the card starts %v before the SIGKILL, want at most 5 s", lost)
	}
}
