package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/sys/unix"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// Night mode on a phone (issue 21): the page plays the night stream
// (MP3) in the background and raises the alarm itself, from audio that is
// already running, when it stops hearing the monitor.

// nightPagePort is the monitor's page port in the namespace tests: the
// relay on the host's loopback listens on the same port, so the page's
// Host header (127.0.0.1:port) names the monitor (its own loopback
// address, its port).
const nightPagePort = 48443

// dialIn dials addr from inside network namespace ns: the socket is made
// on a thread switched into ns, and stays there.
func dialIn(ns, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, err
	}
	c, dialErr := net.DialTimeout("tcp", addr, 5*time.Second)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		panic("cannot return to the test's network namespace: " + err.Error()) // the thread is unusable
	}
	return c, dialErr
}

// relayInto forwards connections to 127.0.0.1:port on the host to target
// inside namespace ns, byte for byte (TLS passes through). The link
// between the namespaces is the one iptables cuts or makes lossy.
func relayInto(t testing.TB, port int, ns, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Add(1)
	go func() { // stopped by the cleanup closing ln and the connections
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := dialIn(ns, target)
				if err != nil {
					return
				}
				defer u.Close()
				track(c, true)
				track(u, true)
				defer track(c, false)
				defer track(u, false)
				done := make(chan struct{}, 2)
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// playMarker plays 100 ms of 2500 Hz into the PulseAudio server: it
// marks an instant on the recording's own timeline.
func playMarker(t testing.TB, srv *pulsetest.Server) {
	t.Helper()
	pcm := make([]byte, 2*4800)
	for i := 0; i < 4800; i++ {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(28000*math.Sin(2*math.Pi*2500*float64(i)/48000))))
	}
	cmd := exec.Command("paplay", "--raw", "--rate=48000", "--channels=1", "--format=s16le", "--latency-msec=10")
	cmd.Env = append(os.Environ(), srv.Env()...)
	cmd.Stdin = bytes.NewReader(pcm)
	if err := cmd.Start(); err != nil {
		t.Fatalf("paplay: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // paplay ends after its 100 ms; the cleanup waits for it
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
}

// markerAt is the first 50 ms window of the recording holding the marker.
func markerAt(pcm []int16) int {
	n := int(pulsetest.Rate * window / time.Second)
	for i, k := 0, 0; i+n <= len(pcm); i, k = i+n, k+1 {
		w := pcm[i : i+n]
		alarm := max(pulsetest.Goertzel(w, pulsetest.Rate, 1000), pulsetest.Goertzel(w, pulsetest.Rate, 1500))
		if p := pulsetest.Goertzel(w, pulsetest.Rate, 2500); p > pulsetest.Goertzel(w, pulsetest.Rate, 440) && p > 4*alarm && pulsetest.RMS(w) > 0.01 {
			return k
		}
	}
	return -1
}

// stubTimersJS makes every timer callback of the page a no-op while
// window.cradleTimersStopped is true (the test's own included).
const stubTimersJS = `(() => {
  for (const name of ['setInterval', 'setTimeout']) {
    const orig = window[name];
    window[name] = (fn, ...rest) => orig((...a) => { if (!window.cradleTimersStopped) fn(...a); }, ...rest);
  }
})();`

// nightPhone pairs a phone (headful Chromium, its sound into srv) on the
// monitor's page at base, starts night mode and puts the page in the
// background behind another tab. It returns the page's tab and the
// monitor's id.
func nightPhone(t testing.TB, mon *monitor, base string, srv *pulsetest.Server, before ...string) (*tab, string) {
	t.Helper()
	mon.admin(t, "pair")
	code := mon.code(t)
	// Not openPhone: device emulation keeps a page visible behind
	// another tab.
	ph := newAudibleBrowser(t, startXvfb(t), srv.Env()).first()
	for _, js := range before {
		ctx, cancel := context.WithTimeout(ph.ctx, 5*time.Second)
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		cancel()
		if err != nil {
			t.Fatalf("a script before the page: %v", err)
		}
	}
	ph.do(20*time.Second, "the monitor's page", chromedp.Navigate(base+"/"), chromedp.WaitReady(`body`))
	installProbes(ph)
	pairPhone(ph, "Bedside phone", code)
	ph.do(20*time.Second, "the card online", chromedp.WaitVisible(`.card[data-state="online"]`))
	id := eval[string](ph, `document.querySelector('.card').dataset.monitor`)
	start := time.Now()
	ph.do(10*time.Second, "Night mode",
		chromedp.Click(card(id, ` button[data-action="night"]`)),
		chromedp.WaitVisible(card(id, `[data-state="listening"]`)),
	)
	t.Logf("night mode playing %v after the tap", time.Since(start).Round(time.Millisecond))
	// The background: a real tab opened by a click, in front of this one.
	eval[bool](ph, `(() => { const a = document.createElement('a'); a.id = 'bg'; a.href = '/style.css'; a.target = '_blank'; a.textContent = 'other tab'; a.style = 'display:block;font-size:40px'; document.body.prepend(a); window.cradleTest.gaps = []; let last = performance.now(); setInterval(() => { const n = performance.now(); window.cradleTest.gaps.push(Math.round(n - last)); last = n; }, 100); return true; })()`)
	ph.do(5*time.Second, "another tab in front", chromedp.Click(`#bg`))
	vis := waitJS[string](ph, 5*time.Second, "the page hidden", `document.visibilityState === 'hidden' ? document.visibilityState : ''`)
	t.Logf("document.visibilityState: %q", vis)
	return ph, id
}

// nightCut records the phone while cut() takes the monitor away for
// hold, then restore() brings it back: the recording holds the nursery's
// tone before, the alarm within 5 s of the cut, and the tone again after.
// It returns the alarm's onset after the cut.
func nightCut(t testing.TB, ph *tab, srv *pulsetest.Server, what string, cut, restore func(), offline bool, sourceStops ...bool) (onset, behind time.Duration) {
	t.Helper()
	rec := srv.StartRecording(t)
	time.Sleep(2500 * time.Millisecond) // the tone, recorded
	before := eval[[]int](ph, `window.cradleTest.gaps.slice(-8)`)
	playMarker(t, srv)
	cut()
	cutAt := time.Now()
	if offline {
		waitJS[bool](ph, 5*time.Second, "the card offline", `document.querySelector('.card [data-field="presence"]').textContent === 'Offline'`)
		d := time.Since(cutAt)
		if d > 3500*time.Millisecond {
			t.Errorf("%s: the card said Offline %v after the cut, want within 3.5 s", what, d)
		}
		t.Logf("%s: the card said Offline %v after the cut", what, d.Round(time.Millisecond))
	}
	time.Sleep(7*time.Second - time.Since(cutAt)) // the alarm, recorded
	gaps := eval[[]int](ph, `window.cradleTest.gaps.slice(-8)`)
	vis := eval[string](ph, `document.visibilityState`)
	alarmText := eval[string](ph, `document.querySelector('.card [data-field="alarm-text"]').textContent`)
	restore()
	time.Sleep(9 * time.Second) // the tone back, recorded
	pcm := rec.Stop()
	ws := classify(pcm)
	m := markerAt(pcm)
	t.Logf("%s: page %s; its 100 ms timer fired every %v ms before the cut, %v ms by 7 s into it (the last 8; Chrome does not throttle an audible page); card: %q", what, vis, before, gaps, alarmText)
	if m < 0 {
		t.Fatalf("%s: the marker is not in the recording:%s", what, summary(ws))
	}
	if n := count(ws, 0, m, tone); n < 20 {
		t.Fatalf("%s: %d windows of the nursery's tone before the cut, want at least 1 s:%s", what, n, summary(ws))
	}
	a := first(ws, m+4, alarmTone) // after the marker's 100 ms (and its fade)
	if a < 0 {
		t.Fatalf("%s: no alarm recorded after the cut:%s", what, summary(ws))
	}
	onset = time.Duration(a-m) * window
	// The nursery stopped at the cut: its last tone in the recording is
	// how far behind live the phone played (the buffer it had).
	last := m
	for i := m; i < a; i++ {
		if ws[i] == tone {
			last = i
		}
	}
	behind = time.Duration(last+1-m) * window
	if len(sourceStops) > 0 && !sourceStops[0] {
		// The monitor's sound still reached the phone for a moment after
		// the cut (its TCP sends until its first timeout): not a measure
		// of the phone's delay.
		t.Logf("%s: the tone played on %v after the cut", what, behind)
	} else if behind > 1500*time.Millisecond {
		t.Errorf("%s: the tone played on %v after the cut: the night stream is more than 1.5 s behind live", what, behind)
	}
	if len(sourceStops) == 0 || sourceStops[0] {
		t.Logf("%s: the phone played %v behind live (the tone's end after the cut, recorded)", what, behind)
	}
	if onset > 5*time.Second {
		t.Errorf("%s: the alarm sounded %v after the cut, want within 5 s:%s", what, onset, summary(ws))
	}
	if n := count(ws, a, min(a+40, len(ws)), alarmTone); n < 20 {
		t.Errorf("%s: the alarm sounded in %d of the 40 windows after its onset, want it repeating:%s", what, n, summary(ws))
	}
	back := count(ws, len(ws)-60, len(ws), tone)
	if back < 30 {
		t.Errorf("%s: the tone in %d of the last 60 windows after the cut ended, want it back:%s", what, back, summary(ws))
	}
	if n := count(ws, len(ws)-40, len(ws), alarmTone); n > 2 {
		t.Errorf("%s: the alarm still sounds at the end (%d of the last 40 windows)", what, n)
	}
	t.Logf("%s: the alarm sounded %v after the cut (recorded); tone back in %d of the last 60 windows; marker at window %d:%s", what, onset, back, m, summary(ws))
	t.Logf("%s: the page: %s", what, eval[string](ph, `JSON.stringify({night: !!window.cradleDebug.state.night, phase: (window.cradleDebug.state.listening.values().next().value || {}).phase, alarms: window.cradleDebug.nightAlarms, ahead: window.cradleDebug.night && window.cradleDebug.night.ahead, err: document.querySelector('audio[data-role="player"]').error && document.querySelector('audio[data-role="player"]').error.code, rs: document.querySelector('audio[data-role="player"]').readyState, paused: document.querySelector('audio[data-role="player"]').paused, ct: document.querySelector('audio[data-role="player"]').currentTime, ns: document.querySelector('audio[data-role="player"]').networkState, rate: document.querySelector('audio[data-role="player"]').playbackRate, muted: document.querySelector('audio[data-role="player"]').muted, tap: document.querySelector('.card').dataset.blocked, conn: document.querySelector('#connection').textContent})`))
	return onset, behind
}

// startPageMonitor starts cradled with its test sources on loopback and
// returns it and its page's address (https://127.0.0.1:PORT).
func startPageMonitor(t testing.TB) (*monitor, string) {
	t.Helper()
	mon := startMonitor(t, nil, filepath.Join(t.TempDir(), "monitor"), "127.0.0.1:0", "--media", "test", "--log-level", "info")
	_, line := mon.waitLine(0, phonePageRE, 20*time.Second)
	return mon, strings.TrimSuffix(phonePageRE.FindStringSubmatch(line)[1], "/")
}

// nightPhoneInNetns runs the monitor in a network namespace of the test's
// and a night-mode phone (nightPhone) that reaches it through relayInto:
// the namespaces' link is the one a test cuts or makes lossy.
func nightPhoneInNetns(t *testing.T) (*netns, *tab, *pulsetest.Server) {
	t.Helper()
	n := newNetns(t)
	mon := startMonitor(t, n.exec(n.mon), filepath.Join(t.TempDir(), "monitor"), n.monIP+":48080", "--media", "test", "--log-level", "info",
		"--page-listen", fmt.Sprintf(":%d", nightPagePort))
	mon.waitLine(0, phonePageRE, 20*time.Second)
	relayInto(t, nightPagePort, n.lis, fmt.Sprintf("%s:%d", n.monIP, nightPagePort))
	srv := pulsetest.Start(t)
	ph, _ := nightPhone(t, mon, fmt.Sprintf("https://127.0.0.1:%d", nightPagePort), srv)
	return n, ph, srv
}

// TestNightPhone: night mode on the monitor's own page in Chromium, the
// page hidden behind another tab: the phone plays the nursery; when the
// monitor freezes (SIGSTOP), and in a second run when its packets to the
// phone are dropped while it stays up, the phone sounds the alarm within
// 5 s, and the nursery comes back after the cut.
func TestNightPhone(t *testing.T) {
	needChromium(t)
	t.Run("frozen", func(t *testing.T) {
		mon, base := startPageMonitor(t)
		srv := pulsetest.Start(t)
		ph, _ := nightPhone(t, mon, base, srv)
		// Test the alarm, in night mode: it sounds through the graph the
		// real alarm uses, for about 3 s, over the nursery.
		rec := srv.StartRecording(t)
		eval[bool](ph, `document.querySelector('#test-alarm').click(); true`)
		time.Sleep(4 * time.Second) // a recording: nothing to wait for but its length
		ws := classify(rec.Stop())
		if n := count(ws, 0, len(ws), alarmTone); n < 40 || n > 70 {
			t.Fatalf("Test the alarm in night mode played the alarm for %d windows of %v, want about 3 s:%s", n, window, summary(ws))
		}
		if n := eval[int](ph, `window.cradleDebug.nightAlarms || 0`); n != 0 {
			t.Fatalf("Test the alarm counted as %d real alarms", n)
		}
		nightCut(t, ph, srv, "monitor frozen", func() { mon.signal(syscall.SIGSTOP) }, func() { mon.signal(syscall.SIGCONT) }, true)
	})
	t.Run("timers stopped", func(t *testing.T) {
		// The page's timers stopped at the cut (every setInterval and
		// setTimeout callback skipped: a page throttled to nothing; its
		// events still run, as on a locked phone that plays audio): the
		// alarm is on the audio clock and sounds all the same.
		mon, base := startPageMonitor(t)
		srv := pulsetest.Start(t)
		ph, _ := nightPhone(t, mon, base, srv, stubTimersJS)
		timers := func(on bool) { eval[bool](ph, fmt.Sprintf(`window.cradleTimersStopped = %v; true`, !on)) }
		nightCut(t, ph, srv, "monitor frozen, the page's timers stopped",
			func() { timers(false); mon.signal(syscall.SIGSTOP) },
			func() { timers(true); mon.signal(syscall.SIGCONT) }, false)
	})
	t.Run("dropped", func(t *testing.T) {
		n, ph, srv := nightPhoneInNetns(t)
		// One way, then the other: the monitor's packets to the phone
		// dropped (the monitor runs on), then the phone's to the monitor.
		toPhone := []string{"INPUT", "-s", n.monIP, "-p", "tcp", "--sport", fmt.Sprint(nightPagePort), "-j", "DROP"}
		nightCut(t, ph, srv, "the monitor's packets to the phone dropped",
			func() { sh(t, append(append(n.exec(n.lis), "iptables", "-A"), toPhone...)...) },
			func() { sh(t, append(append(n.exec(n.lis), "iptables", "-D"), toPhone...)...) }, true)
		toMonitor := []string{"INPUT", "-s", n.lisIP, "-p", "tcp", "--dport", fmt.Sprint(nightPagePort), "-j", "DROP"}
		nightCut(t, ph, srv, "the phone's packets to the monitor dropped",
			func() { sh(t, append(append(n.exec(n.mon), "iptables", "-A"), toMonitor...)...) },
			func() { sh(t, append(append(n.exec(n.mon), "iptables", "-D"), toMonitor...)...) }, true, false)
	})
}

// TestNightLossSoak: packets between the phone and the monitor lost at
// random, both ways (iptables in the test's namespaces): night mode plays
// on and raises no alarm. `make soak` (CRADLE_SOAK=1) runs the 10
// minutes at 10 %; `make test` 40 s at 5 %. At 10 % the audio stream's
// TCP retransmissions (it is not a thin stream: no linear timeouts) now
// and then stall it past the alarm's 3.5 s (one of four 40-s runs on
// 2026-12-07 stood still 3.6 s), which a test that must pass every time
// cannot sample; the soak's figure is what it measures.
func TestNightLossSoak(t *testing.T) {
	needChromium(t)
	d, loss := 40*time.Second, "0.05"
	if os.Getenv("CRADLE_SOAK") != "" {
		d, loss = 10*time.Minute, "0.1"
	}
	n, ph, _ := nightPhoneInNetns(t)
	id := eval[string](ph, `document.querySelector('.card').dataset.monitor`)
	lossy := [][]string{
		append(n.exec(n.lis), "iptables", "-A", "INPUT", "-s", n.monIP, "-p", "tcp", "-m", "statistic", "--mode", "random", "--probability", loss, "-j", "DROP"),
		append(n.exec(n.mon), "iptables", "-A", "INPUT", "-s", n.lisIP, "-p", "tcp", "-m", "statistic", "--mode", "random", "--probability", loss, "-j", "DROP"),
	}
	for _, r := range lossy {
		sh(t, r...)
	}
	// The page's own record: the longest time its stream's time stood
	// still, and the longest silence of its server.
	eval[bool](ph, `(() => { const T = window.cradleTest; T.maxStall = 0; T.maxSilent = 0; let lt = -1, ltAt = performance.now(); setInterval(() => { const n = window.cradleDebug.state.night; if (!n) return; const now = performance.now(); const p = document.querySelector('audio[data-role="player"]'); if (p.currentTime !== lt) { lt = p.currentTime; ltAt = now; } T.maxStall = Math.max(T.maxStall, now - ltAt); T.maxSilent = Math.max(T.maxSilent, now - n.heardAt); }, 100); return true; })()`)
	start := time.Now()
	for time.Since(start) < d {
		time.Sleep(min(10*time.Second, d-time.Since(start)))
		if a := eval[int](ph, `window.cradleDebug.nightAlarms || 0`); a > 0 {
			t.Fatalf("night mode raised %d alarm(s) %v into %s loss; the page: %s", a, time.Since(start).Round(time.Second), loss,
				eval[string](ph, `JSON.stringify({stall: window.cradleTest.maxStall, silent: window.cradleTest.maxSilent})`))
		}
	}
	st := eval[map[string]float64](ph, `({stall: window.cradleTest.maxStall, silent: window.cradleTest.maxSilent})`)
	if ls := eval[string](ph, cardJS(id)+`.dataset.listen`); ls != "playing" {
		t.Errorf("after %v of %s loss the card's listen is %q, want playing", d, loss, ls)
	}
	t.Logf("%v of %s loss both ways: no alarm; the stream's time stood still at most %.0f ms, the server was silent at most %.0f ms", d, loss, st["stall"], st["silent"])
}

// TestNightDashboard: night mode on `cradle dashboard`: the stream comes
// from the listener, whose alarm is inside it. The monitor frozen: the
// stream carries the listener's alarm and the card goes offline within
// 3.5 s. The dashboard itself frozen: the page's own alarm.
func TestNightDashboard(t *testing.T) {
	needChromium(t)
	r := newDashServer(t)
	srv := pulsetest.Start(t)
	ph := newAudibleBrowser(t, startXvfb(t), srv.Env()).first()
	ph.do(20*time.Second, "the dashboard", chromedp.Navigate(r.base+"/"), chromedp.WaitReady(`body`))
	installProbes(ph)
	ph.do(20*time.Second, "the card online", chromedp.WaitVisible(card(r.id, `[data-state="online"]`)))
	eval[bool](ph, `(() => { window.cradleTest.gaps = []; let last = performance.now(); setInterval(() => { const n = performance.now(); window.cradleTest.gaps.push(Math.round(n - last)); last = n; }, 100); return true; })()`)
	ph.do(10*time.Second, "Night mode",
		chromedp.Click(card(r.id, ` button[data-action="night"]`)),
		chromedp.WaitVisible(card(r.id, `[data-state="listening"]`)),
	)
	if src := eval[string](ph, `window.cradleDebug.players['`+r.id+`'].currentSrc`); !strings.Contains(src, "/night.mp3") {
		t.Fatalf("the dashboard's page plays %q, want the night stream", src)
	}
	nightCut(t, ph, srv, "the monitor frozen (the listener's alarm in the stream)",
		func() { r.mon.signal(syscall.SIGSTOP) }, func() { r.mon.signal(syscall.SIGCONT) }, true, false)
	ph.do(20*time.Second, "the card online again", chromedp.WaitVisible(card(r.id, `[data-state="listening"]`)))
	nightCut(t, ph, srv, "the dashboard frozen (the page's own alarm)",
		func() { r.dash.signal(syscall.SIGSTOP) }, func() { r.dash.signal(syscall.SIGCONT) }, false)
}
