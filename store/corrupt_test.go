package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cradle-monitor/cradle/deploy/unpriv"
)

// buildStore writes a store with n events, among them some trusted
// listeners, and returns its path and final state.
func buildStore(t *testing.T, n int, opts Options) (string, State) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	opts.noSync = true
	s := openTest(t, path, opts)
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < n; i += 50 {
		ps := make([]Payload, 50)
		for j := range ps {
			ps[j] = ConnectionOpened{ConnID: fmt.Sprint(i + j), Fingerprint: fp(r.IntN(200)), Remote: "192.0.2.1:4433"}
		}
		ps[0] = ListenerTrusted{Fingerprint: fp(i / 50), Name: fmt.Sprint("listener ", i/50)}
		mustAppend(t, s, ps...)
	}
	st := s.State()
	checkClose(t, s)
	return path, st
}

func wantOpenError(t *testing.T, path string, err error, target error, hint string) {
	t.Helper()
	var oe *OpenError
	if !errors.As(err, &oe) || !errors.Is(err, target) {
		t.Fatalf("Open = %v; want an *OpenError wrapping %v", err, target)
	}
	msg := err.Error()
	if oe.Path != path || !strings.Contains(msg, path) || !strings.Contains(msg, hint) {
		t.Errorf("message %q should name %s and say %q", msg, path, hint)
	}
}

func TestOpenGarbage(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	for name, size := range map[string]int{"empty": 0, "tiny": 100, "one page": 4096, "64 KiB": 64 << 10} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
			}
			wantOpenError(t, path, err, ErrCorrupt, "move it aside and restore a backup, or re-pair listeners")
			if !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("message %q does not say the file is corrupt", err)
			}
		})
	}
}

func TestOpenTruncated(t *testing.T) {
	path, want := buildStore(t, 3000, Options{})
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 4096, 8192, len(orig) / 4, len(orig) / 2, len(orig) - 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "events.db")
			if err := os.WriteFile(p, orig[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p, Options{})
			if err == nil {
				// Only bbolt's slack at the end of the file was cut.
				if size < len(orig)/2 || !reflect.DeepEqual(s.State().Allowlist, want.Allowlist) {
					t.Errorf("truncated to %d of %d bytes: opened with %d listeners, want %d or an error", size, len(orig), len(s.State().Allowlist), len(want.Allowlist))
				}
				s.Close()
				return
			}
			wantOpenError(t, p, err, ErrCorrupt, "restore a backup")
		})
	}
}

// TestOpenDamaged overwrites parts of a valid file with garbage. Whatever
// is hit, nothing may crash, and the store must either refuse to open with
// ErrCorrupt, or open with every trusted listener, or warn about what it
// skipped. Reading the log afterwards may fail, but only with ErrCorrupt.
func TestOpenDamaged(t *testing.T) {
	path, want := buildStore(t, 3000, Options{})
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	outcomes := map[string]int{}
	for i := range 40 {
		for _, full := range []bool{false, true} {
			b := append([]byte(nil), orig...)
			off := r.IntN(len(b)/4096) * 4096
			if i < 3 {
				off = i * 4096 // both meta pages, then the page after
			}
			n := 16 + r.IntN(4096)
			for j := off; j < off+n && j < len(b); j++ {
				b[j] = byte(r.Uint32())
			}
			p := filepath.Join(t.TempDir(), "events.db")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			var lb logBuffer
			s, err := Open(p, Options{Logger: lb.logger(), ignoreSnapshot: full})
			if err != nil {
				wantOpenError(t, p, err, ErrCorrupt, "restore a backup")
				outcomes["refused"]++
				continue
			}
			got := s.State()
			switch {
			case reflect.DeepEqual(got.Allowlist, want.Allowlist):
				outcomes["intact"]++
			case strings.Contains(lb.String(), "level=WARN"):
				outcomes["warned"]++
			default:
				t.Errorf("damage at %d+%d: allowlist changed silently: %d entries, want %d", off, n, len(got.Allowlist), len(want.Allowlist))
			}
			if err := s.Events(0, func(Event) error { return nil }); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("damage at %d+%d: Events: %v", off, n, err)
			}
			s.Close()
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	openTest(t, path, Options{})
	start := time.Now()
	s2, err := Open(path, Options{lockTimeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
	}
	wantOpenError(t, path, err, ErrLocked, "in use by another process")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to give up", d)
	}
}

func TestOpenPermission(t *testing.T) {
	if !unpriv.Run(t) { // root ignores file permissions
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	path := filepath.Join(dir, "events.db")
	_, err := Open(path, Options{})
	wantOpenError(t, path, err, os.ErrPermission, "permissions")
}

// putRaw writes raw records into a closed store at path, after its last
// seq, and returns the seqs used.
func putRaw(t *testing.T, path string, recs ...[]byte) []uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seqs []uint64
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, rec := range recs {
			seq := b.Sequence() + 1
			if len(rec) >= headerLen && rec[0] == envelopeFormat {
				sealRecord(rec, seq)
			}
			if err := b.Put(seqKey(seq), rec); err != nil {
				return err
			}
			if err := b.SetSequence(seq); err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// record encodes p as a record of type typ and schema version v.
func record(typ Type, v uint16, p encoder) []byte {
	return encodeRecord(Event{Type: typ, Version: v, Time: t0}, p)
}

// TestUnreadableRecords writes records from a "newer release" and damaged
// ones into a store: they are kept, skipped by projections with a warning,
// delivered as Unknown, and no trusted listener is lost.
func TestUnreadableRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, ListenerTrusted{Fingerprint: fp(1), Name: "a"}, ListenerTrusted{Fingerprint: fp(2), Name: "b"})
	checkClose(t, s)

	flipped := record(TypeListenerTrusted, 1, ListenerTrusted{Fingerprint: fp(3)})
	sealRecord(flipped, 6)
	flipped[len(flipped)-1] ^= 0xff
	seqs := putRaw(t, path,
		record(999, 1, TrustReset{}),                                        // a type from a newer release
		record(TypeListenerRevoked, 7, ListenerRevoked{Fingerprint: fp(1)}), // a newer schema version
		[]byte("not an envelope at all"),
		append([]byte{2}, make([]byte, 60)...), // a newer envelope format
	)
	putRawSealed(t, path, flipped) // a bit flip: checksum mismatch

	for i, full := range []bool{false, true} {
		wantSeq := uint64(7 + i) // the first round appends (and compacts away) seq 8
		var lb logBuffer
		s := openTest(t, path, Options{Logger: lb.logger(), ignoreSnapshot: full})
		st := s.State()
		if len(st.Allowlist) != 2 || st.Allowlist[fp(1)].Name != "a" || st.Allowlist[fp(2)].Name != "b" {
			t.Errorf("full=%v: allowlist = %+v, want listeners a and b", full, st.Allowlist)
		}
		if st.Seq != wantSeq {
			t.Errorf("full=%v: Seq = %d, want %d", full, st.Seq, wantSeq)
		}
		log := lb.String()
		for _, want := range []string{"unknown event type", "unknown schema version", "checksum mismatch", "envelope format 2", "seq=7"} {
			if !strings.Contains(log, want) {
				t.Errorf("full=%v: log does not mention %q:\n%s", full, want, log)
			}
		}
		if strings.Count(log, "level=WARN") != 5 {
			t.Errorf("full=%v: want 5 warnings:\n%s", full, log)
		}
		evs := allEvents(t, s)
		if len(evs) != 7 {
			t.Fatalf("full=%v: %d events, want 7", full, len(evs))
		}
		for _, e := range evs[2:] {
			if _, ok := e.Payload.(Unknown); !ok {
				t.Errorf("event %d payload = %T, want Unknown", e.Seq, e.Payload)
			}
		}
		if u := evs[2].Payload.(Unknown); u.Type != 999 || u.Version != 1 || len(u.Raw) == 0 {
			t.Errorf("unknown type decoded as %+v", u)
		}
		if seqs[0] != 3 {
			t.Errorf("raw records start at %d", seqs[0])
		}
		// Appends go on after them, and compaction keeps them.
		if seq := mustAppend(t, s, ConnectionOpened{ConnID: "x"}); seq != wantSeq+1 {
			t.Errorf("seq after unknown records = %d, want %d", seq, wantSeq+1)
		}
		if _, err := s.Compact(0); err != nil {
			t.Fatal(err)
		}
		if n := len(allEvents(t, s)); n != 7 {
			t.Errorf("after Compact(0): %d events, want the 7 non-connection ones", n)
		}
		checkClose(t, s)
	}
}

// putRawSealed writes an already sealed record as the next seq.
func putRawSealed(t *testing.T, path string, rec []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		seq := b.Sequence() + 1
		if err := b.Put(seqKey(seq), rec); err != nil {
			return err
		}
		return b.SetSequence(seq)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadSnapshotIgnored(t *testing.T) {
	for name, snap := range map[string][]byte{
		"garbage":      []byte("garbage"),
		"newer format": append([]byte{9}, encodeSnapshot(State{})[1:]...),
		"ahead of log": encodeSnapshot(State{Seq: 1 << 40}),
		"bit flip":     func() []byte { b := encodeSnapshot(State{Seq: 3}); b[len(b)-1] ^= 1; return b }(),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			s := openTest(t, path, Options{})
			mustAppend(t, s, ListenerTrusted{Fingerprint: fp(1)}, PairingAttemptFailed{}, ConnectionOpened{ConnID: "c"})
			want := s.State()
			checkClose(t, s)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSnapshots).Put(keySnapshot, snap) })
			db.Close()

			var lb logBuffer
			s = openTest(t, path, Options{Logger: lb.logger()})
			diffState(t, "after a bad snapshot", s.State(), want)
			if !strings.Contains(lb.String(), "snapshot ignored") {
				t.Errorf("no warning about the snapshot:\n%s", lb.String())
			}
		})
	}
}
