package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestAppendAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	clock := fakeClock(t0, time.Second)
	s := openTest(t, path, Options{Clock: clock})
	if seq := mustAppend(t, s, ListenerTrusted{Fingerprint: fp(1), Name: "a"}); seq != 1 {
		t.Errorf("first seq = %d", seq)
	}
	if seq := mustAppend(t, s, ListenerTrusted{Fingerprint: fp(2), Name: "b"}, ListenerRevoked{Fingerprint: fp(1)}); seq != 3 {
		t.Errorf("batch seq = %d, want 3", seq)
	}
	if seq := mustAppend(t, s); seq != 3 {
		t.Errorf("empty Append = %d, want the current seq 3", seq)
	}
	st := s.State()
	if _, ok := st.Trusted(fp(1)); ok || st.Seq != 3 {
		t.Errorf("state after revoke: %+v", st)
	}
	if l, ok := st.Trusted(fp(2)); !ok || l.Name != "b" || l.Seq != 2 {
		t.Errorf("Trusted(2) = %+v, %v", l, ok)
	}
	evs := allEvents(t, s)
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Version != 1 || e.Boot != s.boot || e.Time.Location() != time.UTC {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if !evs[0].Time.Equal(t0.Add(2*time.Second)) || evs[0].Mono != time.Second {
		t.Errorf("event 1 stamped %v mono %v; want %v and 1s", evs[0].Time, evs[0].Mono, t0.Add(2*time.Second))
	}
	if evs[1].Time != evs[2].Time {
		t.Errorf("one Append got two times: %v, %v", evs[1].Time, evs[2].Time)
	}
	boot := s.boot
	checkClose(t, s)

	s = openTest(t, path, Options{})
	diffState(t, "reopen", s.State(), st)
	if seq := mustAppend(t, s, TrustReset{}); seq != 4 {
		t.Errorf("seq after reopen = %d, want 4", seq)
	}
	if evs := allEvents(t, s); evs[3].Boot == boot {
		t.Error("boot id did not change across opens")
	}
	checkClose(t, s)
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	checkClose(t, openTest(t, path, Options{}))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestAppendInvalid(t *testing.T) {
	s := openTest(t, "", Options{})
	type foreign struct{ Payload }
	for name, p := range map[string]Payload{
		"nil":       nil,
		"unknown":   Unknown{Type: 99},
		"foreign":   foreign{},
		"too large": ListenerTrusted{Name: strings.Repeat("x", MaxRecordSize)},
	} {
		if _, err := s.Append(context.Background(), ListenerTrusted{}, p); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("%s: err = %v, want ErrInvalidPayload", name, err)
		}
	}
	if s.State().Seq != 0 || len(allEvents(t, s)) != 0 {
		t.Error("a rejected Append stored something")
	}
	// A pointer to a payload is accepted and stored as the value.
	mustAppend(t, s, &ListenerTrusted{Fingerprint: fp(1)})
	if _, ok := allEvents(t, s)[0].Payload.(ListenerTrusted); !ok {
		t.Error("pointer payload not decoded as a value")
	}
}

func TestClosed(t *testing.T) {
	s := openTest(t, "", Options{})
	mustAppend(t, s, ListenerTrusted{Fingerprint: fp(1)})
	sub := s.Subscribe(1)
	checkClose(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Append(context.Background(), TrustReset{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := s.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
	if _, err := s.Compact(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Compact after Close: %v", err)
	}
	if err := s.Events(0, func(Event) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after Close: %v", err)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
	if _, ok := s.State().Trusted(fp(1)); !ok {
		t.Error("State after Close lost the allowlist")
	}
}

// TestCloseDuringAppends checks that Close waits for the appends handed to
// the writer: every Append that succeeded is on disk afterwards.
func TestCloseDuringAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openTest(t, path, Options{noSync: true})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[uint64]string{}
	)
	started := make(chan struct{}, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				seq, err := s.Append(context.Background(), ConnectionOpened{ConnID: id})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[seq] = id
				mu.Unlock()
				if i == 5 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	checkClose(t, s)
	wg.Wait()

	s = openTest(t, path, Options{})
	got := map[uint64]string{}
	for _, e := range allEvents(t, s) {
		got[e.Seq] = e.Payload.(ConnectionOpened).ConnID
	}
	for seq, id := range acked {
		if got[seq] != id {
			t.Errorf("acked seq %d (%s) reads %q", seq, id, got[seq])
		}
	}
}

func TestAppendContext(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, TrustReset{})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v", err)
	}
}

// snapshotSeq reads the seq of the snapshot stored in a closed store.
func snapshotSeq(t *testing.T, path string) (uint64, bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq uint64
	var ok bool
	db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bucketSnapshots).Get(keySnapshot); raw != nil {
			st, err := decodeSnapshot(raw)
			if err != nil {
				t.Fatal(err)
			}
			seq, ok = st.Seq, true
		}
		return nil
	})
	return seq, ok
}

func TestSnapshots(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		opts    Options
		appends int
		explict bool
		want    uint64 // 0: no snapshot
	}{
		{"every 10", Options{SnapshotEvery: 10, noCloseSnapshot: true}, 25, false, 20},
		{"default interval", Options{noCloseSnapshot: true}, 25, false, 0},
		{"explicit", Options{SnapshotEvery: -1, noCloseSnapshot: true}, 25, true, 25},
		{"on close", Options{SnapshotEvery: -1}, 25, false, 25},
		{"disabled", Options{SnapshotEvery: -1, noCloseSnapshot: true}, 25, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".db")
			s := openTest(t, path, tt.opts)
			for i := range tt.appends {
				mustAppend(t, s, ConnectionOpened{ConnID: fmt.Sprint(i)})
			}
			if tt.explict {
				if err := s.Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
			want := s.State()
			checkClose(t, s)
			seq, ok := snapshotSeq(t, path)
			if seq != tt.want || ok != (tt.want != 0) {
				t.Errorf("snapshot covers %d (stored %v), want %d", seq, ok, tt.want)
			}
			s = openTest(t, path, Options{})
			diffState(t, "reopen", s.State(), want)
		})
	}
}

func TestHistoryLenChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openTest(t, path, Options{HistoryLen: 10})
	for i := range 10 {
		mustAppend(t, s, ConnectionOpened{ConnID: fmt.Sprint(i)})
	}
	checkClose(t, s)
	s = openTest(t, path, Options{HistoryLen: 4})
	h := s.State().History
	if len(h) != 4 || h[0].ConnID != "6" || s.State().HistoryLen != 4 {
		t.Errorf("history after shrinking = %+v", h)
	}
	if _, err := Open(path+"x", Options{HistoryLen: -1}); err == nil {
		t.Error("negative HistoryLen accepted")
	}
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openTest(t, path, Options{HistoryLen: 20, SnapshotEvery: -1})
	var trust int
	for i := range 100 {
		mustAppend(t, s, ConnectionOpened{ConnID: fmt.Sprint(i), Fingerprint: fp(i % 5)})
		if i%7 == 0 {
			mustAppend(t, s, ListenerTrusted{Fingerprint: fp(i), Name: fmt.Sprint(i)})
			trust++
		}
		if i%3 == 0 {
			mustAppend(t, s, ConnectionClosed{ConnID: fmt.Sprint(i), Reason: "eof"})
		}
	}
	mustAppend(t, s, PairingAttemptFailed{Peer: fp(1)}, ConnectionOpened{ConnID: "last"})
	before := s.State()
	sub := s.Subscribe(0) // reads after the compaction

	removed, err := s.Compact(5)
	if err != nil {
		t.Fatal(err)
	}
	var conns, trusted, others int
	var seqs []uint64
	for _, e := range allEvents(t, s) {
		seqs = append(seqs, e.Seq)
		switch e.Type {
		case TypeConnectionOpened, TypeConnectionClosed:
			conns++
		case TypeListenerTrusted:
			trusted++
		default:
			others++
		}
	}
	if conns != 5 || trusted != trust || others != 1 || removed != 100+34+1-5 {
		t.Errorf("after Compact(5): removed %d; %d connection, %d trusted, %d other events", removed, conns, trusted, others)
	}
	diffState(t, "after compact", s.State(), before)
	if removed, _ := s.Compact(5); removed != 0 {
		t.Errorf("second Compact removed %d", removed)
	}

	for i, want := range seqs {
		e, err := sub.Next(context.Background())
		if err != nil || e.Seq != want {
			t.Fatalf("subscription event %d = seq %d, %v; want seq %d", i, e.Seq, err, want)
		}
	}
	sub.Close()

	seq := mustAppend(t, s, ConnectionOpened{ConnID: "after"})
	if seq != before.Seq+1 {
		t.Errorf("seq after compact = %d, want %d", seq, before.Seq+1)
	}
	want := s.State()
	checkClose(t, s)
	s = openTest(t, path, Options{HistoryLen: 20})
	diffState(t, "reopen after compact", s.State(), want)

	if removed, err := s.Compact(0); err != nil || removed != 6 {
		t.Errorf("Compact(0) = %d, %v; want 6", removed, err)
	}
	diffState(t, "after Compact(0)", s.State(), want)
	if _, err := s.Compact(-1); err == nil {
		t.Error("Compact(-1) succeeded")
	}
	checkClose(t, s)
	s = openTest(t, path, Options{HistoryLen: 20})
	diffState(t, "reopen after Compact(0)", s.State(), want)

	// Without the snapshot, trust is still rebuilt from the log.
	checkClose(t, s)
	s = openTest(t, path, Options{HistoryLen: 20, ignoreSnapshot: true})
	got := s.State()
	if !reflect.DeepEqual(got.Allowlist, want.Allowlist) || got.Pairing != want.Pairing {
		t.Errorf("full replay after compaction lost trust: %+v", got)
	}
}
