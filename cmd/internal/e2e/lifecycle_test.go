package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket is a fake systemd notify socket collecting messages.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{path: path, msgs: make(chan string, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- string(buf[:k]):
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n
}

func (n *notifySocket) expect(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-n.msgs:
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("systemd never got %q", want)
		}
	}
}

// TestSIGTERMWithListeners: systemd hears READY, watchdog pings and
// STOPPING; on SIGTERM four streaming listeners all see going_away, the
// process exits 0 within 5 s, and the store reopens with every event.
func TestSIGTERMWithListeners(t *testing.T) {
	ns := newNotifySocket(t)
	os.Setenv("NOTIFY_SOCKET", ns.path)
	os.Setenv("WATCHDOG_USEC", "400000")
	mon := startMonitor(t, nil, filepath.Join(t.TempDir(), "monitor"), "127.0.0.1:0", "--media", "test")
	os.Unsetenv("NOTIFY_SOCKET")
	os.Unsetenv("WATCHDOG_USEC")
	ns.expect(t, "READY=1", 5*time.Second)
	ns.expect(t, "WATCHDOG=1", 5*time.Second)

	code := mon.code(t)
	var watches []*proc
	dir := t.TempDir()
	for i := range 4 {
		lis := []string{"--state-dir", filepath.Join(dir, fmt.Sprint(i)), "--name", fmt.Sprint("parent", i)}
		mon.admin(t, "pair")
		mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...)
		w := start(t, nil, "cradle", append(lis, "listen", "Nursery", "--output", "none")...)
		w.waitLine(0, regexp.MustCompile(`first audio`), 10*time.Second)
		watches = append(watches, w)
	}
	before := mon.admin(t, "events")
	t0 := time.Now()
	mon.signal(syscall.SIGTERM)
	if rc := mon.wait(5 * time.Second); rc != 0 {
		t.Fatalf("exit code %d after SIGTERM", rc)
	}
	t.Logf("exited %v after SIGTERM", time.Since(t0))
	ns.expect(t, "STOPPING=1", time.Second)
	for i, w := range watches {
		_, line := w.waitLine(0, regexp.MustCompile(`Nursery offline`), 5*time.Second)
		if !strings.Contains(line, "shutting down") {
			t.Errorf("listener %d went offline without going_away: %s", i, line)
		}
	}
	if st := mon.stderrText(); !strings.Contains(st, "microphone off") {
		t.Errorf("capture not stopped at shutdown:\n%s", st)
	}
	// Every event survived: the restarted monitor lists all of them and
	// trusts all four listeners.
	mon2 := startMonitor(t, nil, mon.state, mon.addr)
	after := mon2.admin(t, "events")
	for _, l := range strings.Split(strings.TrimSpace(before), "\n")[1:] {
		seq := strings.Fields(l)[0]
		if !regexp.MustCompile(`(?m)^` + seq + `\s`).MatchString(after) {
			t.Errorf("event %s lost across the restart", seq)
		}
	}
	if n := strings.Count(mon2.admin(t, "listeners"), "parent"); n != 4 {
		t.Errorf("%d trusted listeners after restart, want 4", n)
	}
}
