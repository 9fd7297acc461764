package page

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// TestPairingView: the monitor's pairing states, as the session reports
// them, become the card's pairing view and a pairing event for every tab;
// the wrong codes of a window stay after it closes, until the next window
// opens; a snapshot counts the remaining time down.
func TestPairingView(t *testing.T) {
	h := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 1)
	e := &monEntry{mon: listener.PairedMonitor{DeviceID: "AAAAAAA"}}
	h.mons["AAAAAAA"] = e
	h.order = []string{"AAAAAAA"}
	c := testTab(t, h)
	t0 := time.Now().Add(-45 * time.Second) // the events are in the past: their windows still run
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type want struct {
		open        bool
		failed      int
		lastFailure time.Time // zero: none
		closed      string
	}
	for i, step := range []struct {
		at   int // seconds after t0
		st   control.PairingState
		want want
	}{
		{0, control.PairingState{Open: true, RemainingMillis: 180_000}, want{open: true}},
		{10, control.PairingState{Open: true, RemainingMillis: 170_000, FailedAttempts: 1}, want{open: true, failed: 1, lastFailure: at(10)}},
		{11, control.PairingState{Open: true, RemainingMillis: 169_000, FailedAttempts: 1}, want{open: true, failed: 1, lastFailure: at(10)}}, // the same count again
		{12, control.PairingState{Open: true, RemainingMillis: 168_000, FailedAttempts: 3}, want{open: true, failed: 3, lastFailure: at(12)}},
		{20, control.PairingState{FailedAttempts: 3, Closed: control.PairingClosedSuccess}, want{failed: 3, lastFailure: at(12), closed: "success"}}, // kept after the window
		{30, control.PairingState{Open: true, RemainingMillis: 180_000}, want{open: true}},                                                           // a new window clears it
		{40, control.PairingState{FailedAttempts: 20, Closed: control.PairingClosedFailures}, want{failed: 20, lastFailure: at(40), closed: "too-many-failures"}},
	} {
		h.onEvent(e, listener.PairingEvent{Monitor: e.mon, State: step.st, At: at(step.at)})
		if c.sub.Len() != 1 {
			t.Fatalf("step %d: %d events, want 1 pairing event", i, c.sub.Len())
		}
		var ev event
		if err := json.Unmarshal(nextMsg(t, c), &ev); err != nil {
			t.Fatal(err)
		}
		p := ev.Pairing
		if ev.Type != "pairing" || ev.Monitor != "AAAAAAA" || p == nil {
			t.Fatalf("step %d: event %+v, want a pairing event for the monitor", i, ev)
		}
		var lf time.Time
		if p.LastFailure != nil {
			lf = *p.LastFailure
		}
		got := want{open: p.Open, failed: p.FailedAttempts, lastFailure: lf, closed: p.Closed}
		if !got.lastFailure.Equal(step.want.lastFailure) || got.open != step.want.open || got.failed != step.want.failed || got.closed != step.want.closed {
			t.Fatalf("step %d (%+v): view %+v, want %+v", i, step.st, got, step.want)
		}
		if p.Open && (p.RemainingMillis <= 0 || p.RemainingMillis > step.st.RemainingMillis) {
			t.Fatalf("step %d: remaining %d ms, want up to %d", i, p.RemainingMillis, step.st.RemainingMillis)
		}
		if !p.Open && p.RemainingMillis != 0 {
			t.Fatalf("step %d: closed with %d ms remaining", i, p.RemainingMillis)
		}
	}
	// A tab that joins later gets the warning in its snapshot; the
	// remaining time counts down from when the monitor said it.
	h.onEvent(e, listener.PairingEvent{Monitor: e.mon, State: control.PairingState{Open: true, RemainingMillis: 60_000, FailedAttempts: 2}, At: time.Now().Add(-20 * time.Second)})
	h.mu.Lock()
	snap := h.snapshotLocked(nil)
	h.mu.Unlock()
	p := snap.Monitors[0].Pairing
	if p == nil || !p.Open || p.FailedAttempts != 2 || p.LastFailure == nil || p.RemainingMillis > 40_000 || p.RemainingMillis < 30_000 {
		t.Fatalf("snapshot's pairing %+v, want open, 2 wrong codes, about 40 s left", p)
	}
}

// TestPairingAPI: Add a phone and Stop pairing on a real monitor: the
// page's POSTs open and close the window; a stranger's wrong setup code
// reaches every tab as a pairing event and stays in a new tab's snapshot;
// a new window clears it; errors are problems for a parent.
func TestPairingAPI(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l}, true)
	s := ts.events(t)
	s.until(10*time.Second, "online", func(ev event) bool {
		if ev.Type == "snapshot" && len(ev.Monitors) == 1 {
			return ev.Monitors[0].Presence == "online"
		}
		return ev.Type == "presence" && ev.Monitor == m.DeviceID && ev.Presence == "online"
	})
	post := func(what string, wantStatus int) (pairingView, Problem) {
		t.Helper()
		resp := ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/pairing/"+what, "{}", "Origin", "http://"+ts.host)
		if resp.StatusCode != wantStatus {
			t.Fatalf("pairing/%s: %s, want %d: %s", what, resp.Status, wantStatus, bodyOf(resp))
		}
		if wantStatus != http.StatusOK {
			return pairingView{}, problemOf(t, resp)
		}
		var body struct {
			Pairing *pairingView `json:"pairing"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Pairing == nil {
			t.Fatalf("pairing/%s: body %+v (%v), want a pairing state", what, body, err)
		}
		return *body.Pairing, Problem{}
	}
	pairingEvent := func(what string, match func(p *pairingView) bool) *pairingView {
		t.Helper()
		return s.until(10*time.Second, what, func(ev event) bool {
			return ev.Type == "pairing" && ev.Monitor == m.DeviceID && match(ev.Pairing)
		}).Pairing
	}

	p, _ := post("open", http.StatusOK)
	if !p.Open || p.RemainingMillis <= 0 || p.RemainingMillis > (3*time.Minute).Milliseconds() || p.FailedAttempts != 0 {
		t.Fatalf("Add a phone: %+v, want open for the default 3 minutes, no wrong codes", p)
	}
	pairingEvent("the window open", func(p *pairingView) bool { return p.Open })

	// A stranger on the network tries a wrong code.
	stranger, _ := newListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := stranger.Pair(ctx, listener.PairRequest{Target: mon.Addr().String(), Code: pairing.Code(wrongCode(t, mon.SetupCode()))})
	if err == nil {
		t.Fatal("a wrong code paired")
	}
	w := pairingEvent("the wrong code", func(p *pairingView) bool { return p.FailedAttempts == 1 })
	if !w.Open || w.LastFailure == nil {
		t.Fatalf("after a wrong code: %+v, want still open, with the time of the wrong code", w)
	}
	snap := ts.events(t).until(5*time.Second, "snapshot", func(ev event) bool { return ev.Type == "snapshot" })
	if sp := snap.Monitors[0].Pairing; sp == nil || !sp.Open || sp.FailedAttempts != 1 || sp.RemainingMillis <= 0 {
		t.Fatalf("a new tab's snapshot: pairing %+v, want open with 1 wrong code", sp)
	}

	p, _ = post("close", http.StatusOK)
	if p.Open || p.FailedAttempts != 1 {
		t.Fatalf("Stop pairing: %+v, want closed, the wrong code kept", p)
	}
	pairingEvent("the window closed", func(p *pairingView) bool {
		return !p.Open && p.FailedAttempts == 1 && p.Closed == control.PairingClosedManual
	})
	if p, _ = post("close", http.StatusOK); p.Open { // closing a closed window is fine
		t.Fatalf("Stop pairing twice: %+v", p)
	}
	// A dashboard started now (the computer restarted) hears of the
	// last window's wrong code as soon as its session connects.
	ts2 := startServer(t, Options{Listener: l}, true)
	s2 := ts2.events(t)
	s2.until(10*time.Second, "the wrong code, in a new dashboard", func(ev event) bool {
		if ev.Type == "snapshot" && len(ev.Monitors) == 1 && ev.Monitors[0].Pairing != nil {
			return ev.Monitors[0].Pairing.FailedAttempts == 1
		}
		return ev.Type == "pairing" && ev.Pairing.FailedAttempts == 1 && !ev.Pairing.Open
	})

	// The next window starts without wrong codes; the stranger's second try
	// is counted in it; the right code pairs and closes it.
	post("open", http.StatusOK)
	pairingEvent("a new window, without wrong codes", func(p *pairingView) bool { return p.Open && p.FailedAttempts == 0 })
	if _, err := stranger.Pair(ctx, listener.PairRequest{Target: mon.Addr().String(), Code: mon.SetupCode()}); err != nil {
		t.Fatalf("pairing a second listener: %v", err)
	}
	pairingEvent("the window closed by the pairing", func(p *pairingView) bool {
		return !p.Open && p.Closed == control.PairingClosedSuccess && p.FailedAttempts == 0
	})

	// Errors.
	resp := ts.request(t, "POST", "/api/monitors/NOSUCH1/pairing/open", "{}")
	if pr := problemOf(t, resp); resp.StatusCode != http.StatusNotFound || pr.Code != "unknown_monitor" {
		t.Fatalf("unknown monitor: %s %+v, want 404 unknown_monitor", resp.Status, pr)
	}
	resp = ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/pairing/open", `{"minutes":15}`)
	if pr := problemOf(t, resp); resp.StatusCode != http.StatusBadRequest || pr.Code != "bad_request" {
		t.Fatalf("unknown field: %s %+v, want 400 bad_request", resp.Status, pr)
	}
	if resp := ts.request(t, "GET", "/api/monitors/"+m.DeviceID+"/pairing/open", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET pairing/open: %s, want 404 (a state change by GET is not served)", resp.Status)
	}
	mon.Close()
	s.until(15*time.Second, "offline", func(ev event) bool {
		return ev.Type == "presence" && ev.Monitor == m.DeviceID && ev.Presence != "online"
	})
	_, pr := post("open", http.StatusServiceUnavailable)
	if pr.Code != "offline" || pr.Action == "" {
		t.Fatalf("Add a phone, monitor offline: %+v, want offline with advice", pr)
	}
	t.Logf("offline: %s %s", pr.Message, pr.Action)
}

// TestPairingAPIGuard: the new POSTs pass the guard like every other: no
// foreign origin, JSON only, the token beyond loopback.
func TestPairingAPIGuard(t *testing.T) {
	l, dir := newListener(t)
	ts := startServer(t, Options{Listener: l, StateDir: dir}, false)
	cookie := ts.signIn(t)
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"no token", []string{"Origin", "http://" + ts.host}, http.StatusUnauthorized},
		{"foreign origin", []string{"Cookie", cookie, "Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site", []string{"Cookie", cookie, "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a form", []string{"Cookie", cookie, "Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"the page", []string{"Cookie", cookie, "Origin", "http://" + ts.host}, http.StatusNotFound}, // through the guard: no such monitor
	} {
		for _, what := range []string{"open", "close"} {
			resp := ts.request(t, "POST", "/api/monitors/NOSUCH1/pairing/"+what, "{}", tc.hdr...)
			if resp.StatusCode != tc.want {
				t.Errorf("%s, pairing/%s: %s, want %d: %s", tc.name, what, resp.Status, tc.want, bodyOf(resp))
			}
		}
	}
}

// TestPairingProblems: the errors Add a phone and Stop pairing can meet
// are problems with advice for a parent.
func TestPairingProblems(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{listener.ErrOffline, "offline", http.StatusServiceUnavailable},
		{fmt.Errorf("ask: %w", listener.ErrOffline), "offline", http.StatusServiceUnavailable},
		{&control.Error{Code: control.CodeBadRequest, Remote: true, Message: "pairing: duration"}, "refused", http.StatusConflict},
		{&control.Error{Code: control.CodeUntrusted, Remote: true}, "not_paired", http.StatusForbidden},
		{&control.Error{Code: control.CodePairingLocked, Remote: true}, "too_many_attempts", http.StatusLocked},
		{context.DeadlineExceeded, "unreachable", http.StatusGatewayTimeout},
	} {
		p := problemFor(tc.err)
		if p.Code != tc.code || p.status != tc.status || p.Message == "" || p.Action == "" {
			t.Errorf("%v: %+v (status %d), want %s %d with advice", tc.err, p, p.status, tc.code, tc.status)
		}
	}
}
