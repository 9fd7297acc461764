package page

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/page/pagetest"
)

// monitorPage is the monitor's own page served over HTTPS on loopback,
// as cradled serves it.
type monitorPage struct {
	*server
	mon  *monitor.Monitor
	base string // https://127.0.0.1:PORT
}

func startMonitorPage(t testing.TB, mon *monitor.Monitor) *monitorPage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Monitor: ForMonitor(mon), StateDir: filepath.Join(t.TempDir(), "m")}
	s, err := newServer(opt, ln.Addr().(*net.TCPAddr), true)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	if s.tls == nil {
		t.Fatal("the monitor's page is served without TLS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln, s.tls) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.close()
	})
	return &monitorPage{server: s, mon: mon, base: "https://" + ln.Addr().String()}
}

// phone is one browser: its own cookies, the page's certificate accepted
// (trust on first use).
type phone struct {
	t    testing.TB
	p    *monitorPage
	c    *http.Client
	from string // the phone's source address
}

func (p *monitorPage) phone(t testing.TB, from string) *phone {
	return &phone{t: t, p: p, c: pagetest.Client(t, from), from: from}
}

func (ph *phone) do(method, path, body string, hdr ...string) *http.Response {
	ph.t.Helper()
	req, err := http.NewRequest(method, ph.p.base+path, strings.NewReader(body))
	if err != nil {
		ph.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", ph.p.base)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ph.c.Do(req)
	if err != nil {
		ph.t.Fatal(err)
	}
	ph.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// pair pairs the phone with code; it returns the answer.
func (ph *phone) pair(name, code string) *http.Response {
	b, _ := json.Marshal(map[string]string{"name": name, "code": code})
	return ph.do(http.MethodPost, devicePairPath, string(b))
}

func (ph *phone) me() deviceView {
	ph.t.Helper()
	resp := ph.do(http.MethodGet, signInPath, "")
	var st signInStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		ph.t.Fatal(err)
	}
	if st.Host != "monitor" || !st.SignedIn || st.Device == nil {
		ph.t.Fatalf("session: %+v, want the monitor's host, signed in, with a device", st)
	}
	return *st.Device
}

// open starts a long GET (event or audio stream) and returns what it
// reads, chunk by chunk (closed when the server ends it).
func (ph *phone) open(path string) (*http.Response, <-chan []byte) {
	ph.t.Helper()
	return pagetest.Stream(ph.t, ph.c, ph.p.base+path)
}

// ended waits until chunks is closed (the server ended the response).
func ended(t testing.TB, what string, chunks <-chan []byte, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-chunks:
			if !ok {
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("%s still open %v after the phone was removed", what, within)
		}
	}
}

// TestMonitorPagePhone: the monitor's page pairs a phone through the
// pairing window (a wrong code first is refused and told), serves it the
// card and the monitor's audio, and a second phone removes it: the first
// loses its event stream, its audio and the API within 1 s. Without the
// cookie nothing is served; a foreign Origin is refused.
func TestMonitorPagePhone(t *testing.T) {
	mon := newMonitor(t)
	p := startMonitorPage(t, mon)
	a := p.phone(t, "127.0.0.2")
	id := mon.Fingerprint().DeviceID()

	// A stranger: nothing but the page itself and the sign-in state.
	for _, path := range []string{"/api/events", "/api/devices", "/api/monitors/" + id + "/audio.ogg", "/api/monitors/" + id + "/info"} {
		if resp := a.do(http.MethodGet, path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the cookie: %s, want 401", path, resp.Status)
		}
	}
	for _, path := range []string{"/api/monitors/" + id + "/listen", "/api/monitors/" + id + "/offer", "/api/devices/X/revoke", "/api/monitors/" + id + "/pairing/open"} {
		if resp := a.do(http.MethodPost, path, "{}"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without the cookie: %s, want 401", path, resp.Status)
		}
	}
	if resp := a.do(http.MethodGet, "/", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / : %s", resp.Status)
	}

	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	code := string(mon.SetupCode())
	wrong := "11112222"
	if wrong == code {
		wrong = "22223333"
	}
	if resp := a.pair("Bedside phone", wrong); resp.StatusCode != http.StatusForbidden || problemOf(t, resp).Code != "wrong_code" {
		t.Fatalf("pairing with a wrong code: %s", resp.Status)
	}
	if n := mon.Status().Pairing.FailedAttempts; n != 1 {
		t.Errorf("the window counts %d wrong codes, want 1", n)
	}
	// A foreign page cannot pair (or do anything else).
	if resp := a.do(http.MethodPost, devicePairPath, `{"name":"x","code":"`+code+`"}`, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("pairing from a foreign Origin: %s, want 403", resp.Status)
	}
	resp := a.pair("Bedside phone", code)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pairing: %s %+v", resp.Status, problemOf(t, resp))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{deviceCookie + "=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	me := a.me()
	if me.Name != "Bedside phone" {
		t.Errorf("device name %q", me.Name)
	}

	// The card, from the monitor itself.
	_, ev := a.open("/api/events")
	if !readsUntil(ev, 5*time.Second, `"presence":"online"`) {
		t.Fatal("the page's card never shows the monitor online")
	}
	// The continuous stream: Ogg pages of the monitor's Opus.
	resp2, audio := a.open("/api/monitors/" + id + "/audio.ogg")
	if ct := resp2.Header.Get("Content-Type"); ct != "audio/ogg" {
		t.Fatalf("audio.ogg: %s %q", resp2.Status, ct)
	}
	if !readsUntil(audio, 5*time.Second, "OggS") {
		t.Fatal("no Ogg page from the monitor")
	}

	// A second phone pairs (a pairing closes the window: the parents open
	// it again) and removes the first.
	b := p.phone(t, "127.0.0.3")
	if resp := b.pair("Kitchen tablet", code); resp.StatusCode != http.StatusConflict || problemOf(t, resp).Code != "pairing_closed" {
		t.Fatalf("pairing with the window closed: %s", resp.Status)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if resp := b.pair("Kitchen tablet", code); resp.StatusCode != http.StatusOK {
		t.Fatalf("second phone: %s", resp.Status)
	}
	if !readsUntil(ev, 5*time.Second, `"type":"devices"`) {
		t.Error("the first page is not told of the second phone")
	}
	var list struct{ Devices []deviceView }
	json.NewDecoder(b.do(http.MethodGet, "/api/devices", "").Body).Decode(&list)
	if len(list.Devices) != 2 {
		t.Fatalf("devices: %+v", list.Devices)
	}
	start := time.Now()
	if resp := b.do(http.MethodPost, "/api/devices/"+me.ID+"/revoke", "{}"); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", resp.Status)
	}
	ended(t, "the removed phone's event stream", ev, time.Second)
	ended(t, "the removed phone's audio", audio, time.Second)
	if resp := a.do(http.MethodGet, "/api/devices", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the removed phone's API: %s, want 401", resp.Status)
	}
	t.Logf("removed phone cut off in %v", time.Since(start))
	if b.me().Name != "Kitchen tablet" {
		t.Error("the second phone lost its access")
	}
}

// readsUntil reads chunks until their text holds want.
func readsUntil(chunks <-chan []byte, d time.Duration, want string) bool {
	_, ok := pagetest.ReadThrough(chunks, d, want)
	return ok
}

// TestMonitorPageFollowsWhileOpen: the card's session on the monitor's
// host runs only while a page is open (and a linger after): with no page
// open the monitor has no connection of the page's (it captures nothing
// for it, and counts no listener); a page opened after the session
// stopped is first told the monitor is connecting, never the old state.
func TestMonitorPageFollowsWhileOpen(t *testing.T) {
	mon := newMonitor(t)
	p := startMonitorPage(t, mon)
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	a := p.phone(t, "127.0.0.2")
	if resp := a.pair("Bedside phone", string(mon.SetupCode())); resp.StatusCode != http.StatusOK {
		t.Fatalf("pair: %s", resp.Status)
	}
	conns := func() int { return len(mon.Status().Connections) }
	// An absence has no signal to wait for: give a session that wrongly
	// starts without a page the time it takes to connect (milliseconds).
	time.Sleep(200 * time.Millisecond)
	if n := conns(); n != 0 {
		t.Fatalf("%d connections with no page open, want none", n)
	}
	var link *lazyLink
	p.pool.mu.Lock()
	for _, e := range p.pool.mons {
		link = e.link.(*lazyLink)
	}
	p.pool.mu.Unlock()
	link.mu.Lock()
	link.linger = 100 * time.Millisecond
	link.mu.Unlock()

	resp, ev := a.open("/api/events")
	if !readsUntil(ev, 5*time.Second, `"presence":"online"`) {
		t.Fatal("the card never shows the monitor online")
	}
	if n := conns(); n != 1 {
		t.Fatalf("%d connections with a page open, want the page's 1", n)
	}
	resp.Body.Close()
	waitFor(t, 5*time.Second, "the page's connection gone after the last page left", func() bool { return conns() == 0 })

	resp, ev = a.open("/api/events")
	defer resp.Body.Close()
	var seen strings.Builder
	deadline := time.After(5 * time.Second)
	for !strings.Contains(seen.String(), `"type":"snapshot"`) {
		select {
		case b := <-ev:
			seen.Write(b)
		case <-deadline:
			t.Fatal("no snapshot")
		}
	}
	snap := seen.String()[strings.Index(seen.String(), `"type":"snapshot"`):]
	if strings.Contains(snap[:strings.Index(snap, "\n")], `"presence":"online"`) {
		t.Fatalf("a page opened after the session stopped is shown the old presence: %s", snap)
	}
	if !readsUntil(ev, 5*time.Second, `"presence":"online"`) {
		t.Fatal("the card never comes back online")
	}
}
