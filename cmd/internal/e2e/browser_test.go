package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// needChromium skips the test without chromium, or fails it under CI.
func needChromium(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: make test installs chromium", chromiumPath)
	}
	t.Skipf("%s is missing (apt-get install chromium; CI runs this test)", chromiumPath)
}

// browser is one headless chromium for a test, with a fresh profile:
// media plays without a user gesture, and it accepts the dashboard's
// self-signed certificate beyond loopback (the parent accepts it once).
type browser struct {
	t   testing.TB
	ctx context.Context // the browser's first tab
}

// newBrowser starts chromium; the test's cleanup closes it.
func newBrowser(t testing.TB) *browser { return startBrowser(t, "", nil) }

// newAudibleBrowser starts chromium with a window on an X display (Xvfb)
// and its sound going to the PulseAudio server in env: headless chromium
// plays no sound at all, a window plays into PulseAudio like any program,
// so the test can record what the browser really played.
func newAudibleBrowser(t testing.TB, display string, env []string) *browser {
	return startBrowser(t, display, env)
}

func startBrowser(t testing.TB, display string, env []string) *browser {
	t.Helper()
	needChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.Flag("headless", display == ""),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1280, 800),
	}
	if display != "" {
		opts = append(opts, chromedp.Env(append(append([]string{}, env...), "DISPLAY="+display)...))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Do starts the browser, tied to the context it is given:
	// give it ctx itself, not one with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return &browser{t: t, ctx: ctx}
}

// tab is one browser tab.
type tab struct {
	t   testing.TB
	ctx context.Context
}

// first is the browser's first tab.
func (b *browser) first() *tab { return &tab{t: b.t, ctx: b.ctx} }

// newTab opens another tab; the test's cleanup closes it.
func (b *browser) newTab(t testing.TB) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, tied to ctx
		t.Fatalf("open a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// do runs actions within d, failing the test with what on error.
func (tb *tab) do(d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := tb.try(d, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// try runs actions within d.
func (tb *tab) try(d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tb.ctx, d)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// eval evaluates a JavaScript expression in tab (awaiting a promise) and
// decodes its value into T.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := evalErr[T](tb, 30*time.Second, js)
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", short(js), err)
	}
	return v
}

func evalErr[T any](tb *tab, d time.Duration, js string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, d)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// waitJS polls a JavaScript expression every 20 ms until it is truthy, and
// returns its value; it fails the test after d with what.
func waitJS[T any](tb *tab, d time.Duration, what, js string) T {
	tb.t.Helper()
	v, err := pollJS[T](tb, d, js)
	if err != nil {
		tb.t.Fatalf("%s: not within %v (%s): %v", what, d, short(js), err)
	}
	return v
}

func pollJS[T any](tb *tab, d time.Duration, js string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, d+5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Poll[T](js, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(d)))
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// statuses records the HTTP status of every response the tab receives
// (including those the page itself may not read: CORS-refused ones and
// preflights), from the DevTools network events. The events are read as
// JSON by their type's name: importing cdproto's network package would
// make it a direct requirement in go.mod.
type statuses struct {
	mu     sync.Mutex
	method map[string]string // request id -> method
	got    []string          // "METHOD URL STATUS"
}

func (tb *tab) recordStatuses() *statuses {
	tb.t.Helper()
	s := &statuses{method: map[string]string{}}
	err := chromedp.Listen(tb.ctx, func(ev any) {
		var e struct {
			RequestID string `json:"requestId"`
			Type      string `json:"type"`
			Request   struct {
				Method string `json:"method"`
			} `json:"request"`
			Response struct {
				URL    string  `json:"url"`
				Status float64 `json:"status"`
			} `json:"response"`
		}
		kind := fmt.Sprintf("%T", ev)
		if kind != "*network.EventRequestWillBeSent" && kind != "*network.EventResponseReceived" {
			return
		}
		raw, err := json.Marshal(ev)
		if err != nil || json.Unmarshal(raw, &e) != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if kind == "*network.EventRequestWillBeSent" {
			s.method[e.RequestID] = e.Request.Method
			return
		}
		m := s.method[e.RequestID]
		if e.Type == "Preflight" {
			m = "OPTIONS"
		}
		s.got = append(s.got, fmt.Sprintf("%s %s %d", m, e.Response.URL, int(e.Response.Status)))
	})
	if err != nil {
		tb.t.Fatal(err)
	}
	return s
}

func (s *statuses) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// audioProbeJS defines cradleTest.probe(source): a Web Audio analyser on a
// media element or MediaStream whose sample() returns the level (dB) at
// 440 Hz (the monitor's test tone) and at the alarm's 1000 and 1500 Hz, and
// cradleTest.watch(probe): a 10 ms sampler that keeps the wall-clock time
// (ms since the epoch) of the last sample that held the tone, and of the
// first that held the alarm.
const audioProbeJS = `window.cradleTest = window.cradleTest || {
  probe(source) {
    const ac = new AudioContext();
    const stream = source instanceof MediaStream;
    const src = stream ? ac.createMediaStreamSource(source) : ac.createMediaElementSource(source);
    const an = ac.createAnalyser();
    an.fftSize = 2048;
    an.smoothingTimeConstant = 0;
    src.connect(an);
    if (!stream) an.connect(ac.destination);
    const buf = new Float32Array(an.frequencyBinCount);
    const hz = ac.sampleRate / an.fftSize;
    const at = (f) => { let m = -Infinity; for (let k = Math.floor(f / hz) - 1; k <= Math.ceil(f / hz) + 1; k++) m = Math.max(m, buf[k]); return m; };
    return {
      ac,
      sample() {
        an.getFloatFrequencyData(buf);
        const tone = at(440), alarm = Math.max(at(1000), at(1500));
        return { tone, alarm, isTone: tone > -70 && tone > alarm + 12, isAlarm: alarm > -70 && alarm > tone + 12 };
      },
    };
  },
  watch(p) {
    const w = { lastTone: 0, firstAlarm: 0, tones: 0, alarms: 0, n: 0 };
    w.timer = setInterval(() => {
      const s = p.sample();
      w.n++;
      if (s.isTone) { w.lastTone = Date.now(); w.tones++; }
      if (s.isAlarm) { if (!w.firstAlarm) w.firstAlarm = Date.now(); w.alarms++; }
    }, 10);
    return w;
  },
};`
