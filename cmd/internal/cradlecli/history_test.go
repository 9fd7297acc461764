package cradlecli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// cet is the zone the formatting tests print in: a fixed one, so that
// the tests do not depend on the machine's.
var cet = time.FixedZone("CET", 3600)

// night is a canned night: 19:00 to 07:00 CET, 7 to 8 December 2026.
func night() historyReport {
	at := func(day, h, m int) int64 { return time.Date(2026, 12, day, h, m, 0, 0, cet).UnixMilli() }
	return historyReport{
		Monitor: "Nursery", Since: 12 * time.Hour,
		From: time.Date(2026, 12, 7, 19, 0, 0, 0, cet), To: time.Date(2026, 12, 8, 7, 0, 0, 0, cet),
		H: control.History{
			NowMillis: at(8, 7, 0), StepMillis: 60000, Days: 30,
			Minutes: [][4]int64{{at(7, 19, 0), -612, -580, -410}, {at(7, 19, 1), -600, -571, -402}},
			Episodes: []control.HistoryEpisode{
				{StartMillis: at(7, 22, 14), EndMillis: at(7, 22, 26), PeakDecidB: -123},
				{StartMillis: at(8, 1, 3), EndMillis: at(8, 1, 3) + 40000, PeakDecidB: -250},
				{StartMillis: at(8, 3, 30), EndMillis: at(8, 4, 10), PeakDecidB: -87},
			},
			Faults: []control.HistoryFault{{Fault: control.FaultMicrophone, StartMillis: at(8, 2, 0), EndMillis: at(8, 2, 5)}},
			Connections: []control.HistoryConnection{
				{Name: "Kitchen laptop", Kind: "listener", StartMillis: at(5, 9, 30), EndMillis: at(8, 7, 0), Ongoing: true},
				{Name: "Bedside phone", Kind: "phone", StartMillis: at(7, 22, 15), EndMillis: at(7, 22, 40)},
			},
		},
	}
}

// quiet is the same range with nothing in it.
func quiet() historyReport {
	r := night()
	r.H = control.History{NowMillis: r.To.UnixMilli(), StepMillis: 60000, Days: 30}
	return r
}

func TestHistoryText(t *testing.T) {
	noisy := night()
	noisy.H.Episodes = append(noisy.H.Episodes, control.HistoryEpisode{
		StartMillis: noisy.To.Add(-3 * time.Minute).UnixMilli(), EndMillis: noisy.To.UnixMilli(), PeakDecidB: -52, Ongoing: true})
	long := quiet()
	long.Since = 72 * time.Hour
	long.From = long.To.Add(-long.Since)
	long.H.Episodes = []control.HistoryEpisode{{StartMillis: long.From.Add(time.Hour).UnixMilli(), EndMillis: long.From.Add(time.Hour + 90*time.Minute).UnixMilli(), PeakDecidB: -300}}
	for _, c := range []struct {
		name string
		r    historyReport
		want string
	}{
		{"night", night(), `Nursery, the last 12h: 2 wake-ups, the longest 40 min, 1 short noise, quiet since 04:10

Noise (3):
  FROM   TO     LENGTH  PEAK
  22:14  22:26  12 min  -12.3 dBFS
  01:03  01:03  40 s    -25.0 dBFS
  03:30  04:10  40 min  -8.7 dBFS

Faults, when the monitor could not hear (1):
  WHAT        FROM   TO     LENGTH
  microphone  02:00  02:05  5 min

Listeners connected (2):
  WHO                        FROM          TO
  Kitchen laptop (listener)  Dec 05 09:30  now
  Bedside phone (phone)      22:15         22:40
`},
		{"nothing", quiet(), `Nursery, the last 12h: no wake-ups, quiet throughout

No noise in the last 12h.

No microphone faults in the last 12h: the monitor could hear throughout.

No listener connected in the last 12h.
`},
		{"noise now", noisy, `Nursery, the last 12h: 3 wake-ups, the longest 40 min, 1 short noise, noise now (since 06:57)

Noise (4):
  FROM   TO     LENGTH  PEAK
  22:14  22:26  12 min  -12.3 dBFS
  01:03  01:03  40 s    -25.0 dBFS
  03:30  04:10  40 min  -8.7 dBFS
  06:57  now    3 min   -5.2 dBFS

Faults, when the monitor could not hear (1):
  WHAT        FROM   TO     LENGTH
  microphone  02:00  02:05  5 min

Listeners connected (2):
  WHO                        FROM          TO
  Kitchen laptop (listener)  Dec 05 09:30  now
  Bedside phone (phone)      22:15         22:40
`},
		{"three days", long, `Nursery, the last 72h: 1 wake-up, the longest 1 h 30 min, quiet since 09:30

Noise (1):
  FROM          TO            LENGTH      PEAK
  Dec 05 08:00  Dec 05 09:30  1 h 30 min  -30.0 dBFS

No microphone faults in the last 72h: the monitor could hear throughout.

No listener connected in the last 72h.
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.r.writeText(&b, cet); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), c.want)
			}
		})
	}
}

func TestHistoryJSON(t *testing.T) {
	decode := func(r historyReport) (historyJSON, map[string]any) {
		t.Helper()
		var b bytes.Buffer
		if err := r.writeJSON(&b, cet); err != nil {
			t.Fatal(err)
		}
		var typed historyJSON
		var raw map[string]any
		if err := json.Unmarshal(b.Bytes(), &typed); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		return typed, raw
	}
	n := night()
	got, _ := decode(n)
	want := summaryJSON{Wakeups: 2, Short: 1, LongestMillis: 40 * 60000, QuietSinceMillis: n.H.Episodes[2].EndMillis,
		Text: "2 wake-ups, the longest 40 min, 1 short noise, quiet since 04:10"}
	if got.Summary != want {
		t.Errorf("summary %+v, want %+v", got.Summary, want)
	}
	if got.FromMillis != n.From.UnixMilli() || got.ToMillis != n.To.UnixMilli() || got.NowMillis != n.H.NowMillis || got.Monitor != "Nursery" || got.StepMillis != 60000 || got.Days != 30 {
		t.Errorf("header %+v", got)
	}
	if len(got.Episodes) != 3 || got.Episodes[0] != (episodeJSON{n.H.Episodes[0].StartMillis, n.H.Episodes[0].EndMillis, 12 * 60000, -12.3, false}) {
		t.Errorf("episodes %+v", got.Episodes)
	}
	if len(got.Faults) != 1 || got.Faults[0].Fault != "microphone" || got.Faults[0].LengthMillis != 5*60000 {
		t.Errorf("faults %+v", got.Faults)
	}
	if len(got.Connections) != 2 || !got.Connections[0].Ongoing || got.Connections[1].Name != "Bedside phone" || got.Connections[1].Kind != "phone" {
		t.Errorf("connections %+v", got.Connections)
	}
	if len(got.Minutes) != 2 || got.Minutes[0] != (minuteJSON{n.H.Minutes[0][0], -61.2, -58, -41}) {
		t.Errorf("minutes %+v", got.Minutes)
	}

	// Nothing: empty lists, never null; no quiet_since or noise_since.
	_, raw := decode(quiet())
	for _, k := range []string{"episodes", "faults", "connections", "minutes"} {
		if l, ok := raw[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, raw[k])
		}
	}
	s := raw["summary"].(map[string]any)
	if _, ok := s["quiet_since_ms"]; ok {
		t.Errorf("quiet_since_ms present without an episode: %v", s)
	}
	if _, ok := s["noise_since_ms"]; ok {
		t.Errorf("noise_since_ms present without noise: %v", s)
	}
	if s["text"] != "no wake-ups, quiet throughout" || s["wakeups"] != 0.0 || s["noise"] != false {
		t.Errorf("summary %v", s)
	}
}

func TestHistoryUsage(t *testing.T) {
	for _, args := range [][]string{
		{"history"},
		{"history", "--json"},
		{"history", "Nursery", "Kitchen"},
		{"history", "Nursery", "--since", "0s"},
		{"history", "Nursery", "--since", "-1h"},
		{"history", "Nursery", "--since", "2209h"},
		{"history", "Nursery", "--since", "12"},
	} {
		if err := Check(args); err == nil || !strings.Contains(err.Error(), "exit 2") {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{
		{"history", "Nursery"},
		{"history", "Nursery", "--since", "8h", "--json"},
		{"history", "--since", "2208h", "Nursery"},
	} {
		if err := Check(args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestClockNote(t *testing.T) {
	now := time.Date(2026, 12, 8, 7, 0, 0, 0, cet)
	for _, c := range []struct {
		monitor time.Time
		want    string
	}{
		{now.Add(90 * time.Second), ""},
		{now.Add(-90 * time.Second), ""},
		{now.Add(10 * time.Minute), "the monitor's clock reads 2026-12-08 07:10:00, 10 min ahead of this computer's: its history is timed by its own clock (has it reached a time server?)"},
		{time.UnixMilli(0), "the monitor's clock reads 1970-01-01 01:00:00, 20795 days behind this computer's: its history is timed by its own clock (has it reached a time server?)"},
	} {
		if got := clockNote(now, c.monitor.UnixMilli(), cet); got != c.want {
			t.Errorf("monitor at %v: %q, want %q", c.monitor, got, c.want)
		}
	}
}
