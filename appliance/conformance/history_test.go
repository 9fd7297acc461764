package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/store/history"
	"github.com/cradle-monitor/cradle/store/history/historytest"
)

// seedDays writes days of a realistic history (historytest.Fill: levels,
// wake-ups, connections, a fault a day) ending about now into the
// history of a monitor's state directory, before the monitor opens it.
func seedDays(t *testing.T, stateDir string, days int) {
	t.Helper()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := history.Open(filepath.Join(stateDir, history.FileName), history.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	from := time.Now().Add(-time.Duration(days) * 24 * time.Hour).Truncate(time.Hour)
	if err := historytest.Fill(db, from, days, historytest.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestRunHistory runs the checks against a monitor whose history holds
// 30 days, many pages: the longest range comes in bounded pages and the
// bad ranges are refused.
func TestRunHistory(t *testing.T) {
	dir := t.TempDir()
	seedDays(t, dir, 30)
	m, err := monitor.Open(monitor.Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Run(ctx, m.Addr().String(), Options{Fingerprint: m.Fingerprint(), SetupCode: string(m.SetupCode())}, &out)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{historyStrangerName, historyPagesName, historyBadName} {
		found := false
		for _, r := range rep.Results {
			if r.Name != name {
				continue
			}
			found = true
			if r.Err != nil || r.Skipped != "" {
				t.Errorf("%s: %v %s", name, r.Err, r.Skipped)
			}
			var records, pages int
			if name == historyPagesName {
				if _, err := fmt.Sscanf(r.Note, "%d records in %d pages", &records, &pages); err != nil || pages < 10 || records < 30*1440 {
					t.Errorf("30 days read as %q: want every minute, in many pages", r.Note)
				}
			}
		}
		if !found {
			t.Errorf("%s: not run", name)
		}
	}
	if !rep.OK() {
		t.Errorf("%d checks failed", rep.Failed)
	}
}

// TestCheckPage: the page checks of Run catch each way a page can be
// wrong.
func TestCheckPage(t *testing.T) {
	req := control.HistoryRequest{FromMillis: 1_000_000, ToMillis: 2_000_000}
	good := func() control.History {
		return control.History{NowMillis: 2_000_000, StepMillis: 60000, Days: 30,
			Minutes:     [][4]int64{{1_000_000, -600, -580, -500}, {1_060_000, -600, -580, -500}},
			Episodes:    []control.HistoryEpisode{{StartMillis: 900_000, EndMillis: 1_100_000, PeakDecidB: -100}},
			Connections: []control.HistoryConnection{{Name: "a", Kind: "listener", StartMillis: 1_500_000, EndMillis: 2_000_000, Ongoing: true}}}
	}
	many := good()
	for i := range MaxHistoryRecords {
		many.Minutes = append(many.Minutes, [4]int64{1_100_000 + int64(i), 0, 0, 0})
	}
	for _, c := range []struct {
		name      string
		h         control.History
		size      int
		lastStart int64
		want      string // "" passes
	}{
		{"good", good(), 500, -1, ""},
		{"a frame over 64 KiB", good(), control.MaxFrame + 1, -1, "over 64 KiB"},
		{"too many records", many, 500, -1, "records, over"},
		{"no step", func() control.History { h := good(); h.StepMillis = 0; return h }(), 500, -1, "must be positive"},
		{"minutes out of order", func() control.History {
			h := good()
			h.Minutes[0], h.Minutes[1] = h.Minutes[1], h.Minutes[0]
			return h
		}(), 500, -1, "not in start order"},
		{"an episode before the range", func() control.History {
			h := good()
			h.Episodes[0].EndMillis = 1_000_000
			return h
		}(), 500, -1, "outside the range"},
		{"a connection at the range's end", func() control.History {
			h := good()
			h.Connections[0].StartMillis = 2_000_000
			return h
		}(), 500, -1, "outside the range"},
		{"ends before it starts", func() control.History {
			h := good()
			h.Episodes[0].EndMillis = 800_000
			return h
		}(), 500, -1, "ends"},
		{"before the last page", good(), 500, 1_200_000, "before one of an earlier page"},
	} {
		t.Run(c.name, func(t *testing.T) {
			last := c.lastStart
			err := checkPage(c.h, req, c.size, &last)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			case c.want == "" && last != 1_500_000:
				t.Errorf("last start %d, want 1500000", last)
			}
		})
	}
}
