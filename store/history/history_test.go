package history

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clockAt is a reading where the wall clock is right: t0 + mono.
var t0 = time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)

func at(mono time.Duration) Now { return Now{Wall: t0.Add(mono), Mono: mono} }

// night feeds r levels every 100 ms from mono from to to; loud(t) says
// whether the room is loud at t, and a simple detector (attack and hold
// as in cfg) sets Noise as the monitor's does.
type vox struct {
	attack, hold time.Duration
	noise        bool
	since        time.Duration
	pending      bool
}

func (v *vox) update(loud bool, t time.Duration) bool {
	if loud == v.noise {
		v.pending = false
		return v.noise
	}
	if !v.pending {
		v.pending, v.since = true, t
	}
	wait := v.attack
	if v.noise {
		wait = v.hold
	}
	if t-v.since >= wait {
		v.noise, v.pending = loud, false
	}
	return v.noise
}

func feed(r *Recorder, v *vox, from, to time.Duration, level float64, loud bool, wall func(time.Duration) time.Time) {
	for t := from; t < to; t += 100 * time.Millisecond {
		n := v.update(loud, t)
		now := Now{Wall: wall(t), Mono: t}
		r.Level(Level{Mono: t, RMSDBFS: level, PeakDBFS: level + 3, Noise: n}, now)
		if t%time.Second == 0 {
			r.Observe(now)
		}
	}
}

func rightClock(t time.Duration) time.Time { return t0.Add(t) }

func byKind(recs []Record, k Kind) []Record {
	var out []Record
	for _, r := range recs {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// TestScriptedNight: quiet, a 3 min cry, 20 min quiet, a 12 min cry with
// a 1 min pause in it (merged), a 3 min microphone stall, quiet.
func TestScriptedNight(t *testing.T) {
	cfg := Config{Gap: 2 * time.Minute, Attack: time.Second, Hold: 3 * time.Second}
	r := NewRecorder(cfg, 1)
	v := &vox{attack: time.Second, hold: 3 * time.Second}
	m := time.Minute
	feed(r, v, 0, 10*m, -60, false, rightClock)
	feed(r, v, 10*m, 13*m, -20, true, rightClock)
	feed(r, v, 13*m, 33*m, -60, false, rightClock)
	feed(r, v, 33*m, 39*m, -15, true, rightClock)
	feed(r, v, 39*m, 40*m, -60, false, rightClock) // a pause shorter than the gap
	feed(r, v, 40*m, 46*m, -18, true, rightClock)
	feed(r, v, 46*m, 50*m, -60, false, rightClock)
	r.Fault("microphone", true, at(50*m))
	for s := 50 * m; s < 53*m; s += time.Second {
		r.Observe(at(s)) // no levels: a stall
	}
	r.Fault("microphone", false, at(53*m))
	feed(r, v, 53*m, 60*m, -60, false, rightClock)
	b := r.Flush(at(60*m), true)

	eps := byKind(b.Puts, KindEpisode)
	if len(eps) != 2 {
		t.Fatalf("episodes = %+v, want 2", eps)
	}
	want := [][2]time.Duration{{10 * m, 13 * m}, {33 * m, 46 * m}}
	for i, e := range eps {
		if d := e.Start.Sub(t0.Add(want[i][0])); d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("episode %d starts %v, want %v", i, e.Start.Sub(t0), want[i][0])
		}
		if d := e.End.Sub(t0.Add(want[i][1])); d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("episode %d ends %v, want %v", i, e.End.Sub(t0), want[i][1])
		}
		if e.Open {
			t.Errorf("episode %d is open", i)
		}
	}
	if eps[1].Peak != -12 {
		t.Errorf("peak %v, want -12", eps[1].Peak)
	}
	fs := byKind(b.Puts, KindFault)
	if len(fs) != 1 || fs[0].Start != t0.Add(50*m) || fs[0].End != t0.Add(53*m) || fs[0].Label != "microphone" {
		t.Errorf("faults = %+v", fs)
	}
	mins := byKind(b.Puts, KindMinute)
	// 57 minutes heard (3 stalled); levels every 100 ms: 600 a minute.
	if len(mins) != 57 {
		t.Errorf("%d minute records, want 57", len(mins))
	}
	for _, mr := range mins {
		if mr.Count != 600 {
			t.Errorf("minute %v: %d levels", mr.Start.Sub(t0), mr.Count)
		}
		if off := mr.Start.Sub(t0); off >= 50*m && off < 53*m {
			t.Errorf("a minute record during the stall: %v", off)
		}
	}
	s := Summarize(b.Puts, t0, t0.Add(16*time.Hour), 0)
	if s.Wakeups != 2 || s.Longest != 13*m || s.QuietSince.Sub(t0.Add(46*m)).Abs() > time.Second {
		t.Errorf("summary %+v", s)
	}
	if got, want := s.Text(time.UTC), "2 wake-ups, the longest 13 min, quiet since 18:46"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
}

func TestEpisodeOpenWhileNoisy(t *testing.T) {
	r := NewRecorder(Config{Attack: time.Second, Hold: time.Second}, 1)
	v := &vox{attack: time.Second, hold: time.Second}
	feed(r, v, 0, 10*time.Second, -20, true, rightClock)
	b := r.Flush(at(10*time.Second), false)
	eps := byKind(b.Puts, KindEpisode)
	if len(eps) != 1 || !eps[0].Open || eps[0].Start != t0 {
		t.Fatalf("episodes %+v, want one open from 0", eps)
	}
	// The next flush rewrites the same record (same key), closed.
	feed(r, v, 10*time.Second, 20*time.Second, -60, false, rightClock)
	r.Observe(at(5 * time.Minute))
	b2 := r.Flush(at(5*time.Minute), false)
	e2 := byKind(b2.Puts, KindEpisode)
	if len(e2) != 1 || e2[0].Open || !bytes.Equal(e2[0].key(), eps[0].key()) {
		t.Fatalf("second flush %+v, want the same episode closed", e2)
	}
	if e2[0].End != t0.Add(10*time.Second) {
		t.Errorf("end %v, want 10s", e2[0].End.Sub(t0))
	}
	if b3 := r.Flush(at(6*time.Minute), false); len(byKind(b3.Puts, KindEpisode)) != 0 {
		t.Errorf("a final episode is written again")
	}
}

// TestClockJump: the monitor starts with a clock 8 h behind (the time
// saved at the last shutdown), records, then NTP corrects it.
func TestClockJump(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, FileName), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stale := func(m time.Duration) time.Time { return t0.Add(-8 * time.Hour).Add(m) }
	r := NewRecorder(Config{Attack: time.Second, Hold: time.Second}, db.Boot())
	v := &vox{attack: time.Second, hold: time.Second}
	feed(r, v, 0, 2*time.Minute, -60, false, stale)
	feed(r, v, 2*time.Minute, 3*time.Minute, -20, true, stale)
	feed(r, v, 3*time.Minute, 4*time.Minute, -60, false, stale)
	r.ConnOpen("c1", "listener", "kitchen", Now{Wall: stale(4 * time.Minute), Mono: 4 * time.Minute})
	if err := db.Apply(r.Flush(Now{Wall: stale(4 * time.Minute), Mono: 4 * time.Minute}, false)); err != nil {
		t.Fatal(err)
	}
	// NTP: the wall clock is right from 5 min on.
	feed(r, v, 5*time.Minute, 8*time.Minute, -60, false, rightClock)
	r.ConnClose("c1", at(8*time.Minute))
	if err := db.Apply(r.Flush(at(8*time.Minute), true)); err != nil {
		t.Fatal(err)
	}
	pg, err := db.Read(t0.Add(-9*time.Hour), t0.Add(time.Hour), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range pg.Records {
		if rec.Start.Before(t0) {
			t.Errorf("%s at %v: still on the stale clock", rec.Kind, rec.Start.Sub(t0))
		}
	}
	eps := byKind(pg.Records, KindEpisode)
	if len(eps) != 1 || eps[0].Start.Sub(t0.Add(2*time.Minute)).Abs() > 200*time.Millisecond {
		t.Errorf("episodes %+v, want one at 2 min", eps)
	}
	cs := byKind(pg.Records, KindConn)
	if len(cs) != 1 || cs[0].Start != t0.Add(4*time.Minute) || cs[0].End != t0.Add(8*time.Minute) || cs[0].Name != "kitchen" {
		t.Errorf("connections %+v, want kitchen from 4 to 8 min", cs)
	}
	if n := len(byKind(pg.Records, KindMinute)); n != 7 {
		t.Errorf("%d minutes, want 7 (4 before the jump, 3 after)", n)
	}
}

func TestDBPagesAndPrune(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// Three days of minutes, and a connection that lasts all along (cut
	// into pieces of at most MaxSpan).
	r := NewRecorder(Config{}, db.Boot())
	r.ConnOpen("c", "phone", "Bedside phone", at(0))
	for m := time.Duration(0); m < 3*24*time.Hour; m += time.Minute {
		r.Level(Level{Mono: m + 30*time.Second, RMSDBFS: -50, PeakDBFS: -40}, at(m+30*time.Second))
		if m%time.Hour == 0 {
			if err := db.Apply(r.Flush(at(m+31*time.Second), false)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Apply(r.Flush(at(3*24*time.Hour), true)); err != nil {
		t.Fatal(err)
	}
	// Read one day in pages of 500.
	from, to := t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	var all []Record
	var after []byte
	pages := 0
	for {
		pg, err := db.Read(from, to, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(pg.Records) > 500 {
			t.Fatalf("page of %d records", len(pg.Records))
		}
		all = append(all, pg.Records...)
		if pg.Next == nil {
			break
		}
		after = pg.Next
	}
	if n := len(byKind(all, KindMinute)); n != 1440 {
		t.Errorf("%d minutes in a day, want 1440", n)
	}
	cs := byKind(all, KindConn)
	var covered time.Duration
	for _, c := range cs {
		if c.End.Sub(c.Start) > DefaultMaxSpan {
			t.Errorf("a connection piece of %v", c.End.Sub(c.Start))
		}
		covered += minT(c.End, to).Sub(maxT(c.Start, from))
	}
	if covered != 24*time.Hour {
		t.Errorf("the connection covers %v of the day, want 24h (%d pieces)", covered, len(cs))
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	db.Close()

	// Reopened: a new boot; the open connection of the old boot reads closed.
	db, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Boot() != 2 {
		t.Errorf("boot %d, want 2", db.Boot())
	}
	pg, _ := db.Read(t0.Add(71*time.Hour), t0.Add(73*time.Hour), nil, 0)
	for _, c := range byKind(pg.Records, KindConn) {
		if c.Open {
			t.Errorf("an old boot's connection reads open")
		}
	}
	n, err := db.Prune(t0.Add(48 * time.Hour))
	if err != nil || n == 0 {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	pg, _ = db.Read(t0, t0.Add(72*time.Hour), nil, 0)
	for _, rec := range pg.Records {
		if rec.End.Before(t0.Add(48 * time.Hour)) {
			t.Errorf("a record ending at %v was kept", rec.End.Sub(t0))
			break
		}
	}
	// A clock that was never set prunes nothing.
	if n, _ := db.Prune(time.Unix(3600, 0)); n != 0 {
		t.Errorf("pruned %d by a 1970 clock", n)
	}
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestMaxPerDay(t *testing.T) {
	r := NewRecorder(Config{MaxPerDay: 10}, 1)
	for i := range 30 {
		id := string(rune('a' + i))
		r.ConnOpen(id, "listener", "x", at(time.Duration(i)*time.Second))
		r.ConnClose(id, at(time.Duration(i)*time.Second+500*time.Millisecond))
	}
	b := r.Flush(at(time.Minute), false)
	if n := len(byKind(b.Puts, KindConn)); n != 10 || r.Dropped != 20 {
		t.Errorf("%d connections kept, %d dropped; want 10 and 20", n, r.Dropped)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	recs := []Record{
		{Kind: KindMinute, Boot: 3, Start: t0, End: t0.Add(time.Minute), Min: -70.5, Mean: -61.2, Max: -20, Count: 600},
		{Kind: KindEpisode, Boot: 3, ID: 7, Start: t0, End: t0.Add(12 * time.Minute), Peak: -3.4, Open: true},
		{Kind: KindFault, Boot: 3, ID: 8, Start: t0, End: t0.Add(time.Second), Label: "microphone"},
		{Kind: KindConn, Boot: 3, ID: 9, Start: t0, End: t0.Add(time.Hour), Label: "phone", Name: "Grand-mère's phone ☎"},
	}
	for _, r := range recs {
		got, err := decode(r.key(), r.value())
		if err != nil {
			t.Fatalf("%s: %v", r.Kind, err)
		}
		if got != r {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range []Record{
		{Kind: KindMinute, Start: t0, End: t0.Add(time.Minute), Min: -70, Mean: -60, Max: -20, Count: 600},
		{Kind: KindConn, Start: t0, End: t0.Add(time.Hour), Label: "phone", Name: "x"},
	} {
		f.Add(r.key(), r.value())
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		r, err := decode(k, v)
		if err != nil {
			return
		}
		if len(r.Name) > MaxNameLen || len(r.Label) > MaxLabelLen {
			t.Fatalf("decoded past the limits: %+v", r)
		}
		// What decodes encodes back to the same key.
		if !bytes.Equal(r.key(), k) {
			t.Fatalf("key %x re-encodes as %x", k, r.key())
		}
	})
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// TestSummaryNoiseNow: an episode going on is a wake-up once it lasted a
// minute, and before that neither a wake-up nor a short noise.
func TestSummaryNoiseNow(t *testing.T) {
	night := t0.Add(16 * time.Hour)
	young := []Record{{Kind: KindEpisode, Start: t0.Add(time.Hour), End: t0.Add(time.Hour + 20*time.Second), Open: true}}
	if s := Summarize(young, t0, night, 0); s.Wakeups != 0 || s.Short != 0 || !s.Noise {
		t.Errorf("a 20 s episode going on: %+v, want only noise now", s)
	}
	if got, want := Summarize(young, t0, night, 0).Text(time.UTC), "no wake-ups, noise now (since 19:00)"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	old := []Record{{Kind: KindEpisode, Start: t0.Add(time.Hour), End: t0.Add(time.Hour + 3*time.Minute), Open: true}}
	if s := Summarize(old, t0, night, 0); s.Wakeups != 1 || s.Short != 0 || !s.Noise {
		t.Errorf("a 3 min episode going on: %+v, want a wake-up, noise now", s)
	}
}
