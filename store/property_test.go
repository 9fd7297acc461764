package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProjectionProperty checks, for a few hundred random event sequences,
// that four ways of computing the projections agree:
//
//   - live: State kept current by Append (batch by batch, copy-on-write);
//   - fold: State.Apply over the events read back from the log;
//   - snapshot + tail: a reopen that loads the last automatic snapshot and
//     replays the events after it;
//   - full replay: a reopen that ignores the snapshot.
//
// Sequences that include a Compact compare the full replay on everything
// but the connection history, which the snapshot alone preserves.
func TestProjectionProperty(t *testing.T) {
	dir := t.TempDir()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 0xC0FFEE))
		opts := Options{
			SnapshotEvery:   1 + r.IntN(12),
			HistoryLen:      1 + r.IntN(6),
			Clock:           fakeClock(time.Unix(r.Int64N(2e9), 0), time.Duration(r.Int64N(1e10))),
			noSync:          true,
			noCloseSnapshot: true,
		}
		name := fmt.Sprintf("seed %d (snapshot every %d, history %d)", seed, opts.SnapshotEvery, opts.HistoryLen)
		path := filepath.Join(dir, fmt.Sprintf("%d.db", seed))
		s := openTest(t, path, opts)
		compacted := false
		for n := r.IntN(80); n > 0; {
			k := min(n, 1+r.IntN(5))
			ps := make([]Payload, k)
			for i := range ps {
				ps[i] = randPayload(r)
			}
			mustAppend(t, s, ps...)
			n -= k
			if r.IntN(40) == 0 {
				before := s.State()
				if _, err := s.Compact(r.IntN(4)); err != nil {
					t.Fatal(err)
				}
				diffState(t, name+": compact", s.State(), before)
				compacted = true
			}
		}
		live := s.State()

		folded := State{HistoryLen: opts.HistoryLen}
		for _, e := range allEvents(t, s) {
			folded = folded.Apply(e)
		}
		folded.Seq = live.Seq // a compacted tail leaves Seq ahead of the last event
		if !compacted {
			diffState(t, name+": fold", folded, live)
		}
		checkClose(t, s)

		s = openTest(t, path, opts)
		diffState(t, name+": snapshot + tail", s.State(), live)
		checkClose(t, s)

		full := opts
		full.ignoreSnapshot = true
		s = openTest(t, path, full)
		got := s.State()
		if compacted {
			got.History, live.History = nil, nil
		}
		diffState(t, name+": full replay", got, live)
		checkClose(t, s)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestSnapshotTailIsShort checks that Open replays only the events after
// the snapshot: a tail of records that would change the state if replayed
// twice shows it.
func TestSnapshotTailIsShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openTest(t, path, Options{SnapshotEvery: 4, noCloseSnapshot: true})
	for range 10 {
		mustAppend(t, s, PairingAttemptFailed{Peer: fp(1)})
	}
	checkClose(t, s)
	if seq, _ := snapshotSeq(t, path); seq != 8 {
		t.Fatalf("snapshot covers %d, want 8", seq)
	}
	var lb logBuffer
	s = openTest(t, path, Options{Logger: lb.logger()})
	if got := s.State().Pairing.LifetimeFailures; got != 10 {
		t.Errorf("LifetimeFailures = %d, want 10", got)
	}
	if want := "snapshot_seq=8"; !strings.Contains(lb.String(), want) {
		t.Errorf("log %q does not mention %s", lb.String(), want)
	}
}
