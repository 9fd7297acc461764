package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// syncBuffer is a log sink safe for the monitor's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatalf("%s: the device's channel is still open after 1 s", what)
	}
}

// TestPairDevice runs the page's pairing against the real Monitor: a
// wrong code, then the right one; the credential opens the device; a
// revocation and a factory reset close its channel within 1 s; and the
// log holds neither the code nor the credential.
func TestPairDevice(t *testing.T) {
	var logs syncBuffer
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	phone := netip.MustParseAddr("127.0.0.7")
	code := m.SetupCode()
	var secrets []string // what must never reach the log

	if _, _, err := m.PairDevice(ctx, phone, code.String(), "Bedside phone"); !errors.Is(err, pairing.ErrWindowClosed) {
		t.Fatalf("window closed: err = %v, want ErrWindowClosed", err)
	}
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	wrong := string(wrongCode(code))
	secrets = append(secrets, wrong)
	if _, _, err := m.PairDevice(ctx, phone, wrong, "Bedside phone"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: err = %v, want ErrWrongCode", err)
	}
	if ws := m.window(); !ws.Open || ws.FailuresThisWindow != 1 {
		t.Fatalf("after a wrong code the window is %+v; want open with 1 failure", ws)
	}
	if got := m.st.State().Pairing.LifetimeFailures; got != 1 {
		t.Errorf("the log counts %d failures, want 1", got)
	}
	if !strings.Contains(logs.String(), "wrong setup code was tried from 127.0.0.7") {
		t.Errorf("no warning names the address of the wrong code; log:\n%s", logs.String())
	}

	cred, d, err := m.PairDevice(ctx, phone, code.String(), "Bedside phone")
	if err != nil {
		t.Fatalf("right code after a wrong one: %v", err)
	}
	secrets = append(secrets, cred, string(code), code.String())
	if !store.ValidDeviceID(d.ID) || d.Name != "Bedside phone" || len(cred) != 43 {
		t.Fatalf("PairDevice gave %q, %+v", cred, d)
	}
	// Durable before the answer: the store holds it, with the hash only.
	sd, ok := m.st.State().Device(d.ID)
	if !ok {
		t.Fatal("PairDevice returned before device-trusted was in the log")
	}
	secrets = append(secrets, hex.EncodeToString(sd.CredentialHash[:]))
	if got, ok := m.DeviceByCredential(cred); !ok || got != d {
		t.Fatalf("DeviceByCredential = %+v, %v; want %+v", got, ok, d)
	}
	other := []byte(cred)
	other[10] ^= 1
	for _, bad := range []string{"", string(other), cred[:42], cred + "A", strings.Repeat("!", 43)} {
		if got, ok := m.DeviceByCredential(bad); ok {
			t.Errorf("DeviceByCredential(%q) = %+v", bad, got)
		}
	}
	if ws := m.window(); ws.Open {
		t.Error("the window stays open after a device paired")
	}

	if err := m.RenameDevice(ctx, d.ID, "Mum's phone"); err != nil {
		t.Fatal(err)
	}
	if ds := m.Devices(); len(ds) != 1 || ds[0].Name != "Mum's phone" {
		t.Errorf("Devices() = %+v after a rename", ds)
	}
	if err := m.RenameDevice(ctx, d.ID, ""); !errors.Is(err, ErrDeviceName) {
		t.Errorf("empty name: err = %v", err)
	}

	gone := m.DeviceGone(d.ID)
	if err := m.RevokeDevice(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.DeviceByCredential(cred); ok {
		t.Error("the credential still opens the device after RevokeDevice returned")
	}
	waitClosed(t, gone, "revoked")
	waitClosed(t, m.DeviceGone(d.ID), "asked after the revocation")
	if err := m.RevokeDevice(ctx, d.ID); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("second revoke: err = %v, want ErrUnknownDevice", err)
	}

	// A factory reset forgets devices too.
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	cred2, d2, err := m.PairDevice(ctx, netip.MustParseAddr("::ffff:127.0.0.8"), code.String(), "Kitchen tablet")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, cred2)
	gone = m.DeviceGone(d2.ID)
	if err := m.FactoryReset(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, gone, "reset")
	if _, ok := m.DeviceByCredential(cred2); ok || len(m.Devices()) != 0 {
		t.Error("a device survived the factory reset")
	}

	m.Close()
	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a secret %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "device paired on the page") {
		t.Errorf("no log line says a device paired:\n%s", out)
	}
}

// TestPairDeviceAddressTurn: an address that tried too many wrong codes
// is refused before its code is compared, even the right one; another
// address still pairs.
func TestPairDeviceAddressTurn(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	ctx := context.Background()
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	stranger := netip.MustParseAddr("127.0.0.9")
	code := m.SetupCode()
	for range pairing.DefaultMaxSourceFailures {
		if _, _, err := m.PairDevice(ctx, stranger, string(wrongCode(code)), "x"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("err = %v, want ErrWrongCode", err)
		}
	}
	if _, _, err := m.PairDevice(ctx, stranger, code.String(), "x"); !errors.Is(err, pairing.ErrSourceLocked) {
		t.Fatalf("the right code from a locked address: err = %v, want ErrSourceLocked", err)
	}
	if _, _, err := m.PairDevice(ctx, netip.MustParseAddr("127.0.0.10"), "1234 5678 9", "x"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("a malformed code: err = %v, want ErrWrongCode (a guess all the same)", err)
	}
	if ws := m.window(); ws.FailuresThisWindow != pairing.DefaultMaxSourceFailures+1 {
		t.Errorf("window failures = %d", ws.FailuresThisWindow)
	}
	if _, _, err := m.PairDevice(ctx, netip.MustParseAddr("127.0.0.11"), code.String(), "Bedside phone"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestDeviceAddedToldToListeners: a trusted listener hears of a phone
// paired on the page: its name and id.
func TestDeviceAddedToldToListeners(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	_, conn := pairedClient(t, m)
	m.OpenPairing(0)
	_, d, err := m.PairDevice(context.Background(), netip.MustParseAddr("127.0.0.5"), m.SetupCode().String(), "Bedside phone")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		msg := recv(t, conn) // statuses come meanwhile; recv fails after 5 s without any
		if n, ok := msg.(control.DeviceAdded); ok {
			if n.ID != d.ID || n.Name != "Bedside phone" || n.PairedAtMillis != d.PairedAt.UnixMilli() {
				t.Fatalf("device_added %+v for %+v", n, d)
			}
			return
		}
	}
	t.Fatal("no device_added within 5 s")
}
