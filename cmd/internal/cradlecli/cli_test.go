package cradlecli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/identity"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestIDIsStable(t *testing.T) {
	dir := t.TempDir()
	a, errs, code := runCLI("--state-dir", dir, "id")
	if code != 0 {
		t.Fatalf("id: %d %s", code, errs)
	}
	if _, err := identity.ParseFingerprint(strings.TrimSpace(a)); err != nil {
		t.Fatalf("id printed %q: %v", a, err)
	}
	b, _, _ := runCLI("--state-dir", dir, "id")
	if a != b {
		t.Fatalf("fingerprint changed between runs: %q %q", a, b)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"pair", "127.0.0.1:1"},
		{"pair", "--code", "2468-1357"},
		{"forget"},
		{"teleport"},
		{"listen"},
		{"listen", "Nursery", "--volume", "250"},
		{"listen", "Nursery", "--volume", "-1"},
		{"--log-level", "chatty", "id"},
		{"sound"},
		{"sound", "Nursery"},
		{"sound", "Nursery", "rain"},
		{"sound", "Nursery", "pink", "--for", "45m"},
		{"sound", "Nursery", "stop", "--for", "15m"},
		{"sound", "Nursery", "pink", "extra"},
	} {
		if _, errs, code := runCLI(append([]string{"--state-dir", dir}, args...)...); code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errs, ExitUsage)
		}
	}
	if _, errs, code := runCLI("--state-dir", dir, "pair", "127.0.0.1:1", "--code", "1111-1111"); code == 0 || !strings.Contains(errs, "setup code") {
		t.Errorf("trivial code accepted: %d %s", code, errs)
	}
	if _, errs, code := runCLI("--state-dir", dir, "forget", "nursery"); code != ExitError || !strings.Contains(errs, "no paired monitor") {
		t.Errorf("forget unknown: %d %s", code, errs)
	}
}

func TestUnreachable(t *testing.T) {
	dir := t.TempDir()
	// Nobody listens on this port (a UDP port we hold closed is not
	// guaranteed; the discard port on loopback is closed on test machines).
	_, errs, code := runCLI("--state-dir", dir, "pair", "127.0.0.1:9", "--code", "2468-1357", "--timeout", "2s")
	if code != ExitUnreachable {
		t.Fatalf("unreachable monitor: exit %d, stderr %s", code, errs)
	}
}

// TestListenNoOutput: without any audio output, listen stops with an
// error that says what to do; it never runs silently.
func TestListenNoOutput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PULSE_SERVER", "unix:"+dir+"/nobody.sock") // no PulseAudio
	_, errs, code := runCLI("--state-dir", dir, "listen", "Nursery", "--output", "no-such-speaker")
	if code == 0 {
		t.Fatal("listen ran without an output")
	}
	if !strings.Contains(errs, "--output") {
		t.Fatalf("the error does not say what to do: %s", errs)
	}
}
