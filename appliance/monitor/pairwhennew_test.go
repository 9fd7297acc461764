package monitor

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

func openNew(t *testing.T, dir string, limits pairing.WindowConfig) *Monitor {
	t.Helper()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0", PairWhenNew: true, limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A factory-new monitor opens its window at start for the maximum, so the
// first listener pairs with the code alone; once a listener is trusted, a
// restart leaves the window closed.
func TestPairWhenNew(t *testing.T) {
	dir := t.TempDir()
	before := time.Now()
	m := openNew(t, dir, pairing.WindowConfig{})
	st := m.Status().Pairing
	if !st.Open {
		m.Close()
		t.Fatal("factory-new monitor: pairing window closed at start, want open")
	}
	if min := before.Add(pairing.DefaultWindowMax); st.Until.Before(min) || st.Until.After(time.Now().Add(pairing.DefaultWindowMax)) {
		m.Close()
		t.Fatalf("window open until %v, want the maximum (%v from start)", st.Until, pairing.DefaultWindowMax)
	}
	// The code is still required, and a wrong one counts as a failure.
	c := newClient(t)
	conn, _ := c.dial(m)
	if err := c.pair(t, conn, conn, wrongCode(m.SetupCode())); !errors.Is(err, control.ErrPairingFailed) {
		m.Close()
		t.Fatalf("wrong code in the start window: %v, want pairing_failed", err)
	}
	conn2, _ := c.dial(m)
	if err := c.pair(t, conn2, conn2, m.SetupCode()); err != nil {
		m.Close()
		t.Fatalf("pairing in the start window: %v", err)
	}
	if m.Status().Pairing.Open {
		m.Close()
		t.Fatal("window still open after the first pairing")
	}
	if got := m.Store().State().Pairing.LifetimeFailures; got != 1 {
		m.Close()
		t.Fatalf("lifetime failures %d, want 1 (the wrong code)", got)
	}
	m.Close()

	// Restarted with a trusted listener: only the button opens pairing.
	m2 := openNew(t, dir, pairing.WindowConfig{})
	defer m2.Close()
	if m2.Status().Pairing.Open {
		t.Fatal("monitor with a trusted listener opened its window at start")
	}
	if n := len(m2.Store().State().Allowlist); n != 1 {
		t.Fatalf("allowlist has %d listeners after restart, want 1", n)
	}
}

// A monitor with only a phone paired (on its page) is not new: a restart
// leaves the window closed.
func TestPairWhenNewPhoneOnly(t *testing.T) {
	dir := t.TempDir()
	m := openNew(t, dir, pairing.WindowConfig{})
	if !m.Status().Pairing.Open {
		m.Close()
		t.Fatal("factory-new monitor: pairing window closed at start, want open")
	}
	if _, _, err := m.PairDevice(t.Context(), netip.MustParseAddr("192.0.2.7"), string(m.SetupCode()), "Bedside phone"); err != nil {
		m.Close()
		t.Fatal(err)
	}
	m.Close()
	m2 := openNew(t, dir, pairing.WindowConfig{})
	defer m2.Close()
	if m2.Status().Pairing.Open {
		t.Fatal("a monitor with a phone paired opened its window at start")
	}
}

// Without PairWhenNew (pair_when_new = false) a new monitor starts closed.
func TestPairWhenNewOff(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	if m.Status().Pairing.Open {
		t.Fatal("pairing window open at start with PairWhenNew off")
	}
}

// Failures recorded before lock nothing: a factory-new monitor with 100
// wrong codes in its log still opens its window at start.
func TestPairWhenNewAfterFailures(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir+"/events.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := st.Append(t.Context(), store.PairingAttemptFailed{Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	m := openNew(t, dir, pairing.WindowConfig{})
	defer m.Close()
	if ps := m.Status().Pairing; !ps.Open || ps.LifetimeFailures != 100 {
		t.Fatalf("at start after 100 recorded failures: %+v, want open", ps)
	}
}
