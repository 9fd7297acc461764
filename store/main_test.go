package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cleanupM{m})
}

// cleanupM removes what benchmarks built once the tests have run.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer cleanupBench()
	return c.m.Run()
}

// fp returns a fingerprint whose bytes are all n.
func fp(n int) [32]byte {
	var f [32]byte
	for i := range f {
		f[i] = byte(n)
	}
	return f
}

// fakeClock returns a clock that starts at start and advances by step on
// every call. It is safe for concurrent use.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

// logBuffer is a slog destination tests can read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openTest opens a store in t's temp dir (or at path) and closes it when
// the test ends. After closing it runs bbolt's consistency check.
func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "events.db")
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		checkFile(t, path)
	})
	return s
}

// checkFile runs bbolt's consistency check (tx.Check) on the closed store
// at path. A test that removed the file has nothing to check.
func checkFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Errorf("after close: cannot open %s for the consistency check: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("after close: tx.Check of %s: %v", path, err)
	}
}

// checkClose runs the consistency check and closes s.
func checkClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustAppend(t testing.TB, s *Store, ps ...Payload) uint64 {
	t.Helper()
	seq, err := s.Append(context.Background(), ps...)
	if err != nil {
		t.Fatalf("Append(%v): %v", ps, err)
	}
	return seq
}

// allEvents reads the whole log.
func allEvents(t testing.TB, s *Store) []Event {
	t.Helper()
	var evs []Event
	if err := s.Events(0, func(e Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return evs
}

// diffState fails t if two states differ, naming the projection.
func diffState(t testing.TB, what string, got, want State) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			t.Errorf("%s: %s differs:\n got %+v\nwant %+v", what, g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface())
		}
	}
}

// randTime is a UTC time without a monotonic reading, sometimes zero.
func randTime(r *rand.Rand) time.Time {
	if r.IntN(5) == 0 {
		return time.Time{}
	}
	return time.Unix(r.Int64N(2e9), r.Int64N(1e9)).UTC()
}

// randPayload draws a payload from a small space of fingerprints and
// connection ids, so that revocations, closes and resets hit something.
func randPayload(r *rand.Rand) Payload {
	f := fp(1 + r.IntN(6))
	conn := fmt.Sprintf("c%d", r.IntN(8))
	switch n := r.IntN(100); {
	case n < 18:
		return ListenerTrusted{Fingerprint: f, Name: fmt.Sprintf("phone %d", r.IntN(100)), At: randTime(r)}
	case n < 28:
		return ListenerRevoked{Fingerprint: f, Reason: "user"}
	case n < 46:
		return ConnectionOpened{ConnID: conn, Fingerprint: f, Remote: "192.0.2.1:4433"}
	case n < 60:
		return ConnectionClosed{ConnID: conn, Fingerprint: f, Remote: "192.0.2.1:4433", Reason: "eof", Duration: time.Duration(r.Int64N(1e12))}
	case n < 65:
		return PairingWindowOpened{Duration: 3 * time.Minute, Until: randTime(r)}
	case n < 69:
		return PairingWindowClosed{Reason: []CloseReason{CloseTimeout, CloseSuccess, CloseManual, CloseTooManyFailures}[r.IntN(4)]}
	case n < 76:
		return PairingAttemptFailed{Peer: f, Reason: "bad confirmation"}
	case n < 78:
		return TrustReset{Reason: "button"}
	case n < 80:
		return IdentityCreated{Role: "monitor", Fingerprint: f, Name: "nursery"}
	case n < 82:
		var salt []byte // decoding gives nil for empty
		if n := r.IntN(3) * 8; n > 0 {
			salt = make([]byte, n)
		}
		return SetupCodeSet{Scheme: "spake2+", Salt: salt, Verifier: []byte{1, 2, 3}}
	case n < 90:
		return MonitorPaired{DeviceID: fmt.Sprintf("DEV-%d", r.IntN(9)), Name: "nursery", Fingerprint: f, Address: "192.0.2.7:4433", At: randTime(r)}
	case n < 94:
		return MonitorForgotten{Fingerprint: f}
	case n < 96:
		return MonitorAddressSeen{Fingerprint: f, Address: fmt.Sprintf("192.0.2.%d:4433", r.IntN(250))}
	}
	id := fmt.Sprintf("D%d", r.IntN(4))
	switch r.IntN(4) {
	case 0:
		return DeviceRenamed{ID: id, Name: fmt.Sprintf("phone %d", r.IntN(100))}
	case 1:
		return DeviceRevoked{ID: id, Reason: "parent"}
	}
	return DeviceTrusted{ID: id, Name: "Bedside phone", CredentialHash: fp(r.IntN(200)), At: randTime(r)}
}

// samplePayloads has one payload of every type, with every field set.
func samplePayloads() []Payload {
	at := time.Date(2025, 3, 1, 7, 30, 0, 123, time.UTC)
	return []Payload{
		IdentityCreated{Role: "monitor", Fingerprint: fp(1), Name: "nursery"},
		SetupCodeSet{Scheme: "spake2+", Salt: []byte("salt"), Verifier: []byte("verifier")},
		PairingWindowOpened{Duration: 3 * time.Minute, Until: at},
		PairingWindowClosed{Reason: CloseTooManyFailures},
		PairingAttemptFailed{Peer: fp(2), Reason: "bad confirmation"},
		ListenerTrusted{Fingerprint: fp(3), Name: "Mum's phone", At: at},
		ListenerRevoked{Fingerprint: fp(3), Reason: "lost"},
		TrustReset{Reason: "factory reset"},
		ConnectionOpened{ConnID: "c1", Fingerprint: fp(3), Remote: "[fe80::1]:4433"},
		ConnectionClosed{ConnID: "c1", Fingerprint: fp(3), Remote: "[fe80::1]:4433", Reason: "idle timeout", Duration: 90 * time.Second},
		MonitorPaired{DeviceID: "ABCD-EFGH", Name: "nursery", Fingerprint: fp(4), Address: "192.0.2.7:4433", At: at},
		MonitorForgotten{Fingerprint: fp(4)},
		MonitorAddressSeen{Fingerprint: fp(4), Address: "192.0.2.8:4433"},
		DeviceTrusted{ID: "K7Q2-M9XD", Name: "Bedside phone", CredentialHash: fp(5), At: at},
		DeviceRenamed{ID: "K7Q2-M9XD", Name: "Dad's phone"},
		DeviceRevoked{ID: "K7Q2-M9XD", Reason: "lost"},
		SoundStarted{Sound: "pink", Minutes: 30, By: "Mum's phone", Peer: "K7Q2-M9XD"},
		SoundStopped{Reason: SoundStoppedTimer, Duration: 30 * time.Minute},
		TalkStarted{By: "Mum's phone", Peer: "K7Q2-M9XD"},
		TalkEnded{Reason: TalkEndedStopped, Duration: 12 * time.Second},
	}
}
