package cradlecli

import (
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media/play"
)

// TestSoundCommand pairs with an in-process monitor whose speaker is a
// test sink, then plays, replaces and stops a sound with cradle sound;
// a monitor without a speaker is reported as such.
func TestSoundCommand(t *testing.T) {
	sink := play.NewTestSink(0)
	m, err := monitor.Open(monitor.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	dir, addr := t.TempDir(), m.Addr().String()
	if _, errs, code := runCLI("--state-dir", dir, "--name", "kitchen", "pair", addr, "--code", string(m.SetupCode())); code != 0 {
		t.Fatalf("pair: exit %d: %s", code, errs)
	}
	out, errs, code := runCLI("--state-dir", dir, "sound", addr, "pink", "--for", "30m")
	if code != 0 || !strings.Contains(out, "pink noise playing for 30m0s more (started by kitchen)") {
		t.Fatalf("sound pink: exit %d: %q %s", code, out, errs)
	}
	select {
	case <-sink.Wait(4800):
	case <-time.After(10 * time.Second):
		t.Fatal("the speaker plays nothing")
	}
	time.Sleep(2 * time.Second) // the monitor takes one start every 2 s
	out, errs, code = runCLI("--state-dir", dir, "sound", "--timeout", "5s", addr, "lullaby")
	if code != 0 || !strings.Contains(out, "the lullaby playing until stopped") {
		t.Fatalf("sound lullaby: exit %d: %q %s", code, out, errs)
	}
	out, errs, code = runCLI("--state-dir", dir, "sound", addr, "stop")
	if code != 0 || !strings.Contains(out, "no soothing sound playing") {
		t.Fatalf("sound stop: exit %d: %q %s", code, out, errs)
	}

	quiet, err := monitor.Open(monitor.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	quiet.OpenPairing(0)
	if _, errs, code := runCLI("--state-dir", dir, "pair", quiet.Addr().String(), "--code", string(quiet.SetupCode())); code != 0 {
		t.Fatalf("pair: exit %d: %s", code, errs)
	}
	_, errs, code = runCLI("--state-dir", dir, "sound", quiet.Addr().String(), "white")
	if code == 0 || !strings.Contains(errs, "the monitor has no speaker: plug a USB speaker into the monitor") {
		t.Fatalf("no speaker: exit %d: %s", code, errs)
	}
}
