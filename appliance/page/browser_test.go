package page

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// chromiumPath is Debian's chromium (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless chromium for one test; without chromium the
// test is skipped, or fails under CI.
func browser(t testing.TB) context.Context {
	t.Helper()
	return browserWith(t)
}

// browserWith is browser with more command-line flags.
func browserWith(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (apt-get install -y chromium): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing (apt-get install -y chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// TestBrowserCard: the page, in a real browser, shows the paired
// monitor's card online; Listen, with neither a relay nor a stream to
// play, leaves the card online (never "listening" while silent) and says
// so in the card; a wrong setup code gets its advice.
func TestBrowserCard(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l}, true)
	ctx := browser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	q := func(sel string) chromedp.CSS { return chromedp.CSS(card + sel) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(q(`[data-state="online"]`)),
	); err != nil {
		t.Fatalf("no online card: %v", err)
	}
	name, err := chromedp.Run(ctx, chromedp.Text(q(` [data-field="name"]`)))
	if err != nil || name != m.Name {
		t.Fatalf("card name %q (%v), want %q", name, err, m.Name)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(q(` button[data-action="listen"]`)),
		chromedp.WaitVisible(q(`[data-listen="failed"]`)),
	); err != nil {
		t.Fatalf("listen: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+card+` [data-field="listen-status"]').textContent.includes('not available')`)); err != nil {
		t.Fatalf("no word about the missing relay: %v", err)
	}
	status, _ := chromedp.Run(ctx, chromedp.Text(q(` [data-field="listen-status"]`)))
	t.Logf("listen status without a relay: %q", status)
	// Nothing plays: the card must not say it listens.
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+card+`').dataset.state`)); st != "online" {
		t.Fatalf("card state %q with nothing playing, want online", st)
	}
	if n, _ := ts.pool.counts(m.DeviceID); n != 1 {
		t.Fatalf("listen count %d after Listen, want 1", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(q(` button[data-action="stop"]`)),
		chromedp.WaitVisible(q(`[data-state="online"]`)),
	); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitFor(t, 5*time.Second, "Stop released the listen", func() bool { n, _ := ts.pool.counts(m.DeviceID); return n == 0 })

	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("pair-target"), mon.Addr().String()),
		chromedp.SendKeys(chromedp.ID("pair-code"), wrongCode(t, mon.SetupCode())),
		chromedp.Click(chromedp.ID("pair-button")),
		chromedp.WaitVisible(chromedp.CSS(`#pair-result[data-result="wrong_code"]`)),
	); err != nil {
		t.Fatalf("pairing with a wrong code: %v", err)
	}
	advice, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("pair-result")))
	t.Logf("wrong code: %q", advice)
}

// TestBrowserSilentStream: the continuous stream answers but never
// carries sound (its player is told to play and its time stays at 0):
// the card says Starting…, never listening, however long the watcher
// samples it; it names no browser error.
func TestBrowserSilentStream(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	silent := func(ctx context.Context, w http.ResponseWriter, _ *listener.Session) error {
		w.Header().Set("Content-Type", "audio/ogg")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-ctx.Done()
		return nil
	}
	ts := startServer(t, Options{Listener: l, Ogg: silent}, true)
	ctx := browser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
		chromedp.Click(chromedp.CSS(card+` button[data-action="listen"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-listen="starting"]`)),
	); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ticks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.cradleDebug.watchTicks || 0`))
	if err != nil {
		t.Fatal(err)
	}
	// Six samples (3 s) of a player told to play, with no sound.
	got, err := chromedp.Run(ctx, chromedp.Poll[map[string]any](`(() => {
  const c = document.querySelector('`+card+`');
  const p = window.cradleDebug.players['`+m.DeviceID+`'];
  if (c.dataset.state === 'listening' || window.cradleDebug.watchTicks >= `+strconv.Itoa(ticks+6)+`)
    return { state: c.dataset.state, status: c.querySelector('[data-field="listen-status"]').textContent, paused: p.paused, t: p.currentTime, src: p.currentSrc };
  return null;
})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 6 samples of a silent stream: %v", got)
	if got["state"] != "online" || got["status"] != "Starting…" || !strings.Contains(got["src"].(string), "/audio.ogg") {
		t.Fatalf("card %v, want online, Starting…, playing the stream", got)
	}
}

// TestBrowserNoWebRTC: a browser without RTCPeerConnection (Debian's
// WebKit) and a listener with no stream to fall back to: Listen ends in a
// sentence saying what to do, never the browser's exception, and the
// card never says listening.
func TestBrowserNoWebRTC(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l}, true)
	ctx := browser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
		chromedp.Evaluate[chromedp.Void](`window.RTCPeerConnection = undefined`),
		chromedp.Click(chromedp.CSS(card+` button[data-action="listen"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-listen="failed"]`)),
	); err != nil {
		t.Fatalf("listen: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+card+`').textContent + ' ' + document.querySelector('#toasts').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(card+` [data-field="listen-status"]`)))
	t.Logf("listen status: %q", status)
	if !strings.Contains(status, "no WebRTC") || !strings.Contains(status, "Open the page in") {
		t.Errorf("status %q, want what is missing and what to do", status)
	}
	for _, raw := range []string{"RTCPeerConnection", "not a constructor", "TypeError", "Can't find variable", "undefined"} {
		if strings.Contains(text, raw) {
			t.Fatalf("the page shows a raw exception (%q): %q", raw, text)
		}
	}
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+card+`').dataset.state`)); st != "online" {
		t.Fatalf("card state %q, want online", st)
	}
}

// TestBrowserNightLook: at phone size (390x844) the page is dark and dim,
// every button, disclosure and field a finger uses is at least 48 px
// each way, and the card speaks a parent's words: the level as a word,
// with RTT, address and dBFS only under Details.
func TestBrowserNightLook(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l}, true)
	ctx := browser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
	); err != nil {
		t.Fatalf("page: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[map[string]any](`(() => {
  const c = document.querySelector('`+card+`');
  const word = c.querySelector('[data-field="level-word"]').textContent;
  if (!['Quiet', 'Some sound', 'Crying level'].includes(word)) return null;
  const lum = (css) => { const [r, g, b] = css.match(/\d+/g).map(Number); return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
  const small = [];
  for (const e of document.querySelectorAll('button, summary, input')) {
    if (!e.checkVisibility()) continue;
    const r = e.getBoundingClientRect();
    if (r.height < 48 || r.width < 48) small.push((e.dataset.action || e.id || e.textContent.trim()) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  return { word, shown: c.innerText, bg: lum(getComputedStyle(document.body).backgroundColor), card: lum(getComputedStyle(c).backgroundColor), fg: lum(getComputedStyle(document.body).color), small };
})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("no level word on the card: %v", err)
	}
	t.Logf("level %q; luminance: background %.3f, card %.3f, text %.3f; shown: %q", got["word"], got["bg"], got["card"], got["fg"], got["shown"])
	if got["bg"].(float64) > 0.05 || got["card"].(float64) > 0.1 || got["fg"].(float64) > 0.8 {
		t.Errorf("not dark and dim: background %.3f, card %.3f, text %.3f", got["bg"], got["card"], got["fg"])
	}
	if small := got["small"].([]any); len(small) > 0 {
		t.Errorf("touch targets under 48 px: %v", small)
	}
	shown := got["shown"].(string)
	for _, tech := range []string{"dBFS", "Round trip", "127.0.0.1"} {
		if strings.Contains(shown, tech) {
			t.Errorf("the card shows %q outside Details: %q", tech, shown)
		}
	}
	details, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const d = document.querySelector('`+card+` [data-field="details"]'); d.open = true; return d.innerText; })()`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tech := range []string{"dBFS", "Round trip", "127.0.0.1"} {
		if !strings.Contains(details, tech) {
			t.Errorf("Details lack %q: %q", tech, details)
		}
	}
}
