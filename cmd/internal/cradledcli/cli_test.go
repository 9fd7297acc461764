package cradledcli

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/monitor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		toml, want string
	}{
		{`pairing_window = "20m"`, "pairing_window"},
		{`pairing_window = "soon"`, "not a duration"},
		{`auto_stream = "loud"`, "auto_stream"},
		{`heartbeat_interval = "10ms"`, "heartbeat"},
		{`heartbeat_misses = 0` + "\n" + `heartbeat_interval = "90s"`, "heartbeat"},
		{`log_level = "chatty"`, "log_level"},
		{`test_audio = "tone:3s,beep"`, `test audio "tone:3s,beep": step 2 "beep"`},
		{`colour = "blue"`, `unknown key "colour"`},
		{`name = `, "line 1"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errs, code := runCLI("--config", path, "--state-dir", dir, "id")
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("config %q: exit %d, stderr %q; want exit 2 naming %q", tt.toml, code, errs, tt.want)
		}
	}
	if _, errs, code := runCLI("--config", filepath.Join(dir, "missing.toml"), "id"); code != 2 || !strings.Contains(errs, "missing.toml") {
		t.Errorf("missing explicit config: exit %d %q", code, errs)
	}
}

// TestTestAudio: the test tone's script comes from test_audio or
// --test-audio (which wins) and is checked at start.
func TestTestAudio(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	os.WriteFile(path, []byte("media = \"test\"\ntest_audio = \"tone:3s,stall\"\n"), 0o600)
	if _, errs, code := runCLI("--config", path, "--state-dir", dir, "id"); code != 0 {
		t.Fatalf("test_audio in the file: exit %d %s", code, errs)
	}
	if _, errs, code := runCLI("--config", path, "--state-dir", dir, "--test-audio", "silence:1s,stall:nope", "id"); code != 2 || !strings.Contains(errs, `step 2 "stall:nope"`) {
		t.Fatalf("--test-audio over the file: exit %d %q, want the flag's script rejected", code, errs)
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	state := filepath.Join(dir, "from-file")
	os.WriteFile(path, []byte("state_dir = \""+state+"\"\nname = \"Attic\"\npairing_window = \"5m\"\n"), 0o600)
	out, errs, code := runCLI("--config", path, "id")
	if code != 0 {
		t.Fatalf("id: %d %s", code, errs)
	}
	if _, err := identity.ParseFingerprint(strings.TrimSpace(out)); err != nil {
		t.Fatalf("id printed %q: %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(state, "identity")); err != nil {
		t.Fatalf("state_dir from the file not used: %v", err)
	}
	other := filepath.Join(dir, "from-flag")
	if _, errs, code := runCLI("--config", path, "--state-dir", other, "id"); code != 0 {
		t.Fatalf("id: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(other, "identity")); err != nil {
		t.Fatalf("--state-dir did not override the file: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, errs, code := runCLI("--state-dir", t.TempDir(), "fly"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("exit %d %q", code, errs)
	}
}

func TestAdminCommandsNeedDaemon(t *testing.T) {
	_, errs, code := runCLI("--state-dir", t.TempDir(), "status")
	if code != 1 || !strings.Contains(errs, "not running") {
		t.Fatalf("status without daemon: exit %d %q", code, errs)
	}
}

// TestAdminSubcommands: the subcommands against a monitor running
// in-process, through the typed admin client; the offline setup code is
// the running monitor's.
func TestAdminSubcommands(t *testing.T) {
	dir := t.TempDir()
	offline, errs, code := runCLI("--state-dir", dir, "--listen", "127.0.0.1:48123", "setup-code")
	if code != 0 {
		t.Fatalf("setup-code offline: %d %s", code, errs)
	}
	m, err := monitor.Open(monitor.Config{StateDir: dir, Listen: "127.0.0.1:48123"})
	if err != nil {
		t.Skipf("cannot run a monitor on 127.0.0.1:48123: %v", err)
	}
	defer m.Close()
	if online, errs, code := runCLI("--state-dir", dir, "setup-code"); code != 0 || online != offline {
		t.Errorf("setup-code online: %d %s\n%s\noffline:\n%s", code, errs, online, offline)
	}
	if out, errs, code := runCLI("--state-dir", dir, "status", "--json"); code != 0 || !strings.Contains(out, `"port": 48123`) {
		t.Errorf("status --json: %d %s %s", code, out, errs)
	}
	if _, errs, code := runCLI("--state-dir", dir, "pair", "--duration", "20m"); code != 1 || !strings.Contains(errs, "at most 15m") {
		t.Errorf("pair --duration 20m: %d %s", code, errs)
	}
	if out, errs, code := runCLI("--state-dir", dir, "pair", "--duration", "1m"); code != 0 || !strings.Contains(out, "Pairing window open until") {
		t.Errorf("pair: %d %s %s", code, out, errs)
	}
	if _, errs, code := runCLI("--state-dir", dir, "revoke", m.Fingerprint().String()); code != 1 || !strings.Contains(errs, "no trusted listener") {
		t.Errorf("revoke a stranger: %d %s", code, errs)
	}
	if _, errs, code := runCLI("--state-dir", dir, "reset"); code != 2 || !strings.Contains(errs, "--yes") {
		t.Errorf("reset without --yes: %d %s", code, errs)
	}
	if out, errs, code := runCLI("--state-dir", dir, "events"); code != 0 || !strings.Contains(out, "pairing-window-opened") {
		t.Errorf("events: %d %s %s", code, out, errs)
	}
}

// TestDevicesSubcommands: a phone paired on the page is listed beside
// the listeners and revoked by its id.
func TestDevicesSubcommands(t *testing.T) {
	dir := t.TempDir()
	m, err := monitor.Open(monitor.Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	_, d, err := m.PairDevice(ctx, netip.MustParseAddr("127.0.0.5"), m.SetupCode().String(), "Bedside phone")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI("--state-dir", dir, "listeners")
	if code != 0 || !strings.Contains(out, "device") || !strings.Contains(out, "Bedside phone") || !strings.Contains(out, d.ID) {
		t.Fatalf("listeners: %d %s\n%s", code, errs, out)
	}
	if out, _, code := runCLI("--state-dir", dir, "listeners", "--json"); code != 0 || !strings.Contains(out, `"kind": "device"`) || !strings.Contains(out, `"id": "`+d.ID+`"`) {
		t.Errorf("listeners --json: %d\n%s", code, out)
	}
	if _, errs, code := runCLI("--state-dir", dir, "revoke", "ABCDEFGH"); code != 1 || !strings.Contains(errs, "no paired device") {
		t.Errorf("revoke an unknown device: %d %s", code, errs)
	}
	gone := m.DeviceGone(d.ID)
	if out, errs, code := runCLI("--state-dir", dir, "revoke", strings.ToLower(d.ID)); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke %s: %d %s %s", d.ID, code, out, errs)
	}
	select {
	case <-gone:
	case <-time.After(time.Second):
		t.Fatal("the revoked device's channel is still open after 1 s")
	}
	if len(m.Devices()) != 0 {
		t.Errorf("devices after revoke: %+v", m.Devices())
	}
}

// syncBuffer is a bytes.Buffer that serve may write while the test reads.
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

// TestServeSaysTheTestTone: `make run` starts cradled with --media test;
// it says that it plays the test tone on purpose, not a microphone.
func TestServeSaysTheTestTone(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--state-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--page-listen", "off",
			"--mdns=false", "--hw", "sim", "--media", "test"}, strings.NewReader(""), &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Sound:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	want := "Sound: no microphone: a test tone 440 Hz at -12.0 dBFS instead, on purpose (--media test"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("stdout:\n%s\nwant a line %q", out.String(), want)
	}
}
