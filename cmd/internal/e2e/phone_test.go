package e2e

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// The phones' path: the real cradled (--media test, its 440 Hz tone)
// serves its own page over HTTPS; two phone-size chromiums (two phones:
// separate profiles, so separate cookies) pair on it with the setup code,
// listen, and one removes the other.

var phonePageRE = regexp.MustCompile(`^Phones: open (https://\S+) on a phone`)

// phoneTab opens a browser of its own at phone size on the page.
func phoneTab(t *testing.T, base string) *tab {
	t.Helper()
	return openPhone(t, newBrowser(t), base)
}

func openPhone(t *testing.T, b *browser, base string) *tab {
	t.Helper()
	tb := b.first()
	tb.do(20*time.Second, "the monitor's page at phone size",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(`body`),
	)
	installProbes(tb)
	return tb
}

// pairPhone fills the pairing form and presses Pair.
func pairPhone(tb *tab, name, code string) {
	tb.do(10*time.Second, "the pairing form",
		chromedp.WaitVisible(`#phone-pair-form`),
		chromedp.SetValue(`#phone-name`, name),
		chromedp.SetValue(`#phone-code`, code),
		chromedp.Click(`#phone-pair-button`),
	)
}

// TestPhonePage: a phone with only a browser pairs with cradled's own
// page and hears the nursery straight from the monitor.
func TestPhonePage(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0", "--media", "test", "--log-level", "info")
	_, line := mon.waitLine(0, phonePageRE, 20*time.Second)
	base := strings.TrimSuffix(phonePageRE.FindStringSubmatch(line)[1], "/")
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("page address %q, want https://127.0.0.1:PORT", base)
	}
	mon.admin(t, "pair")
	code := mon.code(t)

	// The first phone pairs: it can then see the others' wrong codes.
	kitchen := phoneTab(t, base)
	pairPhone(kitchen, "Kitchen tablet", code)
	kitchen.do(20*time.Second, "the card online on the first phone",
		chromedp.WaitVisible(`.card[data-state="online"]`),
		chromedp.WaitVisible(`#phones li.phone`),
	)
	id := eval[string](kitchen, `document.querySelector('.card').dataset.monitor`)
	// The card gives the address another phone opens (this page's).
	if addr := eval[string](kitchen, `document.querySelector('.card [data-field="address"]').textContent`); !strings.Contains(addr, base+"/") {
		t.Errorf("the card's address %q, want this page's %s/", addr, base)
	}

	// The second phone: a wrong code first. (A pairing closes the window:
	// the parents open it again, with the button or `cradled pair`.)
	mon.admin(t, "pair")
	// The bedside phone plays its sound into PulseAudio, recorded: what
	// it really played is judged, not an element's flags.
	srv := pulsetest.Start(t)
	bedside := openPhone(t, newAudibleBrowser(t, startXvfb(t), srv.Env()), base)
	bedside.do(10*time.Second, "not paired yet", chromedp.WaitVisible(`#phone-pair`))
	pairPhone(bedside, "Bedside phone", wrongSetupCode(t, code))
	msg := waitJS[string](bedside, 10*time.Second, "the wrong code's sentence",
		`(() => { const t = document.querySelector('#phone-pair-result').textContent; return t && t !== 'Pairing…' ? t : ''; })()`)
	if !strings.Contains(msg, "not the monitor's setup code") || rawException(msg) {
		t.Errorf("wrong code: %q", msg)
	}
	warn := waitJS[string](kitchen, 10*time.Second, "the wrong code on the other phone's card",
		`(() => { const w = document.querySelector('.card [data-field="pairing-warning"]'); return w && w.checkVisibility() ? w.textContent : ''; })()`)
	t.Logf("the paired phone shows: %q", strings.Join(strings.Fields(warn), " "))

	pairPhone(bedside, "Bedside phone", code)
	bedside.do(20*time.Second, "the card online on the new phone", chromedp.WaitVisible(`.card[data-state="online"]`))
	waitJS[bool](kitchen, 10*time.Second, "the first phone lists the new one",
		`[...document.querySelectorAll('#phones li.phone')].some((li) => li.textContent.includes('Bedside phone'))`)
	if toast := eval[string](kitchen, `document.querySelector('#toasts').textContent`); !strings.Contains(toast, "Bedside phone") {
		t.Errorf("the first phone was not told of the new one: toasts %q", toast)
	}

	// "Test the alarm": the phone really plays it, for about 3 s.
	rec := srv.StartRecording(t)
	bedside.do(5*time.Second, "Test the alarm", chromedp.Click(`#test-alarm`))
	time.Sleep(4 * time.Second) // a recording: nothing to wait for but its length
	ws := classify(rec.Stop())
	if n := count(ws, 0, len(ws), alarmTone); n < 40 || n > 70 {
		t.Fatalf("Test the alarm played the alarm for %d windows of %v, want about 3 s:%s", n, window, summary(ws))
	}
	t.Logf("Test the alarm: %d windows of the alarm recorded", count(ws, 0, len(ws), alarmTone))
	if eval[bool](bedside, `!window.cradleDebug.alarmAudio.paused`) {
		t.Fatal("the alarm still plays after its test")
	}

	// Listen: WebRTC straight from the monitor; the analyser hears 440 Hz.
	start := time.Now()
	bedside.do(10*time.Second, "Listen",
		chromedp.Click(card(id, ` button[data-action="listen"]`)),
		chromedp.WaitVisible(card(id, `[data-state="listening"]`)),
	)
	t.Logf("listening %v after the tap", time.Since(start).Round(time.Millisecond))
	if mode := eval[string](bedside, `window.cradleDebug.state.listening.get('`+id+`').mode`); mode != "webrtc" {
		t.Errorf("listening by %q, want webrtc from the monitor", mode)
	}
	eval[chromedp.Void](bedside, `window.cradleTest.rtc = window.cradleTest.watch(window.cradleTest.probe(window.cradleDebug.players['`+id+`'].srcObject)); undefined`)
	heard := waitJS[map[string]float64](bedside, 5*time.Second, "440 Hz in what the phone plays",
		`window.cradleTest.rtc.tones >= 20 ? window.cradleTest.rtc : null`)
	t.Logf("Web Audio on the phone's stream: %v", heard)
	rec = srv.StartRecording(t)
	time.Sleep(3 * time.Second) // a recording: nothing to wait for but its length
	ws = classify(rec.Stop())
	if n := count(ws, 0, len(ws), tone); n < 40 {
		t.Fatalf("the phone's browser played the tone for %d windows of %v in 3 s, want at least 2 s:%s", n, window, summary(ws))
	}
	t.Logf("recorded from the phone's browser: %d windows of tone in 3 s", count(ws, 0, len(ws), tone))

	// The monitor stops (frozen): no listener stands behind the phone's
	// page to raise the alarm, so the page does, by itself.
	frozen := time.Now()
	mon.signal(syscall.SIGSTOP)
	rec = srv.StartRecording(t)
	alarmed := `(() => { const c = ` + cardJS(id) + `; return c.dataset.state === 'alarm' && c.querySelector('[data-field="alarm"]').checkVisibility() && !window.cradleDebug.alarmAudio.paused ? c.querySelector('[data-field="alarm-text"]').textContent : ''; })()`
	waitJS[bool](bedside, 5*time.Second, "the card no longer saying Online (no news from the monitor)",
		cardJS(id)+`.querySelector('[data-field="presence"]').textContent !== 'Online'`)
	t.Logf("the card stopped saying Online %v after the monitor froze", time.Since(frozen).Round(time.Millisecond))
	text := waitJS[string](bedside, 8*time.Second, "the page's own alarm, sounding", alarmed)
	t.Logf("the phone's page alarmed %v after the monitor froze: %q", time.Since(frozen).Round(time.Millisecond), text)
	time.Sleep(time.Second) // the alarm recorded for a second
	ws = classify(rec.Stop())
	if n := count(ws, 0, len(ws), alarmTone); n < 5 {
		t.Fatalf("the phone's browser played the alarm for %d windows of %v after the monitor froze:%s", n, window, summary(ws))
	}
	t.Logf("recorded from the phone's browser after the freeze: %d windows of the alarm, first %v after the freeze", count(ws, 0, len(ws), alarmTone), time.Duration(first(ws, 0, alarmTone))*window)
	mon.signal(syscall.SIGCONT)
	waitJS[bool](bedside, 20*time.Second, "listening again, the alarm gone",
		`(() => { const c = `+cardJS(id)+`; return c.dataset.state === 'listening' && !c.querySelector('[data-field="alarm"]').checkVisibility() && window.cradleDebug.alarmAudio.paused; })()`)

	// The first phone removes the second: it loses sound and access
	// within 1 s.
	eval[chromedp.Void](kitchen, `window.confirm = () => true; undefined`)
	kitchen.do(5*time.Second, "Remove the bedside phone",
		chromedp.Click(`#phones li.phone:not(:first-child) button[data-action="revoke"]`),
	)
	removed := time.Now()
	waitJS[bool](bedside, time.Second, "the removed phone silent and asked to pair again within 1 s",
		`(() => { const pc = window.cradleDebug.pcs['`+id+`']; return document.querySelector('#phone-pair').checkVisibility() && window.cradleDebug.state.listening.size === 0 && (!pc || pc.connectionState !== 'connected'); })()`)
	t.Logf("the removed phone stopped %v after the removal", time.Since(removed).Round(time.Millisecond))
	if txt := eval[string](bedside, `document.querySelector('#connection').textContent`); !strings.Contains(txt, "removed") {
		t.Errorf("the removed phone says %q, want why", txt)
	}
	if raw := eval[string](bedside, `document.body.innerText`); rawException(raw) {
		t.Errorf("a raw exception on the removed phone: %q", raw)
	}
}

// TestPageSocketActivation: under systemd, cradled serves the page on the
// sockets it is handed (cradled-https.socket on 443, cradled-http.socket
// on 80, here two loopback ports), without binding anything itself; the
// plain-HTTP one only redirects to the page.
func TestPageSocketActivation(t *testing.T) {
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpsLn.Close()
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpLn.Close()
	files := []*os.File{}
	for _, ln := range []net.Listener{httpsLn, httpLn} {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	// What systemd does: the sockets from fd 3 on, named, for this pid.
	prefix := []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=https:http exec "$0" "$@"`}
	dir := t.TempDir()
	mon := startWith(t, func(c *exec.Cmd) { c.ExtraFiles = files }, prefix, "cradled",
		"--state-dir", filepath.Join(dir, "monitor"), "--listen", "127.0.0.1:0", "--log-level", "debug", "--hw", "sim",
		"--mdns=false", "--pair-when-new=false", "--media", "test", "--page-listen", "127.0.0.1:1") // never bound: the socket replaces it
	_, line := mon.waitLine(0, phonePageRE, 20*time.Second)
	want := "https://" + httpsLn.Addr().String() + "/"
	if got := phonePageRE.FindStringSubmatch(line)[1]; got != want {
		t.Fatalf("page at %s, want the socket's %s", got, want)
	}
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	resp, err := c.Get(want)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET the page on the https socket: %s", resp.Status)
	}
	resp, err = c.Get("http://" + httpLn.Addr().String() + "/api/session?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusPermanentRedirect || loc != "https://127.0.0.1:"+strconv.Itoa(httpsLn.Addr().(*net.TCPAddr).Port)+"/api/session?x=1" {
		t.Fatalf("plain HTTP: %s to %q, want 308 to the page", resp.Status, loc)
	}
}
