package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The card says "listening" only while sound really plays. These helpers
// catch the moment the card first says so and record what its player did
// at that moment, in the same task as the change (a MutationObserver), so
// a card that says listening on the click, before anything plays, is
// caught however fast the sound follows.

// firstListeningJS, called with a monitor's id, defines cradleTest.first: filled when the card's
// data-state first becomes "listening", with the player's state then.
const firstListeningJS = `((ID) => {
  const c = document.querySelector('.card[data-monitor="' + ID + '"]');
  const p = window.cradleDebug.players[ID];
  const rec = { seen: false, t: 0, paused: true, muted: true, status: '', phases: [] };
  window.cradleTest = window.cradleTest || {};
  window.cradleTest.first = rec;
  const obs = new MutationObserver(() => {
    if (c.dataset.listen && rec.phases[rec.phases.length - 1] !== c.dataset.listen) rec.phases.push(c.dataset.listen);
    if (c.dataset.state === 'listening' && !rec.seen) {
      Object.assign(rec, { seen: true, t: p.currentTime, paused: p.paused, muted: p.muted });
      rec.status = c.querySelector('[data-field="listen-status"]').textContent;
    }
  });
  obs.observe(c, { attributes: true, subtree: true, childList: true, characterData: true });
  window.cradleTest.firstObs = obs;
})`

type firstListening struct {
	Seen   bool     `json:"seen"`
	T      float64  `json:"t"`
	Paused bool     `json:"paused"`
	Muted  bool     `json:"muted"`
	Status string   `json:"status"`
	Phases []string `json:"phases"`
}

func watchFirstListening(tb *tab, id string) {
	tb.t.Helper()
	eval[chromedp.Void](tb, firstListeningJS+`('`+id+`')`)
}

// checkFirstListening fails unless, when the card first said listening,
// its player played unmuted and its time had advanced.
func checkFirstListening(t *testing.T, tb *tab) firstListening {
	t.Helper()
	f := eval[firstListening](tb, `(() => { window.cradleTest.firstObs.disconnect(); return window.cradleTest.first; })()`)
	t.Logf("the card first said listening with the player at %.2f s (paused %v, muted %v), status %q, phases %v", f.T, f.Paused, f.Muted, f.Status, f.Phases)
	if f.early() {
		t.Fatalf("the card said listening before sound played: %+v", f)
	}
	return f
}

// early says whether the card said listening (or never did) before its
// player played unmuted with its time past 0, or with a status other
// than a Listening one.
func (f firstListening) early() bool {
	return !f.Seen || f.Paused || f.Muted || f.T <= 0 || !strings.HasPrefix(f.Status, "Listening")
}

// listenWithoutWebRTC removes RTCPeerConnection from the page, as Debian's
// WebKit lacks it, presses Listen and checks the fallback: the continuous
// stream plays in the card's player, the card says listening only once
// its time advanced, no raw exception shows; then Stop, and restores
// RTCPeerConnection.
func listenWithoutWebRTC(t *testing.T, tb *tab, id string) {
	t.Helper()
	eval[chromedp.Void](tb, `window.cradleTest.savedRTC = window.RTCPeerConnection; window.RTCPeerConnection = undefined`)
	defer eval[chromedp.Void](tb, `window.RTCPeerConnection = window.cradleTest.savedRTC`)
	watchFirstListening(tb, id)
	start := time.Now()
	tb.do(20*time.Second, "Listen without WebRTC",
		chromedp.Click(card(id, ` button[data-action="listen"]`)),
		chromedp.WaitVisible(card(id, `[data-state="listening"]`)),
	)
	t.Logf("listening (continuous stream) %v after the click", time.Since(start).Round(time.Millisecond))
	f := checkFirstListening(t, tb)
	if f.Status != "Listening (continuous stream, a few seconds behind)." {
		t.Errorf("status %q, want the continuous stream's", f.Status)
	}
	src := eval[string](tb, `window.cradleDebug.players['`+id+`'].currentSrc`)
	if want := "/api/monitors/" + id + "/audio.ogg"; !strings.Contains(src, want) {
		t.Fatalf("player plays %q, want the stream %s", src, want)
	}
	t0 := eval[float64](tb, `window.cradleDebug.players['`+id+`'].currentTime`)
	waitJS[bool](tb, 5*time.Second, "the stream's time advancing 1.5 s",
		`window.cradleDebug.players['`+id+`'].currentTime > `+strconv.FormatFloat(t0+1.5, 'f', 3, 64))
	if raw := eval[string](tb, cardJS(id)+`.textContent`); rawException(raw) {
		t.Fatalf("the card shows a raw exception: %q", raw)
	}
	tb.do(10*time.Second, "Stop",
		chromedp.Click(card(id, ` button[data-action="stop"]`)),
		chromedp.WaitVisible(card(id, `[data-state="online"]`)),
	)
}

// rawException says whether a page's text holds what a browser's
// exception looks like rather than a sentence for a parent.
func rawException(text string) bool {
	for _, s := range []string{"RTCPeerConnection", "Can't find variable", "is not defined", "undefined", "TypeError", "Error:", "DOMException", "NotAllowedError", "NotSupportedError"} {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}
