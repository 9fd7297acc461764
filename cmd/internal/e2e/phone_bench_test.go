package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cradle-monitor/cradle/appliance/page/pagetest"
)

// BenchmarkPhonePage measures the monitor's own page with the real
// cradled:
//   - tap: in a phone-size chromium paired on the page, tap Listen to the
//     first audio decoded in the page (inbound audio samples that are not
//     concealment), straight from the monitor, over 10 taps, each from a
//     stopped stream. Goal: median at most 100 ms.
//   - phones-4: cradled's CPU (percent of one core) and resident memory
//     over 10 s while 4 phones listen (Go WebRTC peers paired on the page
//     as phones are, each answered by the monitor). Goal: RSS at most
//     60 MB.
//
// The peak RSS under a hostile HTTP flood is TestPageFlood's (make test).
func BenchmarkPhonePage(b *testing.B) {
	dir := b.TempDir()
	mon := startMonitor(b, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0", "--media", "test", "--log-level", "warn")
	_, line := mon.waitLine(0, phonePageRE, 20*time.Second)
	base := strings.TrimSuffix(phonePageRE.FindStringSubmatch(line)[1], "/")
	code := mon.code(b)

	b.Run("tap", func(b *testing.B) {
		needChromium(b)
		tb := newBrowser(b).first()
		tb.do(20*time.Second, "the page", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitReady(`body`))
		installProbes(tb)
		mon.admin(b, "pair")
		pairPhone(tb, "Bench phone", code)
		tb.do(20*time.Second, "online", chromedp.WaitVisible(`.card[data-state="online"]`))
		id := eval[string](tb, `document.querySelector('.card').dataset.monitor`)
		var decoded []float64
		for range 10 {
			got := eval[float64](tb, `(async () => {
  const id = '`+id+`';
  const t0 = performance.now();
  `+cardJS(id)+`.querySelector('[data-action="listen"]').click();
  for (;;) {
    const s = await window.cradleTest.audioStats(id);
    const now = performance.now() - t0;
    if (s && s.samples - s.concealed > 0) return now;
    if (now > 10000) return -1;
    await new Promise((ok) => setTimeout(ok, 2));
  }
})()`)
			if got < 0 {
				b.Fatal("no audio within 10 s of Listen")
			}
			decoded = append(decoded, got)
			tb.do(10*time.Second, "Stop", chromedp.Click(card(id, ` button[data-action="stop"]`)), chromedp.WaitVisible(card(id, `[data-state="online"]`)))
		}
		b.Logf("tap to first decoded audio %v ms", decoded)
		b.ReportMetric(median(decoded), "audio-ms")
		b.ReportMetric(slices.Max(decoded), "audio-max-ms")
	})

	b.Run("phones-4", func(b *testing.B) {
		for i := range 4 {
			mon.admin(b, "pair")
			ph := newPhoneClient(b, fmt.Sprintf("127.0.0.%d", 20+i))
			if st := ph.post(base+"/api/devices/pair", fmt.Sprintf(`{"name":"Phone %d","code":"%s"}`, i, code), base); st != http.StatusOK {
				b.Fatalf("pairing phone %d: %d", i, st)
			}
			goPhoneListen(b, ph, base)
		}
		time.Sleep(2 * time.Second) // streams up, capture warm
		reportProcess(b, mon.cmd.Process.Pid, 10*time.Second)
	})
}

var helloTabRE = regexp.MustCompile(`"type":"hello","tab":"([0-9a-f]+)"`)

// goPhoneListen makes a paired phone's page listen over WebRTC, as the
// page does: its event stream (for its tab), listen, its offer answered
// by the monitor; it returns once audio arrives. The test's cleanup ends
// it.
func goPhoneListen(b testing.TB, ph *phoneClient, base string) {
	b.Helper()
	_, ev := pagetest.Stream(b, ph.long(), base+"/api/events")
	snap, ok := pagetest.ReadThrough(ev, 10*time.Second, `"type":"snapshot"`)
	if !ok {
		b.Fatalf("no snapshot on the event stream: %q", snap)
	}
	var id string
	if m := regexp.MustCompile(`"monitors":\[\{"id":"([^"]+)"`).FindStringSubmatch(snap); m != nil {
		id = m[1]
	}
	hello := helloTabRE.FindStringSubmatch(snap)
	if id == "" || hello == nil {
		b.Fatalf("no tab or monitor in %q", snap)
	}
	tab := hello[1]
	rx := pagetest.NewReceiver(b)
	if st := ph.post(base+"/api/monitors/"+id+"/listen", `{"tab":"`+tab+`"}`, base); st != http.StatusOK {
		b.Fatalf("listen: %d", st)
	}
	body, _ := json.Marshal(map[string]string{"tab": tab, "sdp": rx.Offer()})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/api/monitors/"+id+"/offer", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	resp, err := ph.c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("offer: %v %v", err, resp)
	}
	var ans struct{ SDP string }
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := rx.Answer(ans.SDP); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rx.Packets() < 10 {
		if time.Now().After(deadline) {
			b.Fatal("no audio from the monitor within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
