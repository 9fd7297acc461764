package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// The dashboard in WebKit: Debian's WebKitGTK (the engine family of
// every iPhone browser), whose build has no RTCPeerConnection, driven by
// its WebKitWebDriver over plain W3C WebDriver (a tiny client below),
// with MiniBrowser under Xvfb and its sound going to a private
// PulseAudio (package pulsetest), recorded there.

const (
	webkitDriver      = "/usr/bin/WebKitWebDriver"
	webkitMiniBrowser = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
	xvfbPath          = "/usr/bin/Xvfb"
)

// needWebKit skips the test without WebKitWebDriver, MiniBrowser or Xvfb,
// or fails it under CI (make test installs webkit2gtk-driver and xvfb).
func needWebKit(t testing.TB) {
	t.Helper()
	for _, p := range []string{webkitDriver, webkitMiniBrowser, xvfbPath} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing: make test installs webkit2gtk-driver and xvfb", p)
			}
			t.Skipf("%s is missing (apt-get install webkit2gtk-driver xvfb; CI runs this test)", p)
		}
	}
}

// startXvfb runs a virtual X server for the rest of the test and returns
// its display (":N", the first free one, as Xvfb reports it).
func startXvfb(t testing.TB) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(xvfbPath, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	stopProc(t, cmd)
	line := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(r).ReadString('\n'); line <- strings.TrimSpace(l) }()
	select {
	case n := <-line:
		if n == "" {
			t.Fatalf("Xvfb reported no display: %s", stderr.String())
		}
		return ":" + n
	case <-time.After(10 * time.Second):
		t.Fatalf("Xvfb reported no display within 10 s: %s", stderr.String())
	}
	return ""
}

// stopProc stops cmd (SIGTERM, then SIGKILL after 5 s) when the test ends.
func stopProc(t testing.TB, cmd *exec.Cmd) {
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
}

// webDriver is a W3C WebDriver session: just what the test needs.
type webDriver struct {
	t    testing.TB
	base string // http://127.0.0.1:PORT/session/ID
}

// startWebKit runs WebKitWebDriver on display with env and opens a
// session driving MiniBrowser; both end with the test.
func startWebKit(t testing.TB, display string, env []string) *webDriver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(webkitDriver, fmt.Sprintf("--port=%d", port), "--host=127.0.0.1")
	cmd.Env = append(append(os.Environ(), env...), "DISPLAY="+display)
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", webkitDriver, err)
	}
	stopProc(t, cmd)
	wd := &webDriver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if wd.call("GET", "/status", nil, &st) == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebKitWebDriver not ready within 10 s: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a child process's port: no signal to wait for
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"webkitgtk:browserOptions": map[string]any{"binary": webkitMiniBrowser, "args": []string{"--automation"}},
		"acceptInsecureCerts":      true,
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := wd.call("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new WebKit session: %v\n%s", err, stderr.String())
	}
	wd.base += "/session/" + sess.SessionID
	t.Cleanup(func() { _ = wd.call("DELETE", "", nil, nil) })
	return wd
}

// call sends one WebDriver command and decodes its "value" into out.
func (wd *webDriver) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, wd.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, data)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, v.Value)
	}
	if out != nil {
		return json.Unmarshal(v.Value, out)
	}
	return nil
}

func (wd *webDriver) must(method, path string, body, out any) {
	wd.t.Helper()
	if err := wd.call(method, path, body, out); err != nil {
		wd.t.Fatal(err)
	}
}

// click clicks the element css selects, as a user would (a real click, a
// gesture WebKit needs before it plays sound).
func (wd *webDriver) click(css string) {
	wd.t.Helper()
	var el map[string]string
	wd.must("POST", "/element", map[string]string{"using": "css selector", "value": css}, &el)
	for _, id := range el {
		wd.must("POST", "/element/"+id+"/click", map[string]any{}, nil)
		return
	}
	wd.t.Fatalf("no element %s", css)
}

// eval runs a script's body ("return …") and decodes its value into out.
// exec returns a function that runs a script in the page, failing t on
// error.
func (wd *webDriver) exec(t testing.TB) func(script string, out any) {
	return func(script string, out any) {
		t.Helper()
		wd.must("POST", "/execute/sync", map[string]any{"script": script, "args": []any{}}, out)
	}
}

func (wd *webDriver) eval(script string, out any) error {
	return wd.call("POST", "/execute/sync", map[string]any{"script": script, "args": []any{}}, out)
}

// wait evaluates cond ("return …" a boolean) every 50 ms until true, and
// fails the test after d with what.
func (wd *webDriver) wait(d time.Duration, what, cond string) {
	wd.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		err := wd.eval(cond, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			wd.t.Fatalf("%s: not within %v (%v)", what, d, err)
		}
		time.Sleep(50 * time.Millisecond) // WebDriver has no wait-for-script: poll with a deadline
	}
}

// lockedBuffer is a child's output, read while it writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDashboardWebKit: in WebKit without WebRTC, Listen (a real click)
// falls back to the continuous stream by itself; the card says listening
// only once the player's time advances (never on the click), shows no raw
// exception, and the nursery's 440 Hz tone comes out of the browser's
// sound output (recorded from PulseAudio).
func TestDashboardWebKit(t *testing.T) {
	needWebKit(t)
	srv := pulsetest.Start(t)
	r := newDashServer(t)
	display := startXvfb(t)
	wd := startWebKit(t, display, srv.Env())
	id := r.id
	cardSel := `.card[data-monitor="` + id + `"]`
	cardJS := `document.querySelector('` + cardSel + `')`

	wd.must("POST", "/url", map[string]string{"url": r.base + "/"}, nil)
	wd.wait(20*time.Second, "the card online", `return `+cardJS+` !== null && `+cardJS+`.dataset.state === 'online'`)
	var rtc string
	wd.must("POST", "/execute/sync", map[string]any{"script": `return typeof window.RTCPeerConnection`, "args": []any{}}, &rtc)
	t.Logf("WebKit: typeof RTCPeerConnection = %s", rtc)
	wd.must("POST", "/execute/sync", map[string]any{"script": firstListeningJS + `('` + id + `')`, "args": []any{}}, nil)

	rec := srv.StartRecording(t)
	recStart := time.Now()
	wd.click(cardSel + ` button[data-action="listen"]`)
	clicked := time.Now()
	wd.wait(20*time.Second, "the card listening", `return `+cardJS+`.dataset.state === 'listening'`)
	t.Logf("listening %v after the click", time.Since(clicked).Round(time.Millisecond))
	var f firstListening
	wd.must("POST", "/execute/sync", map[string]any{"script": `window.cradleTest.firstObs.disconnect(); return window.cradleTest.first`, "args": []any{}}, &f)
	t.Logf("the card first said listening with the player at %.2f s (paused %v, muted %v), status %q, phases %v", f.T, f.Paused, f.Muted, f.Status, f.Phases)
	if f.early() {
		t.Fatalf("the card said listening before sound played: %+v", f)
	}
	var t0 float64
	wd.must("POST", "/execute/sync", map[string]any{"script": `return window.cradleDebug.players['` + id + `'].currentTime`, "args": []any{}}, &t0)
	wd.wait(6*time.Second, "the player's time advancing 3 s", `return window.cradleDebug.players['`+id+`'].currentTime > `+strconv.FormatFloat(t0+3, 'f', 3, 64))
	var text string
	wd.must("POST", "/execute/sync", map[string]any{"script": `return ` + cardJS + `.textContent`, "args": []any{}}, &text)
	if rawException(text) {
		t.Fatalf("the card shows a raw exception: %q", text)
	}
	ws := classify(rec.Stop())
	heard := time.Since(recStart)
	if n := count(ws, 0, len(ws), tone); n < 40 {
		t.Fatalf("the tone played for %d windows of %v in %v, want at least 2 s:%s", n, window, heard.Round(time.Millisecond), summary(ws))
	}
	t.Logf("recorded from the browser's output: %d windows of tone in %v", count(ws, 0, len(ws), tone), heard.Round(time.Millisecond))
	wd.click(cardSel + ` button[data-action="stop"]`)
	wd.wait(5*time.Second, "the card online after Stop", `return `+cardJS+`.dataset.state === 'online'`)
}

// TestPhonePageWebKit: the monitor's own page in WebKit (no WebRTC):
// the phone pairs with the setup code, and Listen plays the nursery
// through the page's fallback, the monitor's continuous stream; the card
// says listening only once sound plays, and the 440 Hz tone comes out of
// the browser's sound output.
func TestPhonePageWebKit(t *testing.T) {
	needWebKit(t)
	srv := pulsetest.Start(t)
	mon, base := startPageMonitor(t)
	mon.admin(t, "pair")
	code := mon.code(t)
	wd := startWebKit(t, startXvfb(t), srv.Env())
	exec := wd.exec(t)
	wd.must("POST", "/url", map[string]string{"url": base + "/#code=" + code}, nil)
	wd.wait(20*time.Second, "the pairing form, the code from the link filled in", `return document.querySelector('#phone-pair').checkVisibility() && document.querySelector('#phone-code').value === '`+code+`' && location.hash === ''`)
	exec(`document.querySelector('#phone-name').value = 'Bedside phone'; return null`, nil)
	wd.click(`#phone-pair-button`)
	wd.wait(20*time.Second, "the card online", `const c = document.querySelector('.card'); return c !== null && c.dataset.state === 'online'`)
	var id string
	exec(`return document.querySelector('.card').dataset.monitor`, &id)
	cardSel := `.card[data-monitor="` + id + `"]`
	cardJS := `document.querySelector('` + cardSel + `')`
	// Hold to talk needs WebRTC: the button says so instead of failing.
	var talk struct {
		Disabled bool   `json:"disabled"`
		Line     string `json:"line"`
	}
	exec(`const c = `+cardJS+`; return { disabled: c.querySelector('[data-action="talk"]').disabled, line: c.querySelector('[data-field="talk-state"]').textContent }`, &talk)
	t.Logf("WebKit's talk button: %+v", talk)
	if !talk.Disabled || !strings.Contains(talk.Line, "needs a browser with WebRTC") {
		t.Errorf("WebKit's talk button: %+v, want disabled, saying talk needs WebRTC", talk)
	}
	// The night at a glance in WebKit: the page fetches the monitor's
	// history of the last minutes (its test tone is noise: an episode
	// going on) and draws it with its own code; the result lands in a
	// global that the wait below reads (WebDriver waits for no promise).
	exec(`window.cradleTest = window.cradleTest || {};
// The tone is noise once the VOX's attack has passed: ask again (up to
// 10 s) until the episode is there, then draw.
const fetchNight = async () => {
  for (let i = 0; ; i++) {
    const to = Date.now(), h = await api('GET', '/api/monitors/`+id+`/history?from=' + (to - 3600e3) + '&to=' + to);
    if (h.episodes.length > 0 || i >= 20) return h;
    await new Promise(r => setTimeout(r, 500));
  }
};
fetchNight().then(h => {
  const box = document.createElement('div'); box.style.width = '358px'; document.querySelector('main').append(box);
  const svg = window.cradleHistory.draw(box, h);
  window.cradleTest.night = { minutes: h.minutes.length, episodes: svg.querySelectorAll('rect.episode').length, band: (svg.querySelector('path.band') || {getAttribute: () => ''}).getAttribute('d').length };
}, e => { window.cradleTest.night = { error: String(e && e.message || e) }; });
return null`, nil)
	wd.wait(20*time.Second, "the history drawn", `return !!(window.cradleTest && window.cradleTest.night)`)
	var night struct {
		Minutes, Episodes, Band int
		Error                   string
	}
	exec(`return window.cradleTest.night`, &night)
	t.Logf("WebKit drew the monitor's history: %+v", night)
	if night.Error != "" || night.Minutes == 0 || night.Episodes == 0 || night.Band == 0 {
		t.Errorf("WebKit's night at a glance: %+v, want level records drawn as a band and the tone's episode", night)
	}
	exec(firstListeningJS+`('`+id+`')`, nil)

	rec := srv.StartRecording(t)
	recStart := time.Now()
	wd.click(cardSel + ` button[data-action="listen"]`)
	wd.wait(20*time.Second, "the card listening", `return `+cardJS+`.dataset.state === 'listening'`)
	var f firstListening
	exec(`window.cradleTest.firstObs.disconnect(); return window.cradleTest.first`, &f)
	if f.early() {
		t.Fatalf("the card said listening before sound played: %+v", f)
	}
	var src string
	exec(`return window.cradleDebug.players['`+id+`'].currentSrc`, &src)
	if !strings.Contains(src, "/api/monitors/"+id+"/audio.ogg") {
		t.Fatalf("WebKit plays %q, want the monitor's continuous stream", src)
	}
	var t0 float64
	exec(`return window.cradleDebug.players['`+id+`'].currentTime`, &t0)
	wd.wait(6*time.Second, "the player's time advancing 3 s", `return window.cradleDebug.players['`+id+`'].currentTime > `+strconv.FormatFloat(t0+3, 'f', 3, 64))
	var text string
	exec(`return document.body.innerText`, &text)
	if rawException(text) {
		t.Fatalf("the page shows a raw exception: %q", text)
	}
	ws := classify(rec.Stop())
	if n := count(ws, 0, len(ws), tone); n < 40 {
		t.Fatalf("the tone played for %d windows of %v in %v, want at least 2 s:%s", n, window, time.Since(recStart).Round(time.Millisecond), summary(ws))
	}
	t.Logf("recorded from WebKit's output: %d windows of tone in %v", count(ws, 0, len(ws), tone), time.Since(recStart).Round(time.Millisecond))
}

// TestNightWebKit: night mode in WebKit (Debian's WebKitGTK, GStreamer):
// a real click starts it, the night stream (MP3) plays the nursery, and
// when the monitor freezes the page sounds its alarm within 5 s of the
// cut, recorded from WebKit's output.
func TestNightWebKit(t *testing.T) {
	needWebKit(t)
	srv := pulsetest.Start(t)
	mon, base := startPageMonitor(t)
	mon.admin(t, "pair")
	code := mon.code(t)
	wd := startWebKit(t, startXvfb(t), srv.Env())
	exec := wd.exec(t)
	wd.must("POST", "/url", map[string]string{"url": base + "/#code=" + code}, nil)
	wd.wait(20*time.Second, "the pairing form", `return document.querySelector('#phone-pair').checkVisibility() && document.querySelector('#phone-code').value === '`+code+`'`)
	wd.click(`#phone-pair-button`)
	wd.wait(20*time.Second, "the card online", `const c = document.querySelector('.card'); return c !== null && c.dataset.state === 'online'`)
	var id string
	exec(`return document.querySelector('.card').dataset.monitor`, &id)
	cardSel := `.card[data-monitor="` + id + `"]`
	start := time.Now()
	wd.click(cardSel + ` button[data-action="night"]`)
	wd.wait(20*time.Second, "night mode listening", `return document.querySelector('`+cardSel+`').dataset.state === 'listening'`)
	t.Logf("WebKit: night mode playing %v after the click", time.Since(start).Round(time.Millisecond))
	var src string
	exec(`return window.cradleDebug.players['`+id+`'].currentSrc`, &src)
	if !strings.Contains(src, "/night.mp3") {
		t.Fatalf("WebKit plays %q, want the night stream", src)
	}
	rec := srv.StartRecording(t)
	time.Sleep(2500 * time.Millisecond) // the tone, recorded
	playMarker(t, srv)
	mon.signal(syscall.SIGSTOP)
	time.Sleep(7 * time.Second) // the alarm, recorded
	mon.signal(syscall.SIGCONT)
	pcm := rec.Stop()
	ws := classify(pcm)
	m := markerAt(pcm)
	if m < 0 {
		t.Fatalf("the marker is not in the recording:%s", summary(ws))
	}
	if n := count(ws, 0, m, tone); n < 20 {
		t.Fatalf("%d windows of the nursery's tone before the cut, want at least 1 s:%s", n, summary(ws))
	}
	a := first(ws, m+4, alarmTone)
	if a < 0 || time.Duration(a-m)*window > 5*time.Second {
		t.Fatalf("no alarm within 5 s of the cut (first at window %d, the cut at %d):%s", a, m, summary(ws))
	}
	t.Logf("WebKit: the alarm sounded %v after the monitor froze (recorded)", time.Duration(a-m)*window)
}
