//go:build cgo

package cradlecli

import (
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// TestOutputsOpen: every name cradle outputs prints is one listen
// --output opens; with no PulseAudio server, it prints no PulseAudio.
func TestOutputsOpen(t *testing.T) {
	dir := t.TempDir()
	t.Run("no server", func(t *testing.T) {
		t.Setenv("PULSE_SERVER", "unix:"+dir+"/nobody.sock")
		t.Setenv("XDG_RUNTIME_DIR", dir)
		out, errs, code := runCLI("--state-dir", dir, "outputs")
		if code != 0 && !strings.Contains(errs, "no sound system") {
			t.Fatalf("outputs: exit %d %s", code, errs)
		}
		if strings.Contains(out, "PulseAudio") {
			t.Errorf("outputs lists PulseAudio with no server:\n%s", out)
		}
	})
	t.Run("server", func(t *testing.T) {
		pulsetest.Start(t).Setenv(t)
		out, errs, code := runCLI("--state-dir", dir, "outputs")
		if code != 0 {
			t.Fatalf("outputs: exit %d %s", code, errs)
		}
		names := strings.Split(strings.TrimSpace(out), "\n")
		if len(names) == 0 || strings.HasPrefix(names[0], "No audio output") {
			t.Fatalf("no output listed with a server running: %q", out)
		}
		for _, n := range names {
			if strings.HasPrefix(n, "(without --output: ") {
				continue // the default, named above
			}
			o, err := play.OpenDevice(n)
			if err != nil {
				t.Errorf("cradle outputs printed %q, but it does not open: %v", n, err)
				continue
			}
			o.Close()
		}
	})
}
