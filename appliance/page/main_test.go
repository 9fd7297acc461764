package page

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newMonitor runs an in-process monitor on loopback with the test media.
func newMonitor(t testing.TB) *monitor.Monitor {
	t.Helper()
	mon, err := monitor.Open(monitor.Config{StateDir: filepath.Join(t.TempDir(), "m"), Listen: "127.0.0.1:0", Media: media.ModeTest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	return mon
}

// newListener opens a listener in a fresh state directory.
func newListener(t testing.TB) (*listener.Listener, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "l")
	l, err := listener.Open(listener.Config{StateDir: dir, Name: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	return l, dir
}

// pairWith pairs l with mon directly (as `cradle pair` would).
func pairWith(t testing.TB, l *listener.Listener, mon *monitor.Monitor) listener.PairedMonitor {
	t.Helper()
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := l.Pair(ctx, listener.PairRequest{Target: mon.Addr().String(), Code: mon.SetupCode()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testServer is a dashboard serving on loopback for one test.
type testServer struct {
	*server
	base string // http://127.0.0.1:PORT
	host string // 127.0.0.1:PORT
}

// startServer serves a dashboard for l on a loopback port until the test
// ends. loopback false applies the beyond-loopback rules (token) over
// plain HTTP, for tests of the guard.
func startServer(t testing.TB, opt Options, loopback bool) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !loopback && opt.StateDir == "" {
		t.Fatal("StateDir needed")
	}
	s, err := newServer(opt, ln.Addr().(*net.TCPAddr), loopback)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.close()
	})
	return &testServer{server: s, base: "http://" + ln.Addr().String(), host: ln.Addr().String()}
}

// signIn signs a browser in with the access token (beyond loopback) and
// returns its cookie ("name=value"), the browser's own credential.
func (ts *testServer) signIn(t testing.TB) string {
	t.Helper()
	resp := ts.request(t, "POST", signInPath, `{"token":"`+ts.access.token+`"}`, "Origin", "http://"+ts.host)
	for _, c := range resp.Cookies() {
		if c.Name == cookieName && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("sign in: %s, no cookie", resp.Status)
	return ""
}

// request sends method path with an optional JSON body and extra headers.
func (ts *testServer) request(t testing.TB, method, path, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// problemOf decodes a failed call's body.
func problemOf(t testing.TB, resp *http.Response) Problem {
	t.Helper()
	var p Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("%s: body is no problem: %v", resp.Status, err)
	}
	return p
}

// stream is an open event stream read by a goroutine the test owns.
type stream struct {
	t      testing.TB
	tab    string
	ch     chan event
	cancel context.CancelFunc
	done   chan struct{}
}

func (ts *testServer) events(t testing.TB, hdr ...string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.base+"/api/events", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("events: %s", resp.Status)
	}
	s := &stream{t: t, ch: make(chan event, 1024), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Errorf("event %q: %v", data, err)
				return
			}
			select {
			case s.ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(s.close)
	hello := s.until(5*time.Second, "hello", func(ev event) bool { return ev.Type == "hello" })
	s.tab = hello.Tab
	return s
}

// close ends the stream (the tab leaves) and waits for its reader.
func (s *stream) close() { s.cancel(); <-s.done }

// until returns the first event for which match is true, within d.
func (s *stream) until(d time.Duration, what string, match func(event) bool) event {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				s.t.Fatalf("stream ended before %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no %s within %v", what, d)
			return event{}
		}
	}
}

// waitFor polls cond (state owned by other goroutines) until it holds.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
