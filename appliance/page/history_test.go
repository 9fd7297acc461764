package page

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store/history"
	"github.com/cradle-monitor/cradle/store/history/historytest"
)

// The night at a glance: a scripted night written into a history.db with
// store/history's Recorder, as the monitor records one, then read and
// drawn by the page.

// phoneZone is a time zone in which it is now mid-afternoon (14:xx), so
// that the latest night (history.Night(now, 0), 18:00 to 10:00) is over
// whenever the test runs, and the monitor's own recording (now) falls in
// no night shown: its name for chromium (Etc/GMT-3 is three hours east
// of UTC) and the same offset for Go.
func phoneZone(now time.Time) (string, *time.Location) { return zoneAt(now, 14) }

// zoneAt is a time zone (as phoneZone) in which it is now hour:xx.
func zoneAt(now time.Time, hour int) (string, *time.Location) {
	h := (hour - now.UTC().Hour() + 48) % 24
	if h > 14 {
		h -= 24
	}
	name := "Etc/GMT"
	switch {
	case h > 0:
		name += "-" + strconv.Itoa(h)
	case h < 0:
		name += "+" + strconv.Itoa(-h)
	}
	return name, time.FixedZone(name, h*3600)
}

// span is an interval of the scripted night.
type span struct{ start, end time.Time }

// nightScript is what seedNight wrote: a night [from, to) in loc.
type nightScript struct {
	from, to time.Time
	loc      *time.Location
	episodes []span // the noise, in order
	fault    span   // the microphone
	off      span   // no levels, no fault: the monitor heard nothing
	conns    []span // a phone, then a listener, listened
	summary  history.Summary
}

// at is the night's clock: h:m:s local, on the night's first day for
// 18:00 and later, else on the next.
func (s nightScript) at(h, m, sec int) time.Time {
	y, mo, d := s.from.Date()
	if h < history.NightStart {
		d++
	}
	return time.Date(y, mo, d, h, m, sec, 0, s.loc)
}

// seedNight writes the night back nights before the latest one (in loc)
// into a new history.db at path, as a monitor records it: levels every
// second from 19:00 to 07:00, quiet (about -62 dBFS) but for a cough
// (20 s at 21:40), a burst of 3 min at 23:10 and one of 12 min at 02:05;
// nothing heard 01:00-01:30 (the monitor off); the microphone failed
// 03:20-03:26. A phone listened 22:45-23:40, a listener 02:00-02:30.
func seedNight(t testing.TB, path string, loc *time.Location, back int) nightScript {
	t.Helper()
	s := nightScript{loc: loc}
	s.from, s.to = history.Night(time.Now().In(loc), back)
	s.episodes = []span{
		{s.at(21, 40, 0), s.at(21, 40, 20)},
		{s.at(23, 10, 0), s.at(23, 13, 0)},
		{s.at(2, 5, 0), s.at(2, 17, 0)},
	}
	s.off = span{s.at(1, 0, 0), s.at(1, 30, 0)}
	s.fault = span{s.at(3, 20, 0), s.at(3, 26, 0)}
	s.conns = []span{{s.at(22, 45, 0), s.at(23, 40, 0)}, {s.at(2, 0, 0), s.at(2, 30, 0)}}
	s.summary = history.Summary{Wakeups: 2, Short: 1, Longest: 12 * time.Minute, QuietSince: s.episodes[2].end}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := history.Open(path, history.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := history.NewRecorder(history.Config{}, db.Boot())
	now := func(w time.Time) history.Now { return history.Now{Wall: w, Mono: w.Sub(s.from)} }
	in := func(w time.Time, sp span) bool { return !w.Before(sp.start) && w.Before(sp.end) }
	end := s.at(7, 0, 0)
	for w, i := s.at(19, 0, 0), 0; w.Before(end); w, i = w.Add(time.Second), i+1 {
		switch {
		case in(w, s.off):
			continue
		case w.Equal(s.fault.start):
			rec.Fault(control.FaultMicrophone, true, now(w))
		case w.Equal(s.fault.end):
			rec.Fault(control.FaultMicrophone, false, now(w))
		case w.Equal(s.conns[0].start):
			rec.ConnOpen("a", "phone", "Bedside phone", now(w))
		case w.Equal(s.conns[0].end):
			rec.ConnClose("a", now(w))
		case w.Equal(s.conns[1].start):
			rec.ConnOpen("b", "listener", "Kitchen", now(w))
		case w.Equal(s.conns[1].end):
			rec.ConnClose("b", now(w))
		}
		if in(w, s.fault) {
			rec.Observe(now(w))
			continue
		}
		rms, noise := -62+3*math.Sin(float64(i)/50), false
		for k, e := range s.episodes {
			if in(w, e) {
				rms, noise = -30+float64(4*k), true
			}
		}
		rec.Level(history.Level{Mono: w.Sub(s.from), RMSDBFS: rms, PeakDBFS: rms + 6, Noise: noise}, now(w))
		rec.Observe(now(w))
		if i%300 == 0 { // the monitor flushes every 5 minutes
			if err := db.Apply(rec.Flush(now(w), false)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Apply(rec.Flush(now(end), true)); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHistoryRange: the endpoint's range is from/to (Unix ms) as the page
// sends it, or night=N in the server's local time (none: the latest
// night), at most 31 days (its last 31); anything else is refused.
func TestHistoryRange(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, loc)
	night := func(back int) [2]time.Time { f, to := history.Night(now, back); return [2]time.Time{f, to} }
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	end := time.Date(2026, 12, 7, 10, 0, 0, 0, loc)
	for _, tc := range []struct {
		q    string
		want [2]time.Time // zero: refused
	}{
		{"", night(0)},
		{"night=0", night(0)},
		{"night=3", night(3)},
		{"from=" + ms(end.Add(-16*time.Hour)) + "&to=" + ms(end), [2]time.Time{end.Add(-16 * time.Hour), end}},
		{"from=" + ms(end.Add(-40*24*time.Hour)) + "&to=" + ms(end), [2]time.Time{end.Add(-31 * 24 * time.Hour), end}},
		{"night=-1", [2]time.Time{}},
		{"night=x", [2]time.Time{}},
		{"night=1000", [2]time.Time{}},
		{"night=1&from=1", [2]time.Time{}},
		{"from=" + ms(end), [2]time.Time{}},
		{"from=" + ms(end) + "&to=" + ms(end), [2]time.Time{}},
		{"from=" + ms(end) + "&to=" + ms(end.Add(-time.Hour)), [2]time.Time{}},
		{"from=0&to=" + ms(end), [2]time.Time{}},
		{"from=1e3&to=" + ms(end), [2]time.Time{}},
		{"night=1&night=2", [2]time.Time{}},
	} {
		q, _ := url.ParseQuery(tc.q)
		from, to, ok := historyRange(q, now)
		if ok != !tc.want[0].IsZero() || ok && (!from.Equal(tc.want[0]) || !to.Equal(tc.want[1])) {
			t.Errorf("%q: %v %v %v, want %v", tc.q, from, to, ok, tc.want)
		}
	}
}

// historyAnswer decodes the endpoint's JSON.
type historyAnswer struct {
	FromMillis int64 `json:"from_ms"`
	ToMillis   int64 `json:"to_ms"`
	control.History
	Summary summaryView `json:"summary"`
}

// checkAnswer compares an answer for the scripted night with the script.
func checkAnswer(t *testing.T, got historyAnswer, s nightScript) {
	t.Helper()
	if got.FromMillis != s.from.UnixMilli() || got.ToMillis != s.to.UnixMilli() {
		t.Errorf("range [%d, %d), want the night [%d, %d)", got.FromMillis, got.ToMillis, s.from.UnixMilli(), s.to.UnixMilli())
	}
	if len(got.Episodes) != len(s.episodes) {
		t.Fatalf("%d episodes %+v, want %d", len(got.Episodes), got.Episodes, len(s.episodes))
	}
	for i, e := range got.Episodes {
		if e.StartMillis != s.episodes[i].start.UnixMilli() || e.EndMillis != s.episodes[i].end.UnixMilli() {
			t.Errorf("episode %d: [%d, %d], want %v", i, e.StartMillis, e.EndMillis, s.episodes[i])
		}
	}
	if len(got.Faults) != 1 || got.Faults[0].Fault != control.FaultMicrophone || got.Faults[0].StartMillis != s.fault.start.UnixMilli() || got.Faults[0].EndMillis != s.fault.end.UnixMilli() {
		t.Errorf("faults %+v, want the microphone %v", got.Faults, s.fault)
	}
	if len(got.Connections) != 2 || got.Connections[0].Name != "Bedside phone" || got.Connections[0].Kind != "phone" || got.Connections[1].Kind != "listener" ||
		got.Connections[1].StartMillis != s.conns[1].start.UnixMilli() || got.Connections[1].EndMillis != s.conns[1].end.UnixMilli() {
		t.Errorf("connections %+v, want the phone's and the listener's", got.Connections)
	}
	// 19:00-07:00 but the half hour off and the fault's six minutes.
	if want := 12*60 - 30 - 6; len(got.Minutes) != want {
		t.Errorf("%d minutes, want %d", len(got.Minutes), want)
	}
	want := summaryOf(s.summary)
	if got.Summary != want {
		t.Errorf("summary %+v, want %+v", got.Summary, want)
	}
}

// TestHistoryNight: the monitor's history (a night seeded into its
// history.db before it opens) read by the dashboard and drawn by the
// page in a browser at phone size, in a time zone that is not the
// server's: the summary is Go's Summary.Text in the phone's time; every
// episode, the fault, the time the monitor heard nothing and the
// midnight tick are drawn where their times fall (within 2 px; a short
// episode is 2 px wide at least); "Earlier night" shows the night before,
// which is empty and says so; "Later night" comes back.
//
// With CRADLE_SCREENSHOTS=DIR it saves the night as DIR/history.png
// (docs/screenshots/history.png).
func TestHistoryNight(t *testing.T) {
	zone, loc := phoneZone(time.Now())
	dir := filepath.Join(t.TempDir(), "m")
	s := seedNight(t, filepath.Join(dir, history.FileName), loc, 0)
	mon := openMonitor(t, dir)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l}, true)
	waitOnline(t, ts, m.DeviceID)

	// The endpoint itself, on the dashboard's host: night=N is the
	// server's local time, so ask for the phone's night by its times.
	resp := ts.request(t, "GET", fmt.Sprintf("/api/monitors/%s/history?from=%d&to=%d", m.DeviceID, s.from.UnixMilli(), s.to.UnixMilli()), "")
	var got historyAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("history: %s %v", resp.Status, err)
	}
	checkAnswer(t, got, s)

	ctx := browser(t)
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		t.Fatal(err)
	}
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait),
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
		chromedp.Click(chromedp.CSS(card+` [data-field="history"] > summary`)),
		chromedp.WaitVisible(chromedp.CSS(card+` [data-field="history-chart"] svg`)),
	); err != nil {
		t.Fatalf("the night: %v", err)
	}
	checkDrawn(t, ctx, card, s)
	shot(t, ctx, card, "history.png")

	// The night before: nothing recorded, and the page says so.
	before, _ := history.Night(time.Now().In(loc), 1)
	got2 := drawnNight(t, ctx, card, `[data-action="history-earlier"]`, s.from.UnixMilli(), before)
	if got2.Empty != "true" || !strings.Contains(got2.Summary, "No sound history for this night") {
		t.Errorf("the night before: %+v, want it empty, and said so", got2)
	}
	if len(got2.Episodes)+len(got2.Faults) != 0 {
		t.Errorf("the night before shows %d episodes and %d faults", len(got2.Episodes), len(got2.Faults))
	}
	if back := drawnNight(t, ctx, card, `[data-action="history-later"]`, before.UnixMilli(), s.from); back.Summary != s.summary.Text(loc) {
		t.Errorf("back to the latest night: %q", back.Summary)
	}
}

// drawing is what the page drew for a night, read from its SVG.
type drawing struct {
	Title, Summary, Empty string
	From, To              int64
	PlotX, PlotW          float64
	Episodes, Faults      []drawn
	Gaps, Ticks, Conns    []drawn
}

// drawn is one element: its times and where it is drawn.
type drawn struct {
	Start, End int64
	X, W       float64
	Text       string
}

const readDrawingJS = `((card) => {
  const sec = card.querySelector('[data-field="history"]');
  const svg = sec.querySelector('svg');
  if (!svg) return null;
  const num = (e, a) => Number(e.getAttribute(a));
  const els = (sel) => [...svg.querySelectorAll(sel)].map((e) => ({
    Start: num(e, 'data-start-ms') || num(e, 'data-ms'), End: num(e, 'data-end-ms'),
    X: num(e, e.tagName === 'line' ? 'x1' : 'x'), W: num(e, 'width'), Text: e.textContent }));
  return {
    Title: sec.querySelector('[data-field="history-night"]').textContent,
    Summary: sec.querySelector('[data-field="history-summary"]').textContent,
    Empty: sec.querySelector('[data-field="history-summary"]').dataset.empty || '',
    From: num(svg, 'data-from-ms'), To: num(svg, 'data-to-ms'),
    PlotX: num(svg, 'data-plot-x'), PlotW: num(svg, 'data-plot-width'),
    Episodes: els('rect.episode'), Faults: els('rect.fault'), Gaps: els('rect.gap'), Ticks: els('text.hour'), Conns: els('rect.conn'),
  };
})`

// drawnNight clicks button (a selector in the card, or none), waits for
// a drawing of another night than the one from prev (Unix ms; 0: none
// yet), and checks that it is the night from.
func drawnNight(t *testing.T, ctx context.Context, card, button string, prev int64, from time.Time) drawing {
	t.Helper()
	if button != "" {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(card+` `+button))); err != nil {
			t.Fatal(err)
		}
	}
	d, err := chromedp.Run(ctx, chromedp.Poll[drawing](`(() => { const d = (`+readDrawingJS+`)(document.querySelector('`+card+`'));
  return d && d.From !== `+strconv.FormatInt(prev, 10)+` ? d : null; })()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+card+` [data-field="history"]').innerText`))
		t.Fatalf("the night from %v not drawn: %v; the section shows %q", from, err, got)
	}
	if d.From != from.UnixMilli() {
		t.Errorf("drawn the night from %v, want from %v (18:00 in the phone's time)", time.UnixMilli(d.From).In(from.Location()), from)
	}
	return d
}

// checkDrawn checks the drawing of the scripted night against its times.
func checkDrawn(t *testing.T, ctx context.Context, card string, s nightScript) {
	t.Helper()
	d := drawnNight(t, ctx, card, "", 0, s.from)
	want := s.summary.Text(s.loc)
	t.Logf("%s: %q (Go, in %s: %q)", d.Title, d.Summary, s.loc, want)
	if d.Summary != want {
		t.Errorf("summary %q, want Go's %q", d.Summary, want)
	}
	if d.From != s.from.UnixMilli() || d.To != s.to.UnixMilli() {
		t.Errorf("drawn night [%d, %d), want [%d, %d) (18:00 to 10:00 in the phone's time)", d.From, d.To, s.from.UnixMilli(), s.to.UnixMilli())
	}
	// Where a time falls, by the test's own night (not the page's).
	x := func(at time.Time) float64 {
		return d.PlotX + float64(at.Sub(s.from))/float64(s.to.Sub(s.from))*d.PlotW
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 2 {
			t.Errorf("%s drawn at %.1f px, want %.1f", what, got, want)
		}
	}
	place := func(what string, el drawn, sp span) {
		t.Helper()
		if el.Start != sp.start.UnixMilli() || el.End != sp.end.UnixMilli() {
			t.Errorf("%s: data [%d, %d], want [%d, %d]", what, el.Start, el.End, sp.start.UnixMilli(), sp.end.UnixMilli())
		}
		near(what+" start", el.X, x(sp.start))
		near(what+" end", el.X+el.W, max(x(sp.end), x(sp.start)+2))
	}
	if len(d.Episodes) != len(s.episodes) {
		t.Fatalf("%d episodes drawn, want %d", len(d.Episodes), len(s.episodes))
	}
	for i, e := range d.Episodes {
		place(fmt.Sprintf("episode %d (%s)", i, s.episodes[i].start.In(s.loc).Format("15:04:05")), e, s.episodes[i])
	}
	if len(d.Faults) != 1 {
		t.Fatalf("%d faults drawn, want 1", len(d.Faults))
	}
	place("the microphone fault", d.Faults[0], s.fault)
	// Not hearing: before 19:00, the half hour off, the fault, after 07:00.
	gaps := []span{{s.from, s.at(19, 0, 0)}, s.off, s.fault, {s.at(7, 0, 0), s.to}}
	if len(d.Gaps) != len(gaps) {
		t.Fatalf("%d times not hearing drawn %+v, want %d", len(d.Gaps), d.Gaps, len(gaps))
	}
	for i, g := range d.Gaps {
		place(fmt.Sprintf("not hearing %d", i), g, gaps[i])
	}
	if len(d.Conns) != len(s.conns) {
		t.Fatalf("%d connections drawn, want %d", len(d.Conns), len(s.conns))
	}
	for i, c := range d.Conns {
		place(fmt.Sprintf("connection %d", i), c, s.conns[i])
	}
	midnight := s.at(0, 0, 0)
	found := false
	for _, tk := range d.Ticks {
		if tk.Start == midnight.UnixMilli() {
			found = true
			near("the 00:00 label", tk.X, x(midnight))
			if tk.Text != "00:00" {
				t.Errorf("the midnight label says %q", tk.Text)
			}
		}
	}
	if !found {
		t.Errorf("no 00:00 on the hour axis: %+v", d.Ticks)
	}
}

// shot saves the page, the element sel scrolled to its top, at the viewport's size
// as DIR/name when CRADLE_SCREENSHOTS=DIR is set.
func shot(t *testing.T, ctx context.Context, sel, name string) {
	t.Helper()
	dir := os.Getenv("CRADLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('#toasts').replaceChildren();
document.querySelector('`+sel+`').scrollIntoView({block: 'start'});
new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok())))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d KB)", path, len(png)/1024)
}

// cannedHistory serves a history made up in Go (no monitor asked).
func cannedHistory(h func(from, to time.Time) control.History) HistoryFunc {
	return func(_ context.Context, _ *listener.Session, from, to time.Time) (control.History, error) {
		return h(from, to), nil
	}
}

// thirtyDays is a month of minutes, a noise episode every 3 hours and a
// listener every evening.
func thirtyDays(from, to time.Time) control.History {
	h := control.History{NowMillis: to.UnixMilli(), StepMillis: 60000, Days: 30}
	i := int64(0)
	for t := from; t.Before(to); t, i = t.Add(time.Minute), i+1 {
		mean := int64(-620 + 40*math.Sin(float64(i)/90))
		h.Minutes = append(h.Minutes, [4]int64{t.UnixMilli(), mean - 30, mean, mean + 50})
		if i%180 == 0 {
			h.Episodes = append(h.Episodes, control.HistoryEpisode{StartMillis: t.UnixMilli(), EndMillis: t.Add(4 * time.Minute).UnixMilli(), PeakDecidB: -150})
		}
		if i%1440 == 0 {
			h.Connections = append(h.Connections, control.HistoryConnection{Name: "Bedside phone", Kind: "phone", StartMillis: t.UnixMilli(), EndMillis: t.Add(90 * time.Minute).UnixMilli()})
		}
	}
	return h
}

// TestHistoryThirtyDays: 30 days of minutes (43200) go through the
// endpoint and are all drawn in the browser. How long that takes is
// BenchmarkHistoryFetchAndDraw30Days's.
func TestHistoryThirtyDays(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l, History: cannedHistory(thirtyDays)}, true)
	to := time.Now().Truncate(time.Minute)
	got := drawDays(t, ts, m.DeviceID, to.Add(-30*24*time.Hour), to)
	t.Logf("30 days (%v minutes, %v episodes, %v connections) fetched in %.1f ms, drawn in %.1f ms the first time, %.1f..%.1f ms after", got["minutes"], got["episodes"], got["conns"], got["fetch"], got["first"], got["best"], got["worst"])
	if got["minutes"] != 43200 || got["episodes"] != 240 || got["conns"] != 30 || got["band"] == 0 {
		t.Errorf("drawn %v, want 43200 minutes, 240 episodes, 30 connections and a band", got)
	}
}

// BenchmarkHistoryFetchAndDraw30Days: a phone's page fetches 30 days of
// history from a real monitor through the page's endpoint (the monitor's
// history.db holds 30 days of historytest.Fill; the page host reads it
// over the control channel) and draws it (goal: fetch and draw at most
// 200 ms). Reported: the fetch, the first draw (layout included) and
// their sum, in ms.
func BenchmarkHistoryFetchAndDraw30Days(b *testing.B) {
	dir := b.TempDir()
	from := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	db, err := history.Open(filepath.Join(dir, history.FileName), history.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := historytest.Fill(db, from, 30, historytest.Options{}); err != nil {
		b.Fatal(err)
	}
	db.Close()
	mon := openMonitor(b, dir)
	l, _ := newListener(b)
	m := pairWith(b, l, mon)
	ts := startServer(b, Options{Listener: l}, true)
	var fetch, draw float64
	n := 0
	for b.Loop() {
		got := drawDays(b, ts, m.DeviceID, from, from.Add(30*24*time.Hour))
		if got["minutes"] < 1400 { // 30-minute records: the endpoint asks for a drawing's worth
			b.Fatalf("%v minutes", got["minutes"])
		}
		fetch += got["fetch"]
		draw += got["first"]
		n++
	}
	b.ReportMetric(fetch/float64(n), "ms-fetch")
	b.ReportMetric(draw/float64(n), "ms-draw")
	b.ReportMetric((fetch+draw)/float64(n), "ms-total")
}

// drawDays opens the page in a phone-sized browser, fetches [from, to)
// from the history endpoint and draws it five times; it returns the
// counts drawn and the times (ms) taken.
func drawDays(t testing.TB, ts *testServer, id string, from, to time.Time) map[string]float64 {
	t.Helper()
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`.card[data-monitor="`+id+`"]`)),
	); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](fmt.Sprintf(`(async () => {
  const f0 = performance.now();
  const h = await api('GET', '/api/monitors/%s/history?from=%d&to=%d');
  const fetched = performance.now() - f0;
  const box = document.createElement('div');
  box.style.width = '358px';
  document.querySelector('main').append(box);
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const svg = window.cradleHistory.draw(box, h);
    svg.getBoundingClientRect(); // layout, too
    times.push(performance.now() - t0);
  }
  const svg = box.querySelector('svg');
  return { minutes: h.minutes.length, fetch: fetched, first: times[0], best: Math.min(...times), worst: Math.max(...times),
    episodes: svg.querySelectorAll('rect.episode').length, conns: svg.querySelectorAll('rect.conn').length, band: svg.querySelector('path.band').getAttribute('d').length };
})()`, id, from.UnixMilli(), to.UnixMilli()), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// openMonitor opens an in-process monitor on loopback, with the test
// media, in the state directory dir (which may hold a history.db).
func openMonitor(t testing.TB, dir string) *monitor.Monitor {
	t.Helper()
	mon, err := monitor.Open(monitor.Config{StateDir: dir, Listen: "127.0.0.1:0", Media: media.ModeTest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	return mon
}

// waitOnline waits until the dashboard's session with id is online.
func waitOnline(t testing.TB, ts *testServer, id string) {
	t.Helper()
	s := ts.events(t)
	s.until(10*time.Second, "online", func(ev event) bool {
		if ev.Type == "snapshot" {
			for _, m := range ev.Monitors {
				if m.ID == id && m.Presence == "online" {
					return true
				}
			}
		}
		return ev.Type == "presence" && ev.Monitor == id && ev.Presence == "online"
	})
	s.close()
}

// TestHistoryDashboardProblems: on the dashboard's host, the endpoint
// needs the browser signed in (beyond loopback); it answers night=N in
// the server's local time; it refuses a range it does
// not understand and an unknown monitor in the page's words, and when
// the monitor is offline it says so (never a raw error).
func TestHistoryDashboardProblems(t *testing.T) {
	mon := newMonitor(t)
	l, dir := newListener(t)
	m := pairWith(t, l, mon)
	var asked [2]time.Time
	canned := func(from, to time.Time) control.History {
		asked = [2]time.Time{from, to}
		return control.History{Days: 30}
	}
	// Beyond loopback a browser that is not signed in gets nothing.
	guarded := startServer(t, Options{Listener: l, StateDir: dir, History: cannedHistory(canned)}, false)
	if resp := guarded.request(t, "GET", "/api/monitors/"+m.DeviceID+"/history", ""); resp.StatusCode != 401 || problemOf(t, resp).Code != "unauthorized" || !asked[0].IsZero() {
		t.Fatalf("history without signing in: %s, want 401 and no question to the monitor", resp.Status)
	}
	if resp := guarded.request(t, "GET", "/api/monitors/"+m.DeviceID+"/history", "", "Cookie", guarded.signIn(t)); resp.StatusCode != 200 {
		t.Fatalf("history signed in: %s", resp.Status)
	}
	ts := startServer(t, Options{Listener: l, History: cannedHistory(canned)}, true)
	resp := ts.request(t, "GET", "/api/monitors/"+m.DeviceID+"/history?night=2", "")
	var got historyAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("night=2: %s %v", resp.Status, err)
	}
	from, to := history.Night(time.Now(), 2)
	if !asked[0].Equal(from) || !asked[1].Equal(to) || got.FromMillis != from.UnixMilli() || got.ToMillis != to.UnixMilli() {
		t.Errorf("night=2 asked the monitor for %v and answered [%d, %d), want %v to %v", asked, got.FromMillis, got.ToMillis, from, to)
	}
	if got.Minutes == nil || got.Episodes == nil || got.Faults == nil || got.Connections == nil || got.Summary != (summaryView{}) {
		t.Errorf("an empty night: %+v, want empty lists and an empty summary", got)
	}
	for _, tc := range []struct {
		path, code string
		status     int
	}{
		{"/api/monitors/" + m.DeviceID + "/history?night=-1", "bad_request", 400},
		{"/api/monitors/" + m.DeviceID + "/history?from=5&to=4", "bad_request", 400},
		{"/api/monitors/NOSUCH1/history", "unknown_monitor", 404},
	} {
		resp := ts.request(t, "GET", tc.path, "")
		if p := problemOf(t, resp); resp.StatusCode != tc.status || p.Code != tc.code || p.Message == "" || p.Action == "" {
			t.Errorf("GET %s: %s %+v, want %d %s with words for a parent", tc.path, resp.Status, p, tc.status, tc.code)
		}
	}

	// The monitor's own answer, through its session: offline once it stops.
	real := startServer(t, Options{Listener: l}, true)
	waitOnline(t, real, m.DeviceID)
	mon.Close()
	var p Problem
	waitFor(t, 15*time.Second, "the history says the monitor is offline", func() bool {
		resp := real.request(t, "GET", "/api/monitors/"+m.DeviceID+"/history", "")
		if resp.StatusCode == 200 {
			return false
		}
		p = problemOf(t, resp)
		return p.Code == "offline"
	})
	t.Logf("offline: %s %s", p.Message, p.Action)
}

// TestHistoryMonitorHost: the monitor's own page serves its history
// (seeded into history.db before it opened) to a paired phone, and
// nothing to a stranger, as it serves info.
func TestHistoryMonitorHost(t *testing.T) {
	_, loc := phoneZone(time.Now())
	dir := filepath.Join(t.TempDir(), "m")
	s := seedNight(t, filepath.Join(dir, history.FileName), loc, 0)
	mon := openMonitor(t, dir)
	p := startMonitorPage(t, mon)
	id := mon.Fingerprint().DeviceID()
	a := p.phone(t, "127.0.0.2")
	path := fmt.Sprintf("/api/monitors/%s/history?from=%d&to=%d", id, s.from.UnixMilli(), s.to.UnixMilli())
	if resp := a.do("GET", path, ""); resp.StatusCode != 401 || problemOf(t, resp).Code != "unauthorized" {
		t.Fatalf("a stranger's history: %s, want 401", resp.Status)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if resp := a.pair("Bedside phone", string(mon.SetupCode())); resp.StatusCode != 200 {
		t.Fatalf("pairing: %s", resp.Status)
	}
	_, ev := a.open("/api/events") // the page is open: its card's session runs
	if !readsUntil(ev, 5*time.Second, `"presence":"online"`) {
		t.Fatal("the card never shows the monitor online")
	}
	resp := a.do("GET", path, "")
	var got historyAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("history: %s %v", resp.Status, err)
	}
	checkAnswer(t, got, s)
}

// TestHistoryTonight: the night in progress (23:xx in the phone's time),
// noise going on: the summary says since when, the episode is drawn up
// to now, a line marks now, and the minutes the monitor has not written
// yet (it writes every 5 minutes) are no gap; the hour before, with no
// record, is one.
func TestHistoryTonight(t *testing.T) {
	zone, loc := zoneAt(time.Now(), 23)
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	var mu sync.Mutex // the server's goroutine writes now and noise
	var now, noise, last time.Time
	tonight := func(from, to time.Time) control.History {
		mu.Lock()
		defer mu.Unlock()
		now = time.Now().Truncate(time.Millisecond)
		noise, last = now.Add(-5*time.Minute), now.Add(-4*time.Minute).Truncate(time.Minute)
		h := control.History{NowMillis: now.UnixMilli(), StepMillis: 60000, Days: 30}
		for t := from.Add(time.Hour); !t.After(last); t = t.Add(time.Minute) {
			h.Minutes = append(h.Minutes, [4]int64{t.UnixMilli(), -650, -620, -600})
		}
		h.Episodes = []control.HistoryEpisode{{StartMillis: noise.UnixMilli(), EndMillis: now.Add(-time.Second).UnixMilli(), PeakDecidB: -120, Ongoing: true}}
		return h
	}
	ts := startServer(t, Options{Listener: l, History: cannedHistory(tonight)}, true)
	ctx := browser(t)
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		t.Fatal(err)
	}
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card)),
		chromedp.Click(chromedp.CSS(card+` [data-field="history"] > summary`)),
	); err != nil {
		t.Fatal(err)
	}
	from, to := history.Night(time.Now().In(loc), 0)
	d := drawnNight(t, ctx, card, "", 0, from)
	mu.Lock()
	defer mu.Unlock()
	want := history.Summary{Wakeups: 1, Longest: 5 * time.Minute, Noise: true, NoiseSince: noise}.Text(loc)
	t.Logf("%s: %q", d.Title, d.Summary)
	if d.Title != "Tonight, so far" || d.Summary != want {
		t.Errorf("%q: %q, want Tonight, so far: %q", d.Title, d.Summary, want)
	}
	x := func(at time.Time) float64 { return d.PlotX + float64(at.Sub(from))/float64(to.Sub(from))*d.PlotW }
	if len(d.Episodes) != 1 || math.Abs(d.Episodes[0].X-x(noise)) > 2 || math.Abs(d.Episodes[0].X+d.Episodes[0].W-x(now)) > 2 || d.Episodes[0].End != now.UnixMilli() {
		t.Errorf("the noise going on drawn %+v, want from %.1f to now, %.1f px", d.Episodes, x(noise), x(now))
	}
	if len(d.Gaps) != 1 || d.Gaps[0].Start != from.UnixMilli() || d.Gaps[0].End != from.Add(time.Hour).UnixMilli() {
		t.Errorf("not hearing %+v, want the first hour only", d.Gaps)
	}
	nowX, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`Number(document.querySelector('`+card+` svg line.now').getAttribute('x1'))`))
	if err != nil || math.Abs(nowX-x(now)) > 2 {
		t.Errorf("the now line at %.1f (%v), want %.1f", nowX, err, x(now))
	}
	if dis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+card+` [data-action="history-later"]').disabled`)); !dis {
		t.Error("Later night is offered on tonight")
	}
}

// TestHistoryWords: the page writes a summary in the words of Go's
// history.Summary.Text, and lengths as history.FormatDuration, in the
// phone's time zone, for every shape of night.
func TestHistoryWords(t *testing.T) {
	l, _ := newListener(t)
	ts := startServer(t, Options{Listener: l}, true)
	zone, loc := zoneAt(time.Now(), 9)
	ctx := browser(t)
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.base+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.cradleHistory`)); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 3, 4, 0, 0, loc)
	for _, s := range []history.Summary{
		{},
		{QuietSince: at},
		{Wakeups: 1, Longest: 3 * time.Minute, QuietSince: at},
		{Wakeups: 3, Short: 1, Longest: 12*time.Minute + 29*time.Second, QuietSince: at.Add(-5 * time.Hour)},
		{Short: 2, Longest: 40 * time.Second, QuietSince: at},
		{Wakeups: 2, Short: 5, Longest: 65 * time.Minute, Noise: true, NoiseSince: at.Add(20 * time.Hour)},
		{Short: 1, Longest: 500 * time.Millisecond, Noise: true, NoiseSince: at},
	} {
		b, _ := json.Marshal(summaryOf(s))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.cradleHistory.text(`+string(b)+`)`))
		if want := s.Text(loc); err != nil || got != want {
			t.Errorf("%s: the page says %q (%v), Go %q", b, got, err, want)
		}
	}
	for _, d := range []time.Duration{0, 499 * time.Millisecond, 500 * time.Millisecond, 40 * time.Second, 59*time.Second + 600*time.Millisecond,
		time.Minute, 90 * time.Second, 12*time.Minute + 29*time.Second, 59*time.Minute + 40*time.Second, time.Hour, 65 * time.Minute, 25*time.Hour + 59*time.Minute + 31*time.Second} {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.cradleHistory.duration(`+strconv.FormatInt(d.Milliseconds(), 10)+`)`))
		if want := history.FormatDuration(d); err != nil || got != want {
			t.Errorf("%v: the page says %q (%v), Go %q", d, got, err, want)
		}
	}
}
