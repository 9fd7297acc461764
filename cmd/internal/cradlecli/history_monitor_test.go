package cradlecli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/store/history"
)

// seededNight is what seedHistory writes: times of the night, by the
// wall clock.
type seededNight struct {
	wakeStart, wakeEnd   time.Time // a 12-minute episode, peak -12.3 dBFS
	shortStart, shortEnd time.Time // a 30-second one, peak -25.0 dBFS
	faultStart, faultEnd time.Time // the microphone, 5 minutes
	connStart, connEnd   time.Time // "Bedside phone", a phone, 20 minutes
	quiet                time.Time // the last episode's end
}

// seedHistory writes a night into the history file of a monitor's state
// directory before the monitor opens it, as a monitor that ran then
// would have: levels every second, from start for span, through the
// store's own Recorder and DB.
func seedHistory(t *testing.T, stateDir string, start time.Time) seededNight {
	t.Helper()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := history.Open(filepath.Join(stateDir, history.FileName), history.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := history.NewRecorder(history.Config{}, db.Boot())
	at := func(mono time.Duration) history.Now { return history.Now{Wall: start.Add(mono), Mono: mono} }
	var n seededNight
	mark := func(mono time.Duration) time.Time { return start.Add(mono).Truncate(time.Millisecond) }
	mono := time.Duration(0)
	level := func(d time.Duration, noise bool, peak float64) {
		for end := mono + d; mono < end; mono += time.Second {
			rms := -60.0
			if noise {
				rms = -25
			}
			rec.Level(history.Level{Mono: mono, RMSDBFS: rms, PeakDBFS: peak, Noise: noise}, at(mono))
		}
	}
	level(10*time.Minute, false, -50)
	n.wakeStart = mark(mono)
	level(12*time.Minute, true, -12.3)
	n.wakeEnd = mark(mono)
	level(20*time.Minute, false, -50)
	rec.Fault(control.FaultMicrophone, true, at(mono))
	n.faultStart = mark(mono)
	mono += 5 * time.Minute // the microphone delivered nothing
	rec.Fault(control.FaultMicrophone, false, at(mono))
	n.faultEnd = mark(mono)
	level(10*time.Minute, false, -50)
	rec.ConnOpen("c1", "phone", "Bedside phone", at(mono))
	n.connStart = mark(mono)
	n.shortStart = mark(mono)
	level(30*time.Second, true, -25)
	n.shortEnd = mark(mono)
	n.quiet = n.shortEnd
	level(20*time.Minute-30*time.Second, false, -50)
	rec.ConnClose("c1", at(mono))
	n.connEnd = mark(mono)
	level(5*time.Minute, false, -50)
	if err := db.Apply(rec.Flush(at(mono), true)); err != nil {
		t.Fatal(err)
	}
	return n
}

// pairedMonitor starts a monitor on loopback whose history holds a night
// seeded 6 hours ago, and pairs a listener state directory with it.
func pairedMonitor(t *testing.T, cfg monitor.Config) (*monitor.Monitor, string, seededNight) {
	t.Helper()
	dir := t.TempDir()
	cfg.StateDir, cfg.Listen = filepath.Join(dir, "monitor"), "127.0.0.1:0"
	n := seedHistory(t, cfg.StateDir, time.Now().Add(-6*time.Hour).Truncate(time.Minute))
	m, err := monitor.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ldir := filepath.Join(dir, "listener")
	if _, errs, code := runCLI("--state-dir", ldir, "--mdns=false", "--name", "Kitchen laptop",
		"pair", m.Addr().String(), "--code", m.SetupCode().String(), "--timeout", "10s"); code != 0 {
		t.Fatalf("pair: exit %d: %s", code, errs)
	}
	return m, ldir, n
}

// TestHistoryFromMonitor: cradle history reads a real monitor's seeded
// history over the control channel and prints its summary and tables,
// as text and as JSON.
func TestHistoryFromMonitor(t *testing.T) {
	m, ldir, n := pairedMonitor(t, monitor.Config{})
	hm := func(t time.Time) string { return t.Local().Format("15:04") }

	out, errs, code := runCLI("--state-dir", ldir, "--mdns=false", "history", "Nursery", "--since", "12h")
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errs)
	}
	t.Logf("cradle history:\n%s", out)
	// Lines compared word by word: the tables' widths depend on the rows.
	lines := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{
		"Nursery, the last 12h: 1 wake-up, the longest 12 min, 1 short noise, quiet since " + hm(n.quiet),
		fmt.Sprintf("%s %s 12 min -12.3 dBFS", hm(n.wakeStart), hm(n.wakeEnd)),
		fmt.Sprintf("%s %s 30 s -25.0 dBFS", hm(n.shortStart), hm(n.shortEnd)),
		fmt.Sprintf("microphone %s %s 5 min", hm(n.faultStart), hm(n.faultEnd)),
		fmt.Sprintf("Bedside phone (phone) %s %s", hm(n.connStart), hm(n.connEnd)),
		"Noise (2):",
	} {
		if !lines[want] {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}

	out, errs, code = runCLI("--state-dir", ldir, "--mdns=false", "history", "Nursery", "--json")
	if code != 0 {
		t.Fatalf("history --json: exit %d: %s", code, errs)
	}
	var j historyJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	if j.Summary.Wakeups != 1 || j.Summary.Short != 1 || j.Summary.LongestMillis != 12*60000 {
		t.Errorf("summary %+v", j.Summary)
	}
	if j.ToMillis-j.FromMillis != 12*3600*1000 || j.StepMillis != 60000 || j.Days <= 0 {
		t.Errorf("range %d..%d, step %d, days %d", j.FromMillis, j.ToMillis, j.StepMillis, j.Days)
	}
	if len(j.Episodes) < 2 || j.Episodes[0].StartMillis != n.wakeStart.UnixMilli() || j.Episodes[0].PeakDBFS != -12.3 {
		t.Errorf("episodes %+v, want the first at %d", j.Episodes, n.wakeStart.UnixMilli())
	}
	if len(j.Minutes) < 77 { // the seeded night has 77 minutes of levels, the monitor's own may follow
		t.Errorf("%d minutes, want the 77 seeded", len(j.Minutes))
	}

	// Gone: the monitor does not answer, and history says so.
	m.Close()
	_, errs, code = runCLI("--state-dir", ldir, "--mdns=false", "history", "Nursery", "--timeout", "2s")
	if code != ExitUnreachable || !strings.Contains(errs, "did not answer") {
		t.Errorf("history of a stopped monitor: exit %d, %s", code, errs)
	}
}

// TestHistoryOff: a monitor that keeps no history says so, and cradle
// history passes it on.
func TestHistoryOff(t *testing.T) {
	_, ldir, _ := pairedMonitor(t, monitor.Config{History: monitor.HistoryConfig{Off: true}})
	out, errs, code := runCLI("--state-dir", ldir, "--mdns=false", "history", "Nursery")
	if code != ExitError || !strings.Contains(errs, "Nursery refused: this monitor keeps no history (history_days = 0)") || out != "" {
		t.Errorf("history of a monitor without one: exit %d, stdout %q, stderr %s", code, out, errs)
	}
}
