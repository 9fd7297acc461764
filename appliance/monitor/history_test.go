package monitor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store/history"
	"github.com/cradle-monitor/cradle/store/history/historytest"
)

// TestHistoryOverControl: a short scripted night from the test source
// (quiet, a tone burst, quiet, a second burst, a microphone stall), kept
// by the monitor while nobody listens, then read by a trusted listener
// over the control channel: exactly the episodes and the fault, at the
// right times; a huge range comes in bounded pages.
func TestHistoryOverControl(t *testing.T) {
	mc := media.Config{TestAudio: "quiet:1s,tone:2s,quiet:3s,tone:2s,stall:3s,quiet",
		Vox: media.VoxConfig{Attack: 300 * time.Millisecond, Hold: 300 * time.Millisecond}}
	dir := t.TempDir()
	start := time.Now()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0", MediaConfig: mc,
		History: HistoryConfig{Step: time.Second, Flush: 200 * time.Millisecond, Gap: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	time.Sleep(12500 * time.Millisecond) // nobody listens: the history is kept all the same
	l, mon := pairedListener(t, m, "kitchen")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var h control.History
	for {
		if h, err = listener.FetchHistory(ctx, s, start.Add(-time.Minute), time.Now().Add(time.Minute)); !errors.Is(err, listener.ErrOffline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The script starts at the microphone's first read, just after Open:
	// its first level record (1 s steps) is the second the script began in.
	if len(h.Minutes) == 0 {
		t.Fatal("no level record")
	}
	if lvl := m.hub.Stats(); lvl.MicStarts != 1 {
		t.Errorf("the microphone started %d times", lvl.MicStarts)
	}
	// The script starts at the microphone's first read, a little after
	// Open: the first episode says when (it starts 1 s into the script).
	var lead time.Duration
	if len(h.Episodes) > 0 {
		lead = time.UnixMilli(h.Episodes[0].StartMillis).Sub(start) - time.Second
	}
	if lead < 0 || lead > time.Second {
		t.Fatalf("the script started %v after Open", lead)
	}
	rel := func(ms int64) time.Duration { return time.UnixMilli(ms).Sub(start) - lead }
	for _, e := range h.Episodes {
		t.Logf("episode %v – %v peak %d", rel(e.StartMillis), rel(e.EndMillis), e.PeakDecidB)
	}
	if len(h.Episodes) != 2 {
		t.Fatalf("episodes %+v, want 2", h.Episodes)
	}
	near := func(what string, got, want time.Duration, tol time.Duration) {
		t.Helper()
		if (got - want).Abs() > tol {
			t.Errorf("%s at %v, want %v ± %v", what, got, want, tol)
		}
	}
	for i, want := range [][2]time.Duration{{time.Second, 3 * time.Second}, {6 * time.Second, 8 * time.Second}} {
		near("episode start", rel(h.Episodes[i].StartMillis), want[0], 400*time.Millisecond)
		near("episode end", rel(h.Episodes[i].EndMillis), want[1], 400*time.Millisecond)
		if p := h.Episodes[i].PeakDecidB; p < -200 || p > 0 {
			t.Errorf("episode peak %d ddB: not the tone's", p)
		}
	}
	if len(h.Faults) != 1 || h.Faults[0].Fault != control.FaultMicrophone {
		t.Fatalf("faults %+v, want one microphone fault", h.Faults)
	}
	// The stall runs 8–11 s; the fault shows after a second without
	// levels, on a 1 s tick.
	near("fault start", rel(h.Faults[0].StartMillis), 9*time.Second, 1100*time.Millisecond)
	near("fault end", rel(h.Faults[0].EndMillis), 11*time.Second, 1100*time.Millisecond)
	if len(h.Minutes) < 9 {
		t.Errorf("%d level records (1 s steps), want at least 9", len(h.Minutes))
	}
	for _, mn := range h.Minutes {
		if at := rel(mn[0]); at > 8300*time.Millisecond && at+time.Second < 10700*time.Millisecond {
			t.Errorf("a level record from %v to %v, inside the stall", at, at+time.Second)
		}
	}
	// The pairing connection (recorded once trusted), then the session's.
	if n := len(h.Connections); n == 0 || !h.Connections[n-1].Ongoing {
		t.Errorf("connections %+v, want the last ongoing", h.Connections)
	}
	for _, c := range h.Connections {
		if c.Name != "kitchen" || c.Kind != "listener" {
			t.Errorf("connection %+v, want the listener kitchen", c)
		}
	}

	// Pages: a range of 92 days, one record per page.
	pages := 0
	req := control.HistoryRequest{FromMillis: time.Now().Add(-92 * 24 * time.Hour).UnixMilli(), ToMillis: time.Now().UnixMilli()}
	for {
		p, err := m.historyPageLimit(req, 1)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n := len(p.Minutes) + len(p.Episodes) + len(p.Faults) + len(p.Connections); n > 1 {
			t.Fatalf("a page of %d records, limit 1", n)
		}
		if p.Next == "" {
			break
		}
		req.After = p.Next
		if pages > 1000 {
			t.Fatal("pages do not end")
		}
	}
	if want := len(h.Minutes) + 4; pages < want {
		t.Errorf("%d pages of one record, want at least %d", pages, want)
	}
	// Too long a range, or a cursor the monitor did not give: bad_request.
	for _, bad := range []control.HistoryRequest{
		{FromMillis: 0, ToMillis: control.MaxHistoryRangeMillis + 1},
		{FromMillis: 10, ToMillis: 5},
		{FromMillis: 0, ToMillis: 10, After: "!!"},
	} {
		_, err := s.History(ctx, bad)
		var ce *control.Error
		if !errors.As(err, &ce) || ce.Code != control.CodeBadRequest {
			t.Errorf("%+v: %v, want bad_request", bad, err)
		}
	}
}

// TestHistoryOff: with history_days = 0 nothing is kept, the request is
// answered bad_request, and the microphone stops with the last listener.
func TestHistoryOff(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0", History: HistoryConfig{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.hub.Stats().MicOn {
		t.Error("the microphone is on with nobody listening and no history")
	}
	l, mon := pairedListener(t, m, "kitchen")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err = s.History(ctx, control.HistoryRequest{ToMillis: 1000})
		if !errors.Is(err, listener.ErrOffline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ce *control.Error
	if !errors.As(err, &ce) || ce.Code != control.CodeBadRequest {
		t.Errorf("history off: %v, want bad_request", err)
	}
	if _, err := filepath.Glob(filepath.Join(dir, history.FileName)); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, history.FileName)); len(files) != 0 {
		t.Errorf("history off, but %s exists", files[0])
	}
}

// TestHistoryDamaged: a history.db that is not a bbolt file is set aside
// and a new one started: the monitor opens and keeps history.
func TestHistoryDamaged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, history.FileName), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("a damaged history stopped the monitor: %v", err)
	}
	defer m.Close()
	if m.hist == nil {
		t.Fatal("no history after a damaged file")
	}
	if _, err := os.Stat(filepath.Join(dir, history.FileName+".damaged")); err != nil {
		t.Errorf("the damaged file was not set aside: %v", err)
	}
}

// TestHistoryCoarse: level records asked coarser (30 min) come whole,
// once each, aligned, across pages that the bucket boundaries cut, with
// the extremes and the counts of the minutes in them.
func TestHistoryCoarse(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	from := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Hour)
	db, err := history.Open(filepath.Join(dir, history.FileName), history.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := historytest.Fill(db, from, 2, historytest.Options{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	m, err = Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fine, err := m.historyPageLimit(control.HistoryRequest{FromMillis: from.UnixMilli(), ToMillis: from.Add(48 * time.Hour).UnixMilli()}, 1800)
	if err != nil || fine.Next == "" {
		t.Fatalf("fine: %v, next %q", err, fine.Next)
	}
	req := control.HistoryRequest{FromMillis: from.UnixMilli(), ToMillis: from.Add(48 * time.Hour).UnixMilli(), StepMillis: (30 * time.Minute).Milliseconds()}
	seen := map[int64]bool{}
	episodes, pages := 0, 0
	var lo, hi int64 = 0, -2000
	for {
		p, err := m.historyPageLimit(req, 100)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if p.StepMillis != req.StepMillis {
			t.Fatalf("step %d, want %d", p.StepMillis, req.StepMillis)
		}
		for _, mn := range p.Minutes {
			if seen[mn[0]] {
				t.Errorf("bucket %v twice (split across pages)", time.UnixMilli(mn[0]))
			}
			seen[mn[0]] = true
			if mn[0]%req.StepMillis != 0 {
				t.Errorf("bucket %v not aligned", time.UnixMilli(mn[0]))
			}
			lo, hi = min(lo, mn[1]), max(hi, mn[3])
		}
		episodes += len(p.Episodes)
		if p.Next == "" {
			break
		}
		req.After = p.Next
	}
	if len(seen) != 96 {
		t.Errorf("%d buckets of 30 min in 48 h, want 96", len(seen))
	}
	if pages < 3 {
		t.Errorf("%d pages of 100 records", pages)
	}
	// The extremes of the minutes survive: Fill's quiet is -62..-56 dB,
	// its wake-ups -18..-14.
	if lo != -620 || hi != -140 {
		t.Errorf("levels %d..%d ddB, want -620..-140", lo, hi)
	}
	if episodes != 12 {
		t.Errorf("%d episodes in 48 h, want 12", episodes)
	}
}
