package page

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/appliance/listener/webrelay"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"github.com/cradle-monitor/cradle/store"
)

// micHz is the tone the test's fake microphone plays.
const micHz = 660

// talkBrowser starts chromium with a fake microphone (a WAV file of a
// steady micHz tone that chromium loops) that every page may use without
// asking, and that accepts the monitor's page's certificate.
func talkBrowser(t testing.TB) context.Context {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "mic.wav")
	if err := os.WriteFile(wav, toneWAV(micHz, 2*time.Second), 0o600); err != nil {
		t.Fatal(err)
	}
	return browserWith(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("ignore-certificate-errors", true),
	)
}

// toneWAV is d of a sine at hz, -12 dBFS, as a 48 kHz mono 16-bit WAV.
func toneWAV(hz float64, d time.Duration) []byte {
	n := int(d.Seconds() * media.SampleRate)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(0.25 * 32767 * math.Sin(2*math.Pi*hz*float64(i)/media.SampleRate))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(media.SampleRate), uint32(media.SampleRate * 2), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(2*n))
	binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

// voiceOn reports whether the last d of what sink played carries the
// microphone's tone: micHz stands well above its neighbours, loud enough.
func voiceOn(sink *play.TestSink, d time.Duration) (bool, float64) {
	pcm := sink.Played()
	n := int(d.Seconds() * media.SampleRate)
	if len(pcm) < n {
		return false, 0
	}
	pcm = pcm[len(pcm)-n:]
	dom := pulsetest.Dominant(pcm, media.SampleRate, 200, 2000, 10)
	return math.Abs(dom-micHz) <= 15 && pulsetest.RMS(pcm) > 0.005, dom
}

// press presses (down) or releases the left mouse button at the middle of
// sel, as a finger on the button would.
func press(ctx context.Context, t testing.TB, sel string, down bool) {
	t.Helper()
	at, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => { const b = document.querySelector('`+sel+`'); b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect(); const x = r.x + r.width / 2, y = r.y + r.height / 2; const e = document.elementFromPoint(x, y); return { x, y, hit: b.contains(e), there: e ? e.outerHTML.slice(0, 120) : '' }; })()`))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	if at["hit"] != true {
		t.Fatalf("%s is covered by %v", sel, at["there"])
	}
	typ := chromedp.MouseReleased
	if down {
		typ = chromedp.MousePressed
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent(typ, at["x"].(float64), at["y"].(float64), chromedp.ButtonLeft, chromedp.ClickCount(1))); err != nil {
		t.Fatal(err)
	}
}

// evalIn evaluates expr in ctx's page.
func evalIn[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// pollIn waits (up to d) for expr to be truthy in ctx's page and returns it.
func pollIn[T any](t testing.TB, ctx context.Context, d time.Duration, what, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(d)))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestBrowserTalkDashboard: on the dashboard, a tab that listens to the
// nursery holds the card's talk button: its fake microphone's tone
// reaches the monitor's speaker (a test output, paced like a sound card,
// that keeps what it played), its own nursery audio is muted meanwhile
// (and the card still says listening), and another tab sees "parent is
// talking" with its button disabled. Released, the speaker falls silent,
// the audio is unmuted and the other tab may talk.
func TestBrowserTalkDashboard(t *testing.T) {
	sink := play.NewTestSink(0)
	mon := newSpeakerMonitor(t, "Nursery", sink)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	rel, err := webrelay.New(webrelay.Config{IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{Listener: l, Relay: rel}, true)
	ctx := talkBrowser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	button := card + ` [data-action="talk"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
		chromedp.Click(chromedp.CSS(card+` [data-action="listen"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="listening"]`)),
	); err != nil {
		t.Fatalf("listen: %v", err)
	}
	other, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(other,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
	); err != nil {
		t.Fatalf("second tab: %v", err)
	}
	if evalIn[bool](t, other, `document.querySelector('`+button+`').disabled`) {
		t.Fatalf("the talk button is disabled before anyone talks: %q", evalIn[string](t, other, `document.querySelector('`+card+` [data-field="talk-state"]').textContent`))
	}

	pressed := time.Now()
	press(ctx, t, button, true)
	pollIn[bool](t, ctx, 10*time.Second, "Talking… on the talker's card", `document.querySelector('`+card+`').dataset.talk === 'talking'`)
	t.Logf("talking %v after the press", time.Since(pressed).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "the microphone's tone on the monitor's speaker", func() bool { ok, _ := voiceOn(sink, 300*time.Millisecond); return ok })
	t.Logf("the tone reached the monitor's speaker %v after the press", time.Since(pressed).Round(time.Millisecond))
	got := evalIn[map[string]any](t, ctx, `(() => { const c = document.querySelector('`+card+`'); const p = window.cradleDebug.players['`+m.DeviceID+`']; return { muted: p.muted, state: c.dataset.state, listen: c.dataset.listen, line: c.querySelector('[data-field="talk-state"]').textContent, button: c.querySelector('[data-action="talk"]').textContent }; })()`)
	t.Logf("the talker's card: %v", got)
	if got["muted"] != true || got["state"] != "listening" || !strings.Contains(got["line"].(string), "Talking") {
		t.Errorf("while talking the talker's card is %v, want its nursery audio muted, still listening, Talking…", got)
	}
	line := pollIn[string](t, other, 5*time.Second, "the other tab told who talks", `(() => { const c = document.querySelector('`+card+`'); return c.querySelector('[data-action="talk"]').disabled ? c.querySelector('[data-field="talk-state"]').textContent : ''; })()`)
	if line != "parent is talking." {
		t.Errorf("the other tab says %q, want %q", line, "parent is talking.")
	}
	// The other tab presses anyway (it had not heard yet): the monitor
	// refuses, naming who talks, and the talk goes on.
	evalIn[chromedp.Void](t, other, `talkStart('`+m.DeviceID+`'); undefined`)
	busy := pollIn[string](t, other, 10*time.Second, "the monitor's refusal of a second talker", `(() => { const s = window.cradleDebug.state; return !s.talk && s.talkError ? s.talkError.text : ''; })()`)
	t.Logf("a second talker is told: %q", busy)
	if !strings.Contains(busy, "parent is talking") {
		t.Errorf("a second talker is told %q, want who talks", busy)
	}
	time.Sleep(time.Second) // listening muted for a while: the card must not take it for a stall
	if ok, hz := voiceOn(sink, 300*time.Millisecond); !ok {
		t.Errorf("the talk stopped when a second talker was refused (%.0f Hz)", hz)
	}

	press(ctx, t, button, false)
	released := time.Now()
	waitFor(t, 5*time.Second, "the monitor's speaker silent after the release", func() bool { return !loud(sink, 200*time.Millisecond) })
	t.Logf("the speaker fell silent %v after the release", time.Since(released).Round(time.Millisecond))
	got = pollIn[map[string]any](t, ctx, 5*time.Second, "the talker's card after the release", `(() => { const c = document.querySelector('`+card+`'); const p = window.cradleDebug.players['`+m.DeviceID+`']; return !p.muted && c.dataset.talk === '' ? { state: c.dataset.state, blocked: c.dataset.blocked || '' } : null; })()`)
	if got["state"] != "listening" || got["blocked"] != "" {
		t.Errorf("after the release the talker's card is %v, want listening, unmuted", got)
	}
	pollIn[bool](t, other, 5*time.Second, "the other tab's button enabled again, the refusal gone",
		`!document.querySelector('`+button+`').disabled && document.querySelector('`+card+` [data-field="talk-state"]').textContent === ''`)
}

// TestBrowserTalkMonitorPage: a phone on the monitor's own page (HTTPS,
// where a page may use the microphone) pairs, then holds the talk button
// with the keyboard's space bar: its microphone's tone reaches the
// monitor's speaker, and the monitor names the phone as who talks; the
// release ends it.
func TestBrowserTalkMonitorPage(t *testing.T) {
	sink := play.NewTestSink(0)
	mon := newSpeakerMonitor(t, "Nursery", sink)
	p := startMonitorPage(t, mon)
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx := talkBrowser(t)
	id := mon.Fingerprint().DeviceID()
	card := `.card[data-monitor="` + id + `"]`
	button := card + ` [data-action="talk"]`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible(chromedp.ID("phone-pair-form")),
		chromedp.SetValue(chromedp.ID("phone-name"), "Bedside phone"),
		chromedp.SetValue(chromedp.ID("phone-code"), string(mon.SetupCode())),
		chromedp.Click(chromedp.ID("phone-pair-button")),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
		chromedp.Focus(chromedp.CSS(button)),
	); err != nil {
		t.Fatalf("pairing the phone: %v", err)
	}
	space := func(typ input.DispatchKeyEventType) {
		t.Helper()
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: " ", Code: "Space", WindowsVirtualKeyCode: 32, NativeVirtualKeyCode: 32}); err != nil {
			t.Fatal(err)
		}
	}
	pressed := time.Now()
	space(input.DispatchKeyEventTypeKeyDown)
	pollIn[bool](t, ctx, 10*time.Second, "Talking… on the phone", `document.querySelector('`+card+`').dataset.talk === 'talking'`)
	waitFor(t, 10*time.Second, "the phone's microphone on the monitor's speaker", func() bool { ok, _ := voiceOn(sink, 300*time.Millisecond); return ok })
	t.Logf("the tone reached the monitor's speaker %v after the key went down", time.Since(pressed).Round(time.Millisecond))
	var by []string
	mon.Store().Events(0, func(e store.Event) error {
		if ts, ok := e.Payload.(store.TalkStarted); ok {
			by = append(by, ts.By)
		}
		return nil
	})
	if len(by) != 1 || by[0] != "Bedside phone" {
		t.Errorf("the monitor's log says %q talked, want the phone once", by)
	}
	space(input.DispatchKeyEventTypeKeyUp)
	waitFor(t, 5*time.Second, "the monitor's speaker silent after the key went up", func() bool { return !loud(sink, 200*time.Millisecond) })
	pollIn[bool](t, ctx, 5*time.Second, "the button back to Hold to talk", `document.querySelector('`+button+`').textContent === 'Hold to talk' && !document.querySelector('`+button+`').disabled`)
}

// TestBrowserTalkRefusals: the talk button says why it cannot talk, in
// words, never a browser's exception: a monitor without a speaker (and,
// pressed anyway, the monitor's own refusal), a microphone the browser
// refuses, a browser without WebRTC (Debian's WebKit). A refused press
// leaves the nursery audio unmuted, and the other cards' buttons enabled.
func TestBrowserTalkRefusals(t *testing.T) {
	sink := play.NewTestSink(0)
	nursery := newSpeakerMonitor(t, "Nursery", sink)
	attic := newSpeakerMonitor(t, "Attic", nil)
	l, _ := newListener(t)
	m := pairWith(t, l, nursery)
	q := pairWith(t, l, attic)
	ts := startServer(t, Options{Listener: l}, true)
	ctx := talkBrowser(t)
	card := `.card[data-monitor="` + m.DeviceID + `"]`
	quiet := `.card[data-monitor="` + q.DeviceID + `"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
		chromedp.WaitVisible(chromedp.CSS(quiet+`[data-state="online"]`)),
	); err != nil {
		t.Fatalf("cards: %v", err)
	}
	line := func(sel string) string {
		return evalIn[string](t, ctx, `document.querySelector('`+sel+` [data-field="talk-state"]').textContent`)
	}
	noSpeaker := pollIn[string](t, ctx, 5*time.Second, "the speakerless card's talk button disabled",
		`(() => { const c = document.querySelector('`+quiet+`'); return c.querySelector('[data-action="talk"]').disabled ? c.querySelector('[data-field="talk-state"]').textContent : ''; })()`)
	if !strings.Contains(noSpeaker, "no speaker") {
		t.Errorf("the speakerless card says %q", noSpeaker)
	}
	// Pressed anyway (a page that has not heard yet): the monitor refuses.
	evalIn[chromedp.Void](t, ctx, `talkStart('`+q.DeviceID+`'); undefined`)
	// The moment the refused talk ends, the other card's button is
	// enabled again (one talk per page, not one card for good).
	got := pollIn[map[string]any](t, ctx, 10*time.Second, "the monitor's refusal", `(() => { const s = window.cradleDebug.state; return !s.talk && s.talkError ? { text: s.talkError.text, other: document.querySelector('`+card+` [data-action="talk"]').disabled } : null; })()`)
	refused := got["text"].(string)
	if got["other"] != false {
		t.Error("the other card's talk button stays disabled after the refused talk ended")
	}
	t.Logf("pressed on the speakerless monitor: %q", refused)
	if !strings.Contains(refused, "no speaker") {
		t.Errorf("refusal %q, want that the monitor has no speaker", refused)
	}
	if ok, _ := voiceOn(sink, 300*time.Millisecond); ok {
		t.Error("the other monitor's speaker played the microphone")
	}

	// The browser refuses the microphone.
	evalIn[chromedp.Void](t, ctx, `navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); undefined`)
	press(ctx, t, card+` [data-action="talk"]`, true)
	press(ctx, t, card+` [data-action="talk"]`, false)
	text := pollIn[string](t, ctx, 5*time.Second, "the refused microphone's sentence", `window.cradleDebug.state.talkError ? window.cradleDebug.state.talkError.text : ''`)
	t.Logf("microphone refused: %q", text)
	if !strings.Contains(text, "microphone") || strings.Contains(text, "NotAllowedError") || strings.Contains(text, "Permission denied") {
		t.Errorf("microphone refused: %q", text)
	}
	if shown := line(card); shown != text {
		t.Errorf("the card says %q, want %q", shown, text)
	}
	if evalIn[bool](t, ctx, `window.cradleDebug.players['`+m.DeviceID+`'].muted`) {
		t.Error("the nursery audio stays muted after a refused press")
	}

	// A browser without WebRTC.
	evalIn[chromedp.Void](t, ctx, `window.RTCPeerConnection = undefined; render('`+m.DeviceID+`'); undefined`)
	if !evalIn[bool](t, ctx, `document.querySelector('`+card+` [data-action="talk"]').disabled`) {
		t.Error("the talk button is enabled without WebRTC")
	}
	if s := line(card); !strings.Contains(s, "needs a browser with WebRTC") {
		t.Errorf("without WebRTC the card says %q", s)
	}
	for _, raw := range []string{"TypeError", "not a constructor", "undefined", "DOMException"} {
		if body := evalIn[string](t, ctx, `document.body.innerText`); strings.Contains(body, raw) {
			t.Errorf("the page shows a raw exception (%q)", raw)
		}
	}
}

// TestTalkGuarded: the talk endpoints take the same sign-in and Origin
// checks as listen and offer: a stranger's talk is refused before the
// monitor hears of it, a foreign page's too, and a tab the server does
// not know cannot talk.
func TestTalkGuarded(t *testing.T) {
	mon := newSpeakerMonitor(t, "Nursery", play.NewTestSink(0))
	p := startMonitorPage(t, mon)
	id := mon.Fingerprint().DeviceID()
	a := p.phone(t, "127.0.0.2")
	for _, path := range []string{"/talk", "/talk/stop"} {
		if resp := a.do(http.MethodPost, "/api/monitors/"+id+path, `{"tab":"x","sdp":"v=0"}`); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a stranger's POST %s: %s, want 401", path, resp.Status)
		}
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if resp := a.pair("Bedside phone", string(mon.SetupCode())); resp.StatusCode != http.StatusOK {
		t.Fatalf("pair: %s", resp.Status)
	}
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/talk", `{"tab":"x","sdp":"v=0"}`, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("talk from a foreign Origin: %s, want 403", resp.Status)
	}
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/talk", `{"tab":"x","sdp":"v=0"}`); resp.StatusCode != http.StatusConflict || problemOf(t, resp).Code != "tab_gone" {
		t.Errorf("talk from an unknown tab: %s, want 409 tab_gone", resp.Status)
	}
	var started int
	mon.Store().Events(0, func(e store.Event) error {
		if _, ok := e.Payload.(store.TalkStarted); ok {
			started++
		}
		return nil
	})
	if started != 0 {
		t.Errorf("the monitor started %d talks for refused requests", started)
	}
}

// TestBrowserTalkPulse: the same talk from the monitor's page, with the
// monitor's speaker a real output (miniaudio into a private PulseAudio
// server's null sink, recorded): the microphone's tone is what the
// monitor plays.
func TestBrowserTalkPulse(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	dev, err := play.OpenDevice("")
	if err != nil {
		t.Fatalf("OpenDevice: %v", err)
	}
	mon := newSpeakerMonitor(t, "Nursery", dev)
	p := startMonitorPage(t, mon)
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx := talkBrowser(t)
	card := `.card[data-monitor="` + mon.Fingerprint().DeviceID() + `"]`
	button := card + ` [data-action="talk"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible(chromedp.ID("phone-pair-form")),
		chromedp.SetValue(chromedp.ID("phone-code"), string(mon.SetupCode())),
		chromedp.Click(chromedp.ID("phone-pair-button")),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-state="online"]`)),
	); err != nil {
		t.Fatalf("pairing the phone: %v", err)
	}
	rec := srv.StartRecording(t)
	press(ctx, t, button, true)
	pollIn[bool](t, ctx, 10*time.Second, "Talking… on the phone", `document.querySelector('`+card+`').dataset.talk === 'talking'`)
	time.Sleep(2 * time.Second) // a recording: nothing to wait for but its length
	press(ctx, t, button, false)
	time.Sleep(500 * time.Millisecond)
	pcm := rec.Stop()
	sec := pulsetest.Rate
	// The loudest second: the voice, after the chime.
	best, bestRMS := -1, 0.0
	for i := 0; i+sec <= len(pcm); i += sec / 10 {
		if r := pulsetest.RMS(pcm[i : i+sec]); r > bestRMS {
			best, bestRMS = i, r
		}
	}
	if best < 0 || bestRMS < 0.005 {
		t.Fatalf("nothing recorded from the monitor's speaker (%d samples, RMS %.5f)", len(pcm), bestRMS)
	}
	dom := pulsetest.Dominant(pcm[best:best+sec/2], pulsetest.Rate, 200, 2000, 5)
	t.Logf("recorded %.1f s from the monitor's speaker: loudest second %.1f dBFS, %.0f Hz", float64(len(pcm))/float64(sec), 20*math.Log10(bestRMS), dom)
	if math.Abs(dom-micHz) > 15 {
		t.Errorf("the monitor's speaker played %.0f Hz, want the microphone's %d Hz", dom, micHz)
	}
	if tail := pulsetest.RMS(pcm[len(pcm)-sec/5:]); tail > 0.001 {
		t.Errorf("RMS %.5f after the release: the speaker plays on", tail)
	}
}
