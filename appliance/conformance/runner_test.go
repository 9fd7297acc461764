package conformance

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/monitor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunAgainstMonitor runs every check, the slow ones included, against
// a real monitor on loopback with its pairing window open.
func TestRunAgainstMonitor(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the monitor's timeouts")
	}
	m, err := monitor.Open(monitor.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Run(ctx, m.Addr().String(), Options{
		Fingerprint: m.Fingerprint(), SetupCode: string(m.SetupCode()), Timeouts: true,
	}, &out)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("%d checks failed", rep.Failed)
	}
	// Only the check that needs a closed window before pairing is skipped.
	if rep.Skipped != 1 || rep.Passed < 18 {
		t.Errorf("passed %d, skipped %d", rep.Passed, rep.Skipped)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(line, "PASS  ") && !strings.HasPrefix(line, "SKIP  ") && !strings.Contains(line, "passed") {
			t.Errorf("unexpected line %q", line)
		}
	}
}

func TestRunUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Run(ctx, "127.0.0.1:9", Options{Wait: 300 * time.Millisecond}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no Cradle monitor") {
		t.Fatalf("Run = %v, want ErrUnreachable", err)
	}
}
