package page

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// newSpeakerMonitor runs an in-process monitor on loopback whose speaker
// is out (nil: no speaker).
func newSpeakerMonitor(t testing.TB, name string, out play.Output) *monitor.Monitor {
	t.Helper()
	cfg := monitor.Config{StateDir: filepath.Join(t.TempDir(), "m"), Listen: "127.0.0.1:0", Media: media.ModeTest, Name: name}
	if out != nil {
		cfg.SpeakerOutput = out
	}
	mon, err := monitor.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	return mon
}

// loud reports whether the last d of what sink played holds sound.
func loud(sink *play.TestSink, d time.Duration) bool {
	pcm := sink.Played()
	n := int(d.Seconds() * media.SampleRate)
	if len(pcm) < n {
		return false
	}
	var peak int16
	for _, v := range pcm[len(pcm)-n:] {
		peak = max(peak, v, -v)
	}
	return peak > 300
}

// TestBrowserSoothingSound: on the dashboard, a card plays a soothing
// sound on the monitor's speaker (a test output, paced like a sound
// card, that keeps what it played) with a timer, shows which sound plays,
// who started it and the time left, and stops it; a monitor without a
// speaker says so on its card instead of offering the controls.
func TestBrowserSoothingSound(t *testing.T) {
	sink := play.NewTestSink(0)
	nursery := newSpeakerMonitor(t, "Nursery", sink)
	mute := newSpeakerMonitor(t, "Attic", nil)
	l, _ := newListener(t)
	m := pairWith(t, l, nursery)
	q := pairWith(t, l, mute)
	ts := startServer(t, Options{Listener: l}, true)
	ctx := browser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	quiet := `.card[data-monitor="` + q.DeviceID + `"]`
	text := func(sel string) string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`').textContent`))
		return s
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"][data-sound="none"] [data-field="soothe"]`)),
		chromedp.WaitVisible(chromedp.CSS(quiet+`[data-state="online"][data-sound="no-speaker"] [data-field="sound-state"]`)),
	); err != nil {
		t.Fatalf("cards: %v", err)
	}
	if s := text(quiet + ` [data-field="sound-state"]`); !strings.Contains(s, "no speaker") {
		t.Errorf("the speakerless monitor's card says %q", s)
	}
	if vis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+quiet+` .sound-controls').checkVisibility()`)); vis {
		t.Error("the speakerless monitor's card offers the sound controls")
	}
	if loud(sink, 500*time.Millisecond) {
		t.Fatal("the speaker plays before anyone asked")
	}

	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(card+` [data-field="sound-pick"]`), "pink"),
		chromedp.SetValue(chromedp.CSS(card+` [data-field="sound-timer"]`), "15"),
		chromedp.Click(chromedp.CSS(card+` [data-action="sound-start"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-sound="playing"]`)),
	); err != nil {
		t.Fatalf("play: %v", err)
	}
	line, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const s = document.querySelector('`+card+` [data-field="sound-state"]').textContent; return s.includes('left') ? s : ''; })()`, chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("playing: %q", line)
	if !strings.Contains(line, "Pink noise is playing, started by parent: 1") || !strings.Contains(line, " left.") {
		t.Errorf("the card says %q, want the sound, who started it and about 15 min left", line)
	}
	waitFor(t, 5*time.Second, "the monitor's speaker playing", func() bool { return loud(sink, 500*time.Millisecond) })

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(card+` [data-action="sound-stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-sound="none"]`)),
	); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitFor(t, 5*time.Second, "the monitor's speaker silent", func() bool { return !loud(sink, 300*time.Millisecond) })
	if s := text(card + ` [data-field="sound-state"]`); s != "No sound is playing." {
		t.Errorf("after Stop the card says %q", s)
	}
}

// TestMonitorPageSoundByPhone: on the monitor's own page a phone's
// sound_start goes over a connection of the phone's own device, so the
// monitor, and every page, names the phone as who started it; a stranger
// may not start one.
func TestMonitorPageSoundByPhone(t *testing.T) {
	sink := play.NewTestSink(0)
	mon := newSpeakerMonitor(t, "Nursery", sink)
	p := startMonitorPage(t, mon)
	id := mon.Fingerprint().DeviceID()
	a := p.phone(t, "127.0.0.2")
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/sound/start", `{"sound":"brown","minutes":0}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a stranger's sound/start: %s, want 401", resp.Status)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if resp := a.pair("Bedside phone", string(mon.SetupCode())); resp.StatusCode != http.StatusOK {
		t.Fatalf("pair: %s", resp.Status)
	}
	_, ev := a.open("/api/events")
	if !readsUntil(ev, 5*time.Second, `"speaker":true`) {
		t.Fatal("the page never hears of the monitor's speaker")
	}
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/sound/start", `{"sound":"brown","minutes":7}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a 7-minute timer: %s, want 400", resp.Status)
	}
	resp := a.do(http.MethodPost, "/api/monitors/"+id+"/sound/start", `{"sound":"brown","minutes":0}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sound/start: %s %+v", resp.Status, problemOf(t, resp))
	}
	var ans struct{ Sound soundView }
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	if !ans.Sound.Playing || ans.Sound.Sound != "brown" || ans.Sound.By != "Bedside phone" || ans.Sound.RemainingMillis != 0 {
		t.Fatalf("answer %+v, want brown noise started by the phone, until stopped", ans.Sound)
	}
	if !readsUntil(ev, 5*time.Second, `"by":"Bedside phone"`) {
		t.Fatal("the page is not told who started the sound")
	}
	waitFor(t, 5*time.Second, "the monitor's speaker playing", func() bool { return loud(sink, 500*time.Millisecond) })
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/sound/stop", `{}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("sound/stop: %s", resp.Status)
	}
	waitFor(t, 5*time.Second, "the monitor's speaker silent", func() bool { return !loud(sink, 300*time.Millisecond) })
}
