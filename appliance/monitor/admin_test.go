package monitor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/admin"
	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/hw/sim"
)

// TestAdminClient: the typed admin client against a running monitor; the
// monitor's refusals come back as the same sentinels, and the offline
// setup info is the running monitor's.
func TestAdminClient(t *testing.T) {
	dir := t.TempDir()
	m := openMonitor(t, dir, pairing.WindowConfig{})
	c := &admin.Client{Path: m.cfg.AdminSocket}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := c.OpenPairing(ctx, 20*time.Minute); !errors.Is(err, pairing.ErrWindowDuration) {
		t.Errorf("a 20 min window: %v, want ErrWindowDuration", err)
	}
	until, err := c.OpenPairing(ctx, time.Minute)
	if err != nil || until.IsZero() {
		t.Fatalf("OpenPairing: %v %v", until, err)
	}
	if st, err := c.Status(ctx); err != nil || !st.Pairing.Open || st.Port != m.Addr().Port {
		t.Errorf("Status: %+v %v", st, err)
	}
	if err := c.ClosePairing(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, "nonsense"); !errors.Is(err, identity.ErrBadFingerprint) {
		t.Errorf("revoke nonsense: %v, want ErrBadFingerprint", err)
	}
	if err := c.Revoke(ctx, m.Fingerprint().String()); !errors.Is(err, admin.ErrUnknownListener) {
		t.Errorf("revoke a stranger: %v, want ErrUnknownListener", err)
	}
	si, err := c.SetupInfo(ctx)
	if err != nil || si.Code != m.SetupCode().String() {
		t.Fatalf("SetupInfo: %+v %v", si, err)
	}
	off, err := OfflineSetupInfo(Config{StateDir: dir, Listen: m.Addr().String()})
	if err != nil || off != si {
		t.Errorf("OfflineSetupInfo = %+v, %v; running monitor says %+v", off, err, si)
	}

	// A wrong code is counted and shown; the window stays open.
	c.OpenPairing(ctx, time.Minute)
	cl := newClient(t)
	conn, _ := cl.dial(m)
	if err := cl.pair(t, conn, conn, wrongCode(m.SetupCode())); err == nil {
		t.Fatal("a wrong code paired")
	}
	waitFor(t, func() bool { return m.Status().Pairing.FailedAttempts == 1 })
	if st, err := c.Status(ctx); err != nil || !st.Pairing.Open || st.Pairing.FailedAttempts != 1 || st.Pairing.Strangers.Accepted != 1 {
		t.Errorf("after a wrong code: %+v %v", st.Pairing, err)
	}
	if evs, err := c.Events(ctx, 0); err != nil || len(evs) == 0 {
		t.Errorf("Events: %d %v", len(evs), err)
	}
}

// TestStatusListsConnectionsByID: `cradled status` lists the live
// connections in the order they came (by connection id), whatever order
// the peer table keeps them in.
func TestStatusListsConnectionsByID(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	if _, err := m.OpenPairing(time.Minute); err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // one a device: at most 2 unpaired come from one address
		c := newClientFrom(t, fmt.Sprintf("127.0.0.%d", 2+i))
		c.dial(m)
	}
	waitFor(t, func() bool { return len(m.Status().Connections) == 4 })
	conns := m.Status().Connections
	for i := 1; i < len(conns); i++ {
		if conns[i-1].ID >= conns[i].ID {
			t.Fatalf("connections out of order: %d before %d", conns[i-1].ID, conns[i].ID)
		}
	}
}

// TestAdminOpenPairingWithSimulatedButton: with the simulated panel,
// `cradled pair` opens the default window (by pressing its button, the
// parent's path), and a window asked for with a duration opens for that
// duration, not the button's.
func TestAdminOpenPairingWithSimulatedButton(t *testing.T) {
	dev, err := sim.New(hw.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Device: dev, limits: pairing.WindowConfig{DefaultOpen: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := adminBackend{m}
	for _, tc := range []struct {
		d, want time.Duration
	}{{0, 3 * time.Minute}, {7 * time.Minute, 7 * time.Minute}} {
		before := time.Now()
		until, err := b.OpenPairing(ctx, tc.d)
		if err != nil {
			t.Fatalf("OpenPairing(%v): %v", tc.d, err)
		}
		if got := until.Sub(before); got < tc.want-10*time.Second || got > tc.want+10*time.Second {
			t.Errorf("OpenPairing(%v) opened for %v, want %v", tc.d, got.Round(time.Second), tc.want)
		}
		m.ClosePairing()
	}
}

// TestButtonGivesAFreshTurn: at first setup a phone that tried three
// wrong codes is refused (pairing_locked) even with the right one; a
// press of the monitor's (simulated) button, the parent standing at the
// monitor, gives it a new turn, and the right code from the same address
// pairs. The window's own count of wrong codes carries on.
func TestButtonGivesAFreshTurn(t *testing.T) {
	dev, err := sim.New(hw.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Device: dev, limits: pairing.WindowConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := adminBackend{m}
	if _, err := b.OpenPairing(ctx, 0); err != nil { // the first press
		t.Fatal(err)
	}
	c := newClient(t)
	conn, _ := c.dial(m)
	wrong := wrongCode(m.SetupCode())
	for i := 1; i <= 3; i++ {
		if err := c.pair(t, conn, conn, wrong); !errors.Is(err, control.ErrPairingFailed) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if err := c.pair(t, conn, conn, m.SetupCode()); !errors.Is(err, control.ErrPairingLocked) {
		t.Fatalf("the right code after three wrong ones: %v, want pairing_locked", err)
	}
	if _, err := b.OpenPairing(ctx, 0); err != nil { // the parent presses the button
		t.Fatal(err)
	}
	if st := m.Status().Pairing; !st.Open || st.FailedAttempts != 3 {
		t.Fatalf("after the press: %+v, want the window open with its 3 wrong codes", st)
	}
	if err := c.pair(t, conn, conn, m.SetupCode()); err != nil {
		t.Fatalf("the right code after a press of the button: %v", err)
	}
	waitFor(t, func() bool { return len(m.Listeners()) == 1 })
}
