package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConformanceCommand: `cradle conformance HOST:PORT` passes against
// the real cradled, pinning its fingerprint and pairing with its code.
func TestConformanceCommand(t *testing.T) {
	mon := startMonitor(t, nil, filepath.Join(t.TempDir(), "monitor"), "127.0.0.1:0", "--media", "test")
	_, line := mon.waitLine(0, regexp.MustCompile(`fingerprint`), 5*time.Second)
	fp := regexp.MustCompile(`fingerprint[= ]"?([A-Z2-7-]{20,})`).FindStringSubmatch(line)
	if fp == nil {
		t.Fatalf("no fingerprint in %q", line)
	}
	mon.admin(t, "pair")
	out, errs, code := run(t, nil, "cradle", "--state-dir", filepath.Join(t.TempDir(), "l"), "conformance", mon.addr, "--fingerprint", fp[1], "--code", mon.code(t))
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "PASS") {
		t.Fatalf("conformance: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("%d checks passed", strings.Count(out, "PASS"))
}
