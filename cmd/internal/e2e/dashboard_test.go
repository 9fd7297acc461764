package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// The dashboard's end-to-end tests: the real cradled (--media test, its
// 440 Hz tone), cradle pair and `cradle dashboard`, driven from a real
// headless chromium (browser_test.go). One monitor, one dashboard and one
// browser serve every subtest of TestDashboard, in order.
//
// With CRADLE_SCREENSHOTS=DIR set, TestDashboard also saves the page's
// main states at desktop (1280x800) and phone (390x844) width into DIR
// (docs/screenshots holds the committed ones).

var dashURLRE = regexp.MustCompile(`^Dashboard: (\S+)`)

// startDashboard runs `cradle dashboard --listen listen` for the listener
// state in lis and returns it with the URL it printed.
func startDashboard(t testing.TB, lis []string, listen string) (*proc, string) {
	t.Helper()
	p := start(t, nil, "cradle", append(append([]string{}, lis...), "--log-level", "info", "dashboard", "--listen", listen)...)
	_, line := p.waitLine(0, dashURLRE, 20*time.Second)
	return p, dashURLRE.FindStringSubmatch(line)[1]
}

// dashRig is a paired monitor, `cradle dashboard` on loopback for its
// listener, and a browser.
type dashRig struct {
	dir  string
	mon  *monitor
	lis  []string
	dash *proc
	base string // http://127.0.0.1:PORT
	id   string // the monitor's device id
	b    *browser
	page *tab // the dashboard, open in the browser's first tab
}

func newDashRig(t testing.TB) *dashRig {
	t.Helper()
	needChromium(t)
	r := newDashServer(t)
	r.b = newBrowser(t)
	r.page = r.b.first()
	return r
}

// newDashServer is a dashRig without a browser.
func newDashServer(t testing.TB) *dashRig {
	t.Helper()
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0", "--media", "test", "--log-level", "info")
	lis := []string{"--state-dir", filepath.Join(dir, "listener")}
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	dash, url := startDashboard(t, lis, "127.0.0.1:0")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("dashboard URL %q, want http://127.0.0.1:PORT/ on loopback", url)
	}
	r := &dashRig{dir: dir, mon: mon, lis: lis, dash: dash, base: strings.TrimSuffix(url, "/")}
	ms := r.monitors(t)
	if len(ms) != 1 {
		t.Fatalf("monitors %+v, want the one paired", ms)
	}
	r.id = ms[0].DeviceID
	return r
}

type pairedMonitorJSON struct {
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
}

// monitors asks the dashboard (from Go, as the page would) for the paired
// monitors.
func (r *dashRig) monitors(t testing.TB) []pairedMonitorJSON {
	t.Helper()
	resp, err := http.Get(r.base + "/api/monitors")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Monitors []pairedMonitorJSON `json:"monitors"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		t.Fatalf("GET /api/monitors: %s", resp.Status)
	}
	return v.Monitors
}

// card is the CSS selector of a monitor's card, with more appended.
func card(id, more string) chromedp.CSS {
	return chromedp.CSS(`.card[data-monitor="` + id + `"]` + more)
}

// cardJS is a JavaScript expression for the card's element.
func cardJS(id string) string { return `document.querySelector('.card[data-monitor="` + id + `"]')` }

// inboundAudioJS defines cradleTest.audioStats(id): the inbound-rtp audio
// entry of the tab's peer connection for the monitor, or null.
const inboundAudioJS = `window.cradleTest.audioStats = async (id) => {
  const pc = window.cradleDebug.pcs[id];
  if (!pc) return null;
  let a = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') a = { bytes: s.bytesReceived || 0, packets: s.packetsReceived || 0, samples: s.totalSamplesReceived || 0, concealed: s.concealedSamples || 0 };
  });
  return a;
};`

type audioStats struct {
	Bytes     float64 `json:"bytes"`
	Packets   float64 `json:"packets"`
	Samples   float64 `json:"samples"`
	Concealed float64 `json:"concealed"`
}

// installProbes defines window.cradleTest in the tab's page.
func installProbes(tb *tab) {
	tb.t.Helper()
	eval[chromedp.Void](tb, audioProbeJS+inboundAudioJS+`undefined`)
}

// shot saves the page at desktop and phone width into $CRADLE_SCREENSHOTS
// as dashboard-NAME-desktop.png and dashboard-NAME-phone.png; scrollTo, a
// CSS selector, is scrolled into view first.
func (r *dashRig) shot(t testing.TB, name, scrollTo string) {
	t.Helper()
	dir := os.Getenv("CRADLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
		opts   []chromedp.EmulateViewportOption
	}{
		{"desktop", 1280, 800, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}},
	} {
		r.page.do(10*time.Second, "resize for a screenshot", chromedp.EmulateViewport(size.w, size.h, size.opts...))
		js := `document.querySelector('#toasts').replaceChildren(); window.scrollTo(0, 0)`
		if scrollTo != "" {
			js = `document.querySelector('#toasts').replaceChildren(); document.querySelector('` + scrollTo + `').scrollIntoView({block: 'start'})`
		}
		eval[chromedp.Void](r.page, js+`; new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok())))`)
		png, err := chromedp.Run(r.page.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, fmt.Sprintf("dashboard-%s-%s.png", name, size.suffix))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s (%d KB)", path, len(png)/1024)
	}
	r.page.do(10*time.Second, "reset the viewport", chromedp.EmulateViewport(1280, 800))
}

// TestDashboard drives the dashboard in chromium, in order:
//   - online: the page shows the paired monitor's card online;
//   - listen: Listen plays the monitor's audio over WebRTC: the peer
//     connection's inbound audio grows, the player plays unmuted, and what
//     it plays is the 440 Hz tone;
//   - alarm: SIGSTOP the monitor while the page listens: the banner shows
//     within 2 s (its sound stopped), and within 4 s the card is offline
//     and the banner says so; the alarm sounds; Acknowledge silences it
//     and keeps the banner; SIGCONT clears it and the audio flows again;
//   - fallback: in a page without RTCPeerConnection (as in Debian's
//     WebKit), Listen falls back to the continuous stream by itself; the
//     card says listening only once the <audio> element's time advances;
//   - ogg: the background-safe stream (audio.ogg) plays in a plain <audio>
//     element, whose time keeps advancing while the monitor is frozen;
//     the stream's content, fetched from Go and decoded with opusdec, is
//     the tone before SIGSTOP and the alarm's 1000/1500 Hz after, in the
//     browser too;
//   - pairing: pairing a second monitor from the page, a wrong code gets
//     its advice, then the right one adds its card, online;
//   - foreign_origin: a page on another origin cannot read the
//     dashboard's API, open its event stream, or forget a monitor;
//   - beyond_loopback: `cradle dashboard --listen 0.0.0.0:0` serves HTTPS;
//     a page opened without the token (or with a wrong one) is not signed
//     in and cannot read /api/events or POST; the printed link signs in;
//     a page on another origin is refused even with the cookie set.
func TestDashboard(t *testing.T) {
	r := newDashRig(t)
	page := r.page
	id := r.id

	t.Run("online", func(t *testing.T) {
		page.t = t
		page.do(20*time.Second, "the card online",
			chromedp.Navigate(r.base+"/"),
			chromedp.WaitVisible(card(id, `[data-state="online"]`)),
		)
		installProbes(page)
		got := eval[map[string]string](page, `(() => { const c = `+cardJS(id)+`; const f = (n) => c.querySelector('[data-field="' + n + '"]').textContent; return { name: f('name'), presence: f('presence'), connection: document.querySelector('#connection').textContent }; })()`)
		if got["name"] != "Nursery" || got["presence"] != "Online" || got["connection"] != "Connected to the listener." {
			t.Fatalf("card %v, want Nursery Online and connected", got)
		}
	})

	t.Run("listen", func(t *testing.T) {
		page.t = t
		watchFirstListening(page, id)
		page.do(10*time.Second, "Listen",
			chromedp.Click(card(id, ` button[data-action="listen"]`)),
			chromedp.WaitVisible(card(id, `[data-state="listening"]`)),
		)
		checkFirstListening(t, page)
		first := waitJS[audioStats](page, 10*time.Second, "inbound audio",
			`window.cradleTest.audioStats('`+id+`').then((s) => s && s.bytes > 0 && s.samples - s.concealed > 0 ? s : null)`)
		eval[chromedp.Void](page, `window.cradleTest.rtc = window.cradleTest.watch(window.cradleTest.probe(window.cradleDebug.players['`+id+`'].srcObject)); undefined`)
		start := time.Now()
		later := waitJS[audioStats](page, 5*time.Second, "audio flowing for a second",
			`window.cradleTest.audioStats('`+id+`').then((s) => s && s.packets >= `+fmt.Sprint(first.Packets+40)+` ? s : null)`)
		secs := time.Since(start).Seconds()
		t.Logf("inbound audio: %+v, then %+v %.1fs later", first, later, secs)
		if rate := (later.Bytes - first.Bytes) / secs; rate < 1000 {
			t.Errorf("audio arrives at %.0f B/s, want an Opus stream (over 1000 B/s)", rate)
		}
		if decoded := (later.Samples - later.Concealed) - (first.Samples - first.Concealed); decoded < 0.5*48000*secs {
			t.Errorf("%.0f samples decoded in %.1fs, want real-time audio", decoded, secs)
		}
		player := eval[map[string]any](page, `(() => { const p = window.cradleDebug.players['`+id+`']; const tr = p.srcObject && p.srcObject.getAudioTracks()[0]; return { paused: p.paused, muted: p.muted, volume: p.volume, track: tr ? tr.readyState : 'none', blocked: `+cardJS(id)+`.dataset.blocked || '' }; })()`)
		if player["paused"] != false || player["muted"] != false || player["volume"] != 1.0 || player["track"] != "live" || player["blocked"] != "" {
			t.Fatalf("player %v, want playing, unmuted, a live track", player)
		}
		tone := waitJS[map[string]float64](page, 5*time.Second, "the tone in what the player plays",
			`window.cradleTest.rtc.tones >= 20 ? window.cradleTest.rtc : null`)
		t.Logf("Web Audio on the player's stream: %v", tone)
		waitJS[bool](page, 5*time.Second, "the status Listening.", cardJS(id)+`.querySelector('[data-field="listen-status"]').textContent === 'Listening.'`)
		r.shot(t, "listening", "")
	})

	t.Run("alarm", func(t *testing.T) {
		// The alarm is armed while the page listens (package alarm: nothing
		// holds while the parent is not listening).
		page.t = t
		bytes := func() float64 {
			return eval[float64](page, `window.cradleTest.audioStats('`+id+`').then((s) => s ? s.bytes : 0)`)
		}
		stopped := time.Now()
		r.mon.signal(syscall.SIGSTOP)
		defer r.mon.signal(syscall.SIGCONT)
		alarm := `(() => { const c = ` + cardJS(id) + `; return c.dataset.state === 'alarm' && c.querySelector('[data-field="alarm"]').checkVisibility() ? c.querySelector('[data-field="alarm-text"]').textContent : ''; })()`
		text := waitJS[string](page, 2*time.Second, "the alarm banner (audio lost)", alarm)
		t.Logf("alarm banner %v after SIGSTOP: %q", time.Since(stopped).Round(time.Millisecond), text)
		waitJS[bool](page, 4*time.Second-time.Since(stopped), "offline, the banner saying so, within 4 s of SIGSTOP",
			`(() => { const c = `+cardJS(id)+`; return c.dataset.state === 'alarm' && c.querySelector('[data-field="alarm"]').checkVisibility() && c.querySelector('[data-field="presence"]').textContent === 'Offline' && c.querySelector('[data-field="alarm-text"]').textContent.startsWith('Nursery: the monitor went offline'); })()`)
		t.Logf("offline with the link-lost banner %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
		waitJS[bool](page, 2*time.Second, "the alarm sounding",
			`!window.cradleDebug.alarmAudio.paused && !window.cradleDebug.alarmAudio.muted && document.body.classList.contains('alarming') && !document.querySelector('#alarm-tap').checkVisibility()`)
		r.shot(t, "alarm", "")
		page.do(5*time.Second, "Acknowledge", chromedp.Click(card(id, ` button[data-action="ack"]`)))
		waitJS[bool](page, 3*time.Second, "acknowledged and silent, the banner kept",
			`(() => { const c = `+cardJS(id)+`; return c.querySelector('[data-field="alarm-text"]').textContent.includes('acknowledged') && c.querySelector('[data-field="alarm"]').checkVisibility() && window.cradleDebug.alarmAudio.paused && !document.body.classList.contains('alarming'); })()`)
		r.mon.signal(syscall.SIGCONT)
		waitJS[bool](page, 10*time.Second, "listening again, the banner gone",
			`(() => { const c = `+cardJS(id)+`; return c.dataset.state === 'listening' && !c.querySelector('[data-field="alarm"]').checkVisibility() && c.querySelector('[data-field="presence"]').textContent === 'Online'; })()`)
		if n := eval[int](page, `[...document.querySelectorAll('.card [data-field="alarm"]')].filter((e) => e.checkVisibility()).length`); n != 0 {
			t.Errorf("%d alarm banners visible after the alarm cleared", n)
		}
		b0 := bytes()
		waitJS[bool](page, 5*time.Second, "audio flowing again",
			fmt.Sprintf(`window.cradleTest.audioStats('%s').then((s) => s && s.bytes > %f + 2000)`, id, b0))
		page.do(10*time.Second, "Stop",
			chromedp.Click(card(id, ` button[data-action="stop"]`)),
			chromedp.WaitVisible(card(id, `[data-state="online"]`)),
		)
	})

	t.Run("fallback", func(t *testing.T) {
		page.t = t
		listenWithoutWebRTC(t, page, id)
	})

	t.Run("ogg", func(t *testing.T) {
		page.t = t
		opusdec := needOpusdec(t)
		oggURL := r.base + "/api/monitors/" + id + "/audio.ogg"
		// The stream as Go sees it, for its content.
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var body []byte
		fetched := make(chan error, 1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, oggURL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				mu.Lock()
				body = append(body, buf[:n]...)
				mu.Unlock()
				if err != nil {
					fetched <- err
					return
				}
			}
		}()
		var stopOnce sync.Once
		stopFetch := func() { stopOnce.Do(func() { cancel(); <-fetched }) }
		defer stopFetch()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "audio/ogg" {
			t.Fatalf("GET audio.ogg: %s %q", resp.Status, ct)
		}
		fetchStart := time.Now()

		// The stream as a plain <audio> element plays it.
		eval[chromedp.Void](page, `(() => {
  const a = document.createElement('audio');
  a.id = 'ogg-test';
  a.src = '/api/monitors/`+id+`/audio.ogg';
  document.body.append(a);
  window.cradleTest.ogg = window.cradleTest.watch(window.cradleTest.probe(a));
  return a.play();
})()`)
		defer eval[chromedp.Void](page, `(() => { const a = document.querySelector('#ogg-test'); a.pause(); a.removeAttribute('src'); a.load(); a.remove(); clearInterval(window.cradleTest.ogg.timer); })()`)
		waitJS[bool](page, 10*time.Second, "the <audio> element playing the tone",
			`(() => { const a = document.querySelector('#ogg-test'); return !a.paused && !a.muted && a.currentTime > 0.5 && window.cradleTest.ogg.tones > 20; })()`)
		elem := func() float64 { return eval[float64](page, `document.querySelector('#ogg-test').currentTime`) }
		ct0, at0 := elem(), time.Now()

		stopped := time.Now()
		r.mon.signal(syscall.SIGSTOP)
		defer r.mon.signal(syscall.SIGCONT)
		alarmAt := waitJS[float64](page, 10*time.Second, "the alarm in what the <audio> element plays",
			`window.cradleTest.ogg.alarms >= 20 ? window.cradleTest.ogg.firstAlarm : 0`)
		lastTone := eval[float64](page, `window.cradleTest.ogg.lastTone`)
		t.Logf("<audio>: the tone stopped %v and the alarm began %v after SIGSTOP",
			time.UnixMilli(int64(lastTone)).Sub(stopped).Round(time.Millisecond), time.UnixMilli(int64(alarmAt)).Sub(stopped).Round(time.Millisecond))
		ct1, at1 := elem(), time.Now()
		if played, wall := ct1-ct0, at1.Sub(at0).Seconds(); played < 0.8*wall {
			t.Errorf("the element played %.2fs of %.2fs while the monitor was frozen: it stalled", played, wall)
		}
		r.mon.signal(syscall.SIGCONT)
		resumed := time.Now()
		waitJS[bool](page, 10*time.Second, "the tone back in the <audio> element",
			fmt.Sprintf(`window.cradleTest.ogg.lastTone > %d`, resumed.UnixMilli()+500))
		stopFetch()

		mu.Lock()
		raw := append([]byte(nil), body...)
		mu.Unlock()
		file := filepath.Join(t.TempDir(), "stream.ogg")
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		wav := filepath.Join(t.TempDir(), "stream.wav")
		if out, err := exec.Command(opusdec, "--quiet", "--rate", "48000", file, wav).CombinedOutput(); err != nil {
			t.Fatalf("opusdec: %v\n%s", err, out)
		}
		ws := classify(readWAV(t, wav))
		// The stream runs in real time from its first byte.
		at := func(x time.Time) int { return int(x.Sub(fetchStart) / window) }
		t.Logf("stream (%d KB, %.1fs) from Go:%s", len(raw)/1024, float64(len(ws))*window.Seconds(), summary(ws))
		if n := count(ws, 10, at(stopped)-2, tone); n < (at(stopped)-12)*8/10 {
			t.Errorf("the tone is in %d of %d windows before SIGSTOP, want most", n, at(stopped)-12)
		}
		onset := first(ws, at(stopped)-2, alarmTone)
		if onset < 0 {
			t.Fatalf("no alarm in the stream after SIGSTOP")
		}
		if d := time.Duration(onset-at(stopped)) * window; d > 4*time.Second {
			t.Errorf("the alarm is in the stream %v after SIGSTOP, want within 4s", d)
		}
		if n := count(ws, onset, at(resumed), alarmTone); n < (at(resumed)-onset)/2 {
			t.Errorf("the alarm fills %d of %d windows while frozen, want most", n, at(resumed)-onset)
		}
		if n := count(ws, len(ws)-10, len(ws), tone); n < 8 {
			t.Errorf("the tone is in %d of the last 10 windows after SIGCONT, want it back", n)
		}
	})

	t.Run("pairing", func(t *testing.T) {
		page.t = t
		mon2 := startMonitor(t, nil, filepath.Join(r.dir, "monitor2"), "127.0.0.1:0", "--media", "test", "--name", "Bedroom")
		mon2.admin(t, "pair")
		code := mon2.code(t)
		page.do(15*time.Second, "pairing with a wrong code",
			chromedp.SetValue(chromedp.ID("pair-target"), mon2.addr),
			chromedp.SetValue(chromedp.ID("pair-code"), wrongSetupCode(t, code)),
			chromedp.Click(chromedp.ID("pair-button")),
			chromedp.WaitVisible(chromedp.CSS(`#pair-result[data-result="wrong_code"]`)),
		)
		advice := eval[string](page, `document.querySelector('#pair-result').textContent`)
		t.Logf("wrong code: %q", advice)
		if !strings.Contains(strings.ToLower(advice), "code") {
			t.Errorf("advice %q does not mention the code", advice)
		}
		r.shot(t, "pairing-error", "#pairing")
		page.do(20*time.Second, "pairing with the right code",
			chromedp.SetValue(chromedp.ID("pair-code"), code),
			chromedp.Click(chromedp.ID("pair-button")),
			chromedp.WaitVisible(chromedp.CSS(`#pair-result[data-result="ok"]`)),
		)
		var id2 string
		for _, m := range r.monitors(t) {
			if m.DeviceID != id {
				id2 = m.DeviceID
			}
		}
		if id2 == "" {
			t.Fatal("the listener holds no second monitor after pairing")
		}
		page.do(15*time.Second, "the new card online", chromedp.WaitVisible(card(id2, `[data-state="online"]`)))
		if name := eval[string](page, cardJS(id2)+`.querySelector('[data-field="name"]').textContent`); name != "Bedroom" {
			t.Errorf("new card's name %q, want Bedroom", name)
		}
		if eval[bool](page, cardJS(id2)+`.querySelector('[data-field="alarm"]').checkVisibility()`) {
			t.Errorf("the new card shows an alarm banner")
		}
		eval[chromedp.Void](page, `document.querySelector('#pair-result').textContent = ''; document.querySelector('#pair-result').dataset.result = ''`)
		r.shot(t, "online", "")
	})

	// foreign is a page on another origin (another port of 127.0.0.1).
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<!doctype html><title>another site</title><p>A page on another site.")
	}))
	defer foreign.Close()

	t.Run("foreign_origin", func(t *testing.T) {
		tb := r.b.newTab(t)
		st := tb.recordStatuses()
		tb.do(10*time.Second, "open the foreign page", chromedp.Navigate(foreign.URL))
		checkRefused(t, attack(tb, r.base, id), st.list(), r.base)
		if !slices.ContainsFunc(r.monitors(t), func(m pairedMonitorJSON) bool { return m.DeviceID == id }) {
			t.Fatalf("a foreign page's POST forgot the monitor")
		}
	})

	t.Run("beyond_loopback", func(t *testing.T) {
		// A second listener, paired with the monitor, serves its dashboard
		// on every interface.
		lis2 := []string{"--state-dir", filepath.Join(r.dir, "listener2")}
		r.mon.admin(t, "pair")
		mustRun(t, nil, "cradle", append(lis2, "pair", r.mon.addr, "--code", r.mon.code(t))...)
		dash, url := startDashboard(t, lis2, "0.0.0.0:0")
		if !regexp.MustCompile(`^https://[^/]+/#token=[0-9a-f]{32}$`).MatchString(url) {
			t.Fatalf("dashboard URL %q, want https with the token in its fragment", url)
		}
		dash.waitLine(0, regexp.MustCompile(`^Scan the code`), 5*time.Second)
		base, token, _ := strings.Cut(url, "/#token=")
		tb := r.b.newTab(t)
		st := tb.recordStatuses()

		// Without the token, and with a wrong one: not signed in.
		for _, u := range []string{base + "/", base + "/#token=" + strings.Repeat("0", 32)} {
			// (about:blank first: from the page, a link that differs only in
			// its fragment would not load it again.)
			tb.do(10*time.Second, "open "+u, chromedp.Navigate("about:blank"), chromedp.Navigate(u), chromedp.WaitVisible(chromedp.ID("signin")))
			got := eval[map[string]any](tb, `(async () => {
  const status = (p, opt) => fetch(p, opt).then((r) => r.status, (e) => 'rejected');
  const session = await fetch('/api/session').then((r) => r.json());
  return {
    signed_in: session.signed_in,
    events: await status('/api/events'),
    monitors: await status('/api/monitors'),
    pair: await status('/api/pair', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ target: '127.0.0.1:1', code: '1234-5678' }) }),
    forget: await status('/api/monitors/`+id+`/forget', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }),
    cards: document.querySelectorAll('.card').length,
  };
})()`)
			want := map[string]any{"signed_in": false, "events": 401.0, "monitors": 401.0, "pair": 401.0, "forget": 401.0, "cards": 0.0}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %s = %v, want %v", u, k, got[k], v)
				}
			}
		}
		// The printed link signs in: the card shows; the token leaves the
		// address bar and the page's script cannot read the cookie.
		tb.do(15*time.Second, "open the printed link", chromedp.Navigate("about:blank"), chromedp.Navigate(url),
			chromedp.WaitVisible(card(id, `[data-state="online"]`)))
		got := eval[map[string]any](tb, `(async () => ({ href: location.href, cookie: document.cookie, monitors: await fetch('/api/monitors').then((r) => r.status), events: window.cradleDebug.eventSource.readyState }))()`)
		if got["monitors"] != 200.0 || got["events"] != 1.0 || strings.Contains(fmt.Sprint(got["href"]), token) || strings.Contains(fmt.Sprint(got["cookie"]), token) {
			t.Errorf("signed in: %v, want /api/monitors 200, the event stream open, the token in neither the address nor document.cookie", got)
		}
		// Another origin, in the browser that holds the cookie.
		from := len(st.list())
		tb.do(10*time.Second, "open the foreign page", chromedp.Navigate(foreign.URL))
		checkRefused(t, attack(tb, base, id), st.list()[from:], base)
		// Plain HTTP gets net/http's "HTTP request to an HTTPS server".
		if resp, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP beyond loopback answered %s, want 400", resp.Status)
			}
		}
	})
}

// attack runs, in the tab's page (another origin), the requests a
// stranger's page would try against the dashboard at base: read the
// paired monitors, open the event stream (as an EventSource, and with a
// no-cors fetch whose status only DevTools sees), and forget monitor id
// with a JSON POST (preflighted) and a text/plain one (no preflight,
// response opaque).
func attack(tb *tab, base, id string) map[string]any {
	tb.t.Helper()
	return eval[map[string]any](tb, `(async () => {
  const base = '`+base+`';
  const out = {};
  out.read = await fetch(base + '/api/monitors', { credentials: 'include' }).then((r) => r.text(), (e) => 'rejected');
  out.json = await fetch(base + '/api/monitors/`+id+`/forget', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{}' }).then((r) => r.status, (e) => 'rejected');
  out.plain = await fetch(base + '/api/monitors/`+id+`/forget', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{}' }).then((r) => r.type, (e) => 'rejected');
  const ac = new AbortController();
  out.eventsNoCors = await fetch(base + '/api/events', { mode: 'no-cors', credentials: 'include', signal: ac.signal }).then((r) => r.type, (e) => 'rejected');
  ac.abort();
  out.events = await new Promise((ok) => {
    const es = new EventSource(base + '/api/events', { withCredentials: true });
    es.onmessage = () => { es.close(); ok('message'); };
    es.onerror = () => { es.close(); ok('error'); };
    setTimeout(() => { es.close(); ok('timeout'); }, 5000);
  });
  return out;
})()`)
}

// checkRefused: the foreign page read nothing, and the dashboard refused
// its event stream and its POSTs (the statuses DevTools saw, which the
// page itself cannot read).
func checkRefused(t *testing.T, got map[string]any, seen []string, base string) {
	t.Helper()
	t.Logf("foreign page: %v", got)
	if got["read"] != "rejected" || got["json"] != "rejected" || got["plain"] != "opaque" || got["events"] != "error" || got["eventsNoCors"] != "opaque" {
		t.Errorf("foreign page got %v, want reading, the JSON POST and the event stream rejected, the no-cors requests opaque", got)
	}
	want := map[string]bool{"OPTIONS /forget": false, "POST /forget": false, "GET /api/events": false}
	for _, s := range seen {
		f := strings.Fields(s)
		if len(f) != 3 || !strings.HasPrefix(f[1], base) {
			continue
		}
		path := strings.TrimPrefix(f[1], base)
		if strings.HasSuffix(path, "/forget") {
			path = "/forget"
		}
		if _, ok := want[f[0]+" "+path]; !ok {
			continue
		}
		if f[2] != "403" && f[2] != "401" {
			t.Errorf("the dashboard answered %s to the foreign page's %s, want 403 or 401", f[2], s)
		}
		want[f[0]+" "+path] = true
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("DevTools saw no answer to the foreign page's %s (seen: %q)", k, seen)
		}
	}
}

// wrongSetupCode is a valid setup code other than code.
func wrongSetupCode(t *testing.T, code string) string {
	t.Helper()
	c, err := pairing.ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(c)
	for i := range 10 {
		b[0] = '0' + byte((int(c[0]-'0')+1+i)%10)
		if w, err := pairing.ParseCode(string(b)); err == nil && w != c {
			return string(w)
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// needOpusdec returns opusdec's path; it skips without it, or fails under CI.
func needOpusdec(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("opusdec")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("opusdec missing: make test installs opus-tools")
	}
	t.Skip("opusdec missing (apt-get install opus-tools)")
	return ""
}

// BenchmarkDashboard measures the dashboard with the real binaries and
// chromium (one monitor, one `cradle dashboard`, one browser):
//   - listen: click Listen to the first audio decoded in the page (the
//     peer connection's inbound audio holds samples that are not
//     concealment), over 10 clicks, each from a stopped stream; the
//     first packet too. Goal: 150 ms.
//   - alarm: the monitor frozen (SIGSTOP) while the page listens, to the
//     alarm banner (audio lost) and to the card offline with the
//     link-lost banner, over 3 freezes. Goal: 3.5 s.
//   - latency: how far behind live each way of listening plays: the
//     monitor is frozen while its 440 Hz tone plays, and the page's Web
//     Audio analyser (a 43 ms window) finds when the tone stops in what
//     the element plays; for WebRTC (3 freezes) and for the
//     background-safe Ogg stream in a plain <audio> element (2 freezes).
//   - tabs-webrtc-3, tabs-ogg-3: `cradle dashboard`'s CPU (percent of one
//     core) and resident memory over 10 s while three tabs listen (the
//     page with WebRTC; the Ogg stream opened as each tab's address).
func BenchmarkDashboard(b *testing.B) {
	r := newDashRig(b)
	page := r.page
	id := r.id
	page.t = b
	page.do(20*time.Second, "the card online", chromedp.Navigate(r.base+"/"), chromedp.WaitVisible(card(id, `[data-state="online"]`)))
	installProbes(page)
	listen := func(tb *tab) {
		tb.do(10*time.Second, "Listen", chromedp.Click(card(id, ` button[data-action="listen"]`)))
		waitJS[bool](tb, 10*time.Second, "audio", `window.cradleTest.audioStats('`+id+`').then((s) => s && s.samples - s.concealed > 0)`)
	}
	stop := func(tb *tab) {
		tb.do(10*time.Second, "Stop", chromedp.Click(card(id, ` button[data-action="stop"]`)), chromedp.WaitVisible(card(id, `[data-state="online"]`)))
	}

	b.Run("listen", func(b *testing.B) {
		page.t = b
		var packet, decoded []float64
		for range 10 {
			got := eval[map[string]float64](page, `(async () => {
  const id = '`+id+`';
  const t0 = performance.now();
  `+cardJS(id)+`.querySelector('[data-action="listen"]').click();
  let packet = 0;
  for (;;) {
    const s = await window.cradleTest.audioStats(id);
    const now = performance.now() - t0;
    if (s && s.packets > 0 && !packet) packet = now;
    if (s && s.samples - s.concealed > 0) return { packet: packet || now, decoded: now };
    if (now > 10000) return { packet: -1, decoded: -1 };
    await new Promise((ok) => setTimeout(ok, 2));
  }
})()`)
			if got["decoded"] < 0 {
				b.Fatal("no audio within 10 s of Listen")
			}
			packet, decoded = append(packet, got["packet"]), append(decoded, got["decoded"])
			stop(page)
		}
		b.Logf("click to first packet %v ms, to first decoded %v ms", packet, decoded)
		b.ReportMetric(median(packet), "packet-ms")
		b.ReportMetric(median(decoded), "audio-ms")
		b.ReportMetric(slices.Max(decoded), "audio-max-ms")
	})

	b.Run("alarm", func(b *testing.B) {
		page.t = b
		listen(page)
		var banner, offline []float64
		for range 3 {
			eval[chromedp.Void](page, `window.cradleTest.marks = {}; window.cradleTest.markTimer = setInterval(() => {
  const c = `+cardJS(id)+`, m = window.cradleTest.marks;
  if (!m.banner && c.dataset.state === 'alarm' && c.querySelector('[data-field="alarm"]').checkVisibility()) m.banner = Date.now();
  if (!m.offline && c.querySelector('[data-field="presence"]').textContent === 'Offline' && c.querySelector('[data-field="alarm-text"]').textContent.includes('went offline')) m.offline = Date.now();
}, 5); undefined`)
			stopped := time.Now()
			r.mon.signal(syscall.SIGSTOP)
			m := waitJS[map[string]float64](page, 8*time.Second, "offline with the alarm", `window.cradleTest.marks.offline ? window.cradleTest.marks : null`)
			r.mon.signal(syscall.SIGCONT)
			eval[chromedp.Void](page, `clearInterval(window.cradleTest.markTimer)`)
			banner = append(banner, float64(time.UnixMilli(int64(m["banner"])).Sub(stopped).Milliseconds()))
			offline = append(offline, float64(time.UnixMilli(int64(m["offline"])).Sub(stopped).Milliseconds()))
			waitJS[bool](page, 15*time.Second, "listening again", `(() => { const c = `+cardJS(id)+`; return c.dataset.state === 'listening' && !c.querySelector('[data-field="alarm"]').checkVisibility(); })()`)
			b0 := eval[float64](page, `window.cradleTest.audioStats('`+id+`').then((s) => s ? s.bytes : 0)`)
			waitJS[bool](page, 10*time.Second, "audio again", fmt.Sprintf(`window.cradleTest.audioStats('%s').then((s) => s && s.bytes > %f + 4000)`, id, b0))
		}
		stop(page)
		b.Logf("frozen to the banner %v ms, to offline with the link-lost banner %v ms", banner, offline)
		b.ReportMetric(median(banner), "banner-ms")
		b.ReportMetric(median(offline), "offline-ms")
	})

	// behind freezes the monitor while the probe w (cradleTest.NAME)
	// hears the tone, and returns how long after SIGSTOP the tone stopped
	// in what the page plays.
	behind := func(b *testing.B, w string, reps int) []float64 {
		var out []float64
		for range reps {
			waitJS[bool](page, 20*time.Second, "the tone playing", fmt.Sprintf(`window.cradleTest.%s.lastTone > Date.now() - 50 && window.cradleTest.%[1]s.tones > 100`, w))
			stopped := time.Now()
			r.mon.signal(syscall.SIGSTOP)
			last := waitJS[float64](page, 15*time.Second, "the tone gone", fmt.Sprintf(`(() => { const l = window.cradleTest.%s.lastTone; return l > %d && Date.now() - l > 1000 ? l : 0; })()`, w, stopped.UnixMilli()))
			r.mon.signal(syscall.SIGCONT)
			out = append(out, float64(time.UnixMilli(int64(last)).Sub(stopped).Milliseconds()))
			eval[chromedp.Void](page, fmt.Sprintf(`window.cradleTest.%s.tones = 0`, w))
		}
		return out
	}

	b.Run("latency", func(b *testing.B) {
		page.t = b
		listen(page)
		eval[chromedp.Void](page, `window.cradleTest.rtc = window.cradleTest.watch(window.cradleTest.probe(window.cradleDebug.players['`+id+`'].srcObject)); undefined`)
		rtc := behind(b, "rtc", 3)
		eval[chromedp.Void](page, `clearInterval(window.cradleTest.rtc.timer)`)
		stop(page)
		eval[chromedp.Void](page, `(() => {
  const a = document.createElement('audio');
  a.id = 'ogg-bench';
  a.src = '/api/monitors/`+id+`/audio.ogg';
  document.body.append(a);
  window.cradleTest.ogg = window.cradleTest.watch(window.cradleTest.probe(a));
  return a.play();
})()`)
		ogg := behind(b, "ogg", 2)
		buf := eval[float64](page, `(() => { const a = document.querySelector('#ogg-bench'); return a.buffered.end(a.buffered.length - 1) - a.currentTime; })()`)
		eval[chromedp.Void](page, `(() => { const a = document.querySelector('#ogg-bench'); a.pause(); a.removeAttribute('src'); a.load(); a.remove(); clearInterval(window.cradleTest.ogg.timer); })()`)
		b.Logf("tone stopped in the page after SIGSTOP: WebRTC %v ms, Ogg <audio> %v ms (its buffer ahead of playback %.1f s)", rtc, ogg, buf)
		b.ReportMetric(median(rtc), "webrtc-ms")
		b.ReportMetric(median(ogg), "ogg-ms")
		b.ReportMetric(buf*1000, "ogg-buffered-ms")
	})

	for _, mode := range []string{"webrtc", "ogg"} {
		b.Run("tabs-"+mode+"-3", func(b *testing.B) {
			for i := range 3 {
				tb := r.b.newTab(b)
				if mode == "webrtc" {
					tb.do(20*time.Second, "the card online", chromedp.Navigate(r.base+"/"), chromedp.WaitVisible(card(id, `[data-state="online"]`)))
					installProbes(tb)
					listen(tb)
					continue
				}
				// The stream itself in each tab (Chrome's media page): the
				// dashboard page's event streams and three Ogg streams in one
				// browser would pass its 6 connections per host.
				tb.do(20*time.Second, "open the stream", chromedp.Navigate(r.base+"/api/monitors/"+id+"/audio.ogg?tab="+fmt.Sprint(i)))
				waitJS[bool](tb, 15*time.Second, "the stream playing", `(() => { const a = document.querySelector('video, audio'); return a && !a.paused && a.currentTime > 0.2; })()`)
			}
			reportProcess(b, r.dash.cmd.Process.Pid, 10*time.Second)
		})
	}
}

// median of xs (not empty); it sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
