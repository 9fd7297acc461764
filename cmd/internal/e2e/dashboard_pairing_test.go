package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardPairing drives "Add a phone" in chromium against the real
// cradled and cradle pair:
//   - Add a phone opens the monitor's pairing window: the card says so,
//     with the time left, and offers Stop pairing;
//   - a stranger's `cradle pair` with a wrong code puts the warning on
//     the card, prominently, while the window stays open;
//   - a second phone pairs with the right code: the window closes, and
//     the warning stays on the card, after a reload too;
//   - "That was me" hides the warning in this browser;
//   - the next window starts without wrong codes; Stop pairing closes it.
//
// With CRADLE_SCREENSHOTS=DIR set, it saves the card with the window open
// and the warning as DIR/dashboard-pairing.png (docs/screenshots holds the
// committed one).
func TestDashboardPairing(t *testing.T) {
	r := newDashRig(t)
	page := r.page
	id := r.id
	c := cardJS(id)
	// pairingJS reads what the card shows of pairing.
	pairingJS := `(() => { const c = ` + c + `; const f = (n) => c.querySelector('[data-field="' + n + '"]'); const b = (a) => c.querySelector('button[data-action="' + a + '"]');
  return { pairing: c.dataset.pairing, failed: c.dataset.failedAttempts, closed: c.dataset.pairingClosed || '',
    open: f('pairing-open').checkVisibility() ? f('pairing-open').textContent : '',
    warning: f('pairing-warning').checkVisibility() ? f('pairing-warning-text').textContent : '',
    more: f('pairing-warning-more').textContent,
    add: b('open-pairing').checkVisibility() && !b('open-pairing').disabled, stop: b('close-pairing').checkVisibility() && !b('close-pairing').disabled }; })()`
	type shown struct {
		Pairing string `json:"pairing"`
		Failed  string `json:"failed"`
		Closed  string `json:"closed"`
		Open    string `json:"open"`
		Warning string `json:"warning"`
		More    string `json:"more"`
		Add     bool   `json:"add"`
		Stop    bool   `json:"stop"`
	}
	// waitShown waits for the card to match sel (its data attributes) and
	// returns what it shows.
	waitShown := func(what, sel string) shown {
		t.Helper()
		page.do(15*time.Second, what, chromedp.WaitVisible(card(id, sel)))
		return eval[shown](page, pairingJS)
	}
	const warning = "1 wrong setup code was tried. If that was not you, someone on your Wi-Fi may be guessing the code."
	openRE := regexp.MustCompile(`^Pairing open — [23]:[0-5]\d left: pair the new phone with the code on the monitor's card\.$`)

	page.do(20*time.Second, "the card online",
		chromedp.Navigate(r.base+"/"),
		chromedp.WaitVisible(card(id, `[data-state="online"]`)),
	)
	if got := eval[shown](page, pairingJS); got.Pairing != "closed" || got.Failed != "0" || got.Open != "" || got.Warning != "" || !got.Add || got.Stop {
		t.Fatalf("before Add a phone: %+v, want closed, no warning, Add a phone offered", got)
	}

	// Add a phone.
	page.do(10*time.Second, "Add a phone", chromedp.Click(card(id, ` button[data-action="open-pairing"]`)))
	got := waitShown("the card showing pairing open", `[data-pairing="open"]`)
	t.Logf("window open: %q", got.Open)
	if !openRE.MatchString(got.Open) || got.Failed != "0" || got.Warning != "" || got.Add || !got.Stop {
		t.Fatalf("after Add a phone: %+v, want %q, Stop pairing offered, no warning", got, openRE)
	}

	// A stranger tries a wrong code.
	code := r.mon.code(t)
	stranger := []string{"--state-dir", filepath.Join(r.dir, "stranger")}
	if _, errs, rc := run(t, nil, "cradle", append(stranger, "pair", r.mon.addr, "--code", wrongSetupCode(t, code))...); rc == 0 {
		t.Fatal("a wrong code paired")
	} else {
		t.Logf("stranger: exit %d: %s", rc, strings.TrimSpace(errs))
	}
	got = waitShown("the warning of 1 wrong code", `[data-failed-attempts="1"]`)
	t.Logf("warning: %q %q", got.Warning, got.More)
	if got.Warning != warning || got.Pairing != "open" || !strings.Contains(got.More, "Stop pairing") {
		t.Fatalf("after a wrong code: %+v, want the warning %q while the window stays open", got, warning)
	}
	if role := eval[string](page, c+`.querySelector('[data-field="pairing-warning"]').getAttribute('role')`); role != "alert" {
		t.Errorf("the warning's role %q, want alert (read out at once)", role)
	}
	if toast := eval[string](page, `[...document.querySelectorAll('#toasts .toast')].map((t) => t.textContent).join(' | ')`); !strings.Contains(toast, warning) {
		t.Errorf("toasts %q: want the warning there too", toast)
	}
	shotPairing(t, r)

	// The new phone pairs with the right code: the window closes, the
	// warning stays.
	out := mustRun(t, nil, "cradle", "--state-dir", filepath.Join(r.dir, "phone2"), "pair", r.mon.addr, "--code", code)
	t.Logf("second phone: %s", strings.TrimSpace(out))
	got = waitShown("the window closed by the pairing", `[data-pairing="closed"][data-pairing-closed="success"]`)
	if got.Warning != warning || got.Failed != "1" || got.Open != "" || !got.Add || got.Stop {
		t.Fatalf("after the second phone paired: %+v, want closed, the warning kept, Add a phone offered", got)
	}
	page.do(20*time.Second, "reload", chromedp.Reload(), chromedp.WaitVisible(card(id, `[data-state="online"]`)))
	got = waitShown("the warning after a reload", `[data-failed-attempts="1"]`)
	if got.Warning != warning || got.Pairing != "closed" {
		t.Fatalf("after a reload: %+v, want the warning kept", got)
	}

	// "That was me" hides it in this browser, for good.
	page.do(10*time.Second, "That was me", chromedp.Click(card(id, ` button[data-action="dismiss-warning"]`)))
	waitJS[bool](page, 5*time.Second, "the warning hidden", `!`+c+`.querySelector('[data-field="pairing-warning"]').checkVisibility()`)
	page.do(20*time.Second, "reload", chromedp.Reload(), chromedp.WaitVisible(card(id, `[data-state="online"][data-failed-attempts="1"]`)))
	if got = eval[shown](page, pairingJS); got.Warning != "" {
		t.Fatalf("after That was me and a reload: %+v, want the warning hidden", got)
	}

	// The next window starts without wrong codes; Stop pairing closes it.
	page.do(10*time.Second, "Add a phone again", chromedp.Click(card(id, ` button[data-action="open-pairing"]`)))
	got = waitShown("a new window", `[data-pairing="open"][data-failed-attempts="0"]`)
	if got.Warning != "" || !got.Stop {
		t.Fatalf("a new window: %+v, want no warning, Stop pairing offered", got)
	}
	page.do(10*time.Second, "Stop pairing", chromedp.Click(card(id, ` button[data-action="close-pairing"]`)))
	got = waitShown("the window closed by Stop pairing", `[data-pairing="closed"][data-pairing-closed="manual"]`)
	if got.Open != "" || !got.Add || got.Warning != "" {
		t.Fatalf("after Stop pairing: %+v, want closed, Add a phone offered", got)
	}
	// The monitor agrees: a phone cannot pair now.
	if _, errs, rc := run(t, nil, "cradle", "--state-dir", filepath.Join(r.dir, "phone3"), "pair", r.mon.addr, "--code", code); rc == 0 || !strings.Contains(errs, "closed") {
		t.Fatalf("pairing after Stop pairing: exit %d, %s; want refused, the window closed", rc, errs)
	}
}

// shotPairing saves the page at desktop width, the monitor's card in
// view, as $CRADLE_SCREENSHOTS/dashboard-pairing.png.
func shotPairing(t *testing.T, r *dashRig) {
	t.Helper()
	dir := os.Getenv("CRADLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	r.page.do(10*time.Second, "resize for a screenshot", chromedp.EmulateViewport(1280, 800))
	// The toasts (the warning's, a noise's) would cover the card.
	eval[chromedp.Void](r.page, `document.querySelector('#toasts').hidden = true; window.scrollTo(0, 0); new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok())))`)
	png, err := chromedp.Run(r.page.ctx, chromedp.CaptureScreenshot())
	eval[chromedp.Void](r.page, `document.querySelector('#toasts').hidden = false`)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, "dashboard-pairing.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d KB)", path, len(png)/1024)
}
