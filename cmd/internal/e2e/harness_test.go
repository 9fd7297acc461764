package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cradle-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/cradle-monitor/cradle/cmd/cradled", "github.com/cradle-monitor/cradle/cmd/cradle")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostArgs turns mDNS off for listeners on the host's interfaces: tests
// multicast only inside network namespaces they create.
func hostArgs(prefix []string, bin string, args []string) []string {
	if bin == "cradle" && len(prefix) == 0 {
		return append([]string{"--mdns=false"}, args...)
	}
	return args
}

// proc is a background process whose output lines are collected.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	cond   chan struct{} // closed and replaced on every new line
	done   chan struct{}
	err    error
	stderr bytes.Buffer
}

func start(t testing.TB, prefix []string, bin string, args ...string) *proc {
	t.Helper()
	return startWith(t, nil, prefix, bin, args...)
}

// startWith is start with setup called on the command before it starts
// (extra files, environment).
func startWith(t testing.TB, setup func(*exec.Cmd), prefix []string, bin string, args ...string) *proc {
	t.Helper()
	args = hostArgs(prefix, bin, args)
	argv := append(append([]string{}, prefix...), filepath.Join(binDir, bin))
	argv = append(argv, args...)
	p := &proc{t: t, cmd: exec.Command(argv[0], argv[1:]...), cond: make(chan struct{}), done: make(chan struct{})}
	if setup != nil {
		setup(p.cmd)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{w: &p.stderr, mu: &p.mu}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.cond)
			p.cond = make(chan struct{})
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", bin, strings.Join(p.snapshot(0), "\n"), p.stderrText())
		}
	})
	return p
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) snapshot(from int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if from > len(p.lines) {
		return nil
	}
	return append([]string(nil), p.lines[from:]...)
}

// waitLine waits for a line at index >= from that matches re, and returns
// its index and text.
func (p *proc) waitLine(from int, re *regexp.Regexp, timeout time.Duration) (int, string) {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if re.MatchString(p.lines[i]) {
				l := p.lines[i]
				p.mu.Unlock()
				return i, l
			}
		}
		cond := p.cond
		p.mu.Unlock()
		select {
		case <-cond:
		case <-p.done:
			// Let the reader finish, then look once more.
			if i, l, ok := p.find(from, re); ok {
				return i, l
			}
			p.t.Fatalf("process exited (%v) before printing a line matching %q", p.err, re)
		case <-deadline:
			p.t.Fatalf("no line matching %q within %v", re, timeout)
		}
	}
}

func (p *proc) find(from int, re *regexp.Regexp) (int, string, bool) {
	for i, l := range p.snapshot(0) {
		if i >= from && re.MatchString(l) {
			return i, l, true
		}
	}
	return 0, "", false
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

func (p *proc) kill() {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGKILL)
	<-p.done
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %v", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// run runs a binary to completion and returns stdout, stderr and the exit code.
func run(t testing.TB, prefix []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	args = hostArgs(prefix, bin, args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append(append([]string{}, prefix...), filepath.Join(binDir, bin))
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", bin, args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// mustRun runs a binary and fails the test unless it exits 0.
func mustRun(t testing.TB, prefix []string, bin string, args ...string) string {
	t.Helper()
	out, errs, code := run(t, prefix, bin, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", bin, strings.Join(args, " "), code, out, errs)
	}
	return out
}

// monitor is a running cradled.
type monitor struct {
	*proc
	state  string
	addr   string
	prefix []string
}

var servingRE = regexp.MustCompile(`serving .* on (\S+), fingerprint`)

func startMonitor(t testing.TB, prefix []string, state, listen string, extra ...string) *monitor {
	t.Helper()
	// Simulated button with a short long-press, and no mDNS: tests on the
	// host's interfaces must not multicast (discovery is tested in
	// network namespaces). Pairing opens by the (simulated) button only,
	// as on a monitor that has been paired before; TestPairWhenNew passes
	// --pair-when-new=true to test the factory-new window.
	args := append([]string{"--state-dir", state, "--listen", listen, "--log-level", "debug", "--hw", "sim", "--long-press", "4s", "--mdns=false", "--pair-when-new=false", "--page-listen", "127.0.0.1:0"}, extra...)
	p := start(t, prefix, "cradled", args...)
	_, line := p.waitLine(0, servingRE, 20*time.Second)
	return &monitor{proc: p, state: state, addr: servingRE.FindStringSubmatch(line)[1], prefix: prefix}
}

func (m *monitor) admin(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, nil, "cradled", append([]string{"--state-dir", m.state, "--long-press", "4s"}, args...)...)
}

func (m *monitor) code(t testing.TB) string {
	t.Helper()
	out := m.admin(t, "setup-code")
	mm := regexp.MustCompile(`Setup code: (\d{4}-\d{4})`).FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("no setup code in %q", out)
	}
	return mm[1]
}

// watchLine is one line of cradle status --watch --json.
type watchLine struct {
	Name     string `json:"name"`
	Presence string `json:"presence"`
	Error    string `json:"error"`
	At       time.Time
}

func parseWatch(t testing.TB, line string) watchLine {
	t.Helper()
	var w watchLine
	if err := json.Unmarshal([]byte(line), &w); err != nil {
		t.Fatalf("bad watch line %q: %v", line, err)
	}
	return w
}

var (
	onlineRE  = regexp.MustCompile(`"presence":"online"`)
	offlineRE = regexp.MustCompile(`"presence":"offline"`)
)
