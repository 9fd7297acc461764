package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/media/quiet"
)

// noiseRE matches what the C sound libraries print when mediadevices'
// microphone driver probes them at start-up: "ALSA lib ...", "jack server
// is not running", "JackShmReadWritePtr::~...", "Cannot connect to
// server socket" (libjack).
var noiseRE = regexp.MustCompile(`(?i)ALSA lib|jack|cannot connect to server`)

// TestNoSoundLibraryNoise runs offline commands of both binaries and fails
// if the ALSA or JACK client libraries wrote anything to their stderr (the
// blank import of media/quiet in each main.go prevents it). It means most
// where libasound2 and libjack-jackd2-0 are installed and no JACK server
// runs: that is where the noise appears.
func TestNoSoundLibraryNoise(t *testing.T) {
	t.Logf("this test process: %s", strings.Join(quiet.Report(), "; "))
	for _, r := range quiet.Report() {
		if strings.Contains(r, "not installed") {
			t.Logf("%s: the binaries cannot be noisy here, so this test proves less", r)
		}
	}
	dir := t.TempDir()
	for _, c := range []struct {
		bin      string
		args     []string
		mustPass bool
	}{
		{"cradle", []string{"--state-dir", filepath.Join(dir, "listener"), "id"}, true},
		{"cradled", []string{"--state-dir", filepath.Join(dir, "monitor"), "setup-code"}, true},
		// No daemon runs: it fails, with a message of its own only.
		{"cradled", []string{"--state-dir", filepath.Join(dir, "monitor"), "status", "--json"}, false},
	} {
		out, errs, code := run(t, nil, c.bin, c.args...)
		if c.mustPass && code != 0 {
			t.Errorf("%s %s: exit %d\nstdout: %s\nstderr: %s", c.bin, strings.Join(c.args, " "), code, out, errs)
		}
		if noiseRE.MatchString(errs) {
			t.Errorf("%s %s: sound library noise on stderr:\n%s", c.bin, strings.Join(c.args, " "), errs)
		}
	}
}
