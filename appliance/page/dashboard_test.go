package page

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// TestGuardLoopback: on loopback no token is needed, but the Host and
// Origin checks hold, and state changes are JSON POSTs only.
func TestGuardLoopback(t *testing.T) {
	l, _ := newListener(t)
	ts := startServer(t, Options{Listener: l}, true)
	port := ts.guard.Port
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		hdr          []string
		want         int
	}{
		{"page", "GET", "/", "", nil, 200},
		{"api without token", "GET", "/api/monitors", "", nil, 200},
		{"localhost name", "GET", "/api/monitors", "", []string{"Host", "localhost:" + port}, 200},
		{"foreign host (DNS rebinding)", "GET", "/api/monitors", "", []string{"Host", "evil.example:" + port}, http.StatusMisdirectedRequest},
		{"foreign host, page", "GET", "/", "", []string{"Host", "evil.example:" + port}, http.StatusMisdirectedRequest},
		{"other port", "GET", "/api/monitors", "", []string{"Host", "127.0.0.1:1"}, http.StatusMisdirectedRequest},
		{"no port", "GET", "/api/monitors", "", []string{"Host", "127.0.0.1"}, http.StatusMisdirectedRequest},
		{"own origin", "POST", "/api/monitors/NOSUCH1/ack", "{}", []string{"Origin", "http://" + ts.host}, http.StatusNotFound},
		{"foreign origin", "POST", "/api/monitors/NOSUCH1/ack", "{}", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", "POST", "/api/monitors/NOSUCH1/ack", "{}", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"foreign origin, events", "GET", "/api/events", "", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site audio stream (an <audio src> elsewhere)", "GET", "/api/monitors/NOSUCH1/audio.ogg", "", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"cross-site read", "GET", "/api/monitors", "", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"form post", "POST", "/api/monitors/NOSUCH1/ack", "{}", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"state change by GET is not served", "GET", "/api/pair", "", nil, http.StatusNotFound},
		{"state change by PUT", "PUT", "/api/monitors/NOSUCH1/ack", "{}", []string{"Content-Type", "application/json"}, http.StatusMethodNotAllowed},
		{"unknown field", "POST", "/api/pair", `{"evil":1}`, nil, http.StatusBadRequest},
		{"alarm sound", "GET", "/alarm.wav", "", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := ts.request(t, tc.method, tc.path, tc.body, tc.hdr...)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %s, want %d: %s", tc.method, tc.path, resp.Status, tc.want, bodyOf(resp))
			}
		})
	}
}

// bodyOf reads a response's body for a failure message, but not an event
// stream's, which never ends.
func bodyOf(resp *http.Response) string {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return "(an event stream)"
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return string(b)
}

// TestGuardToken: beyond loopback every API call needs the token's
// cookie, which /api/session sets for the right token only; a foreign
// Origin is refused even with the cookie.
func TestGuardToken(t *testing.T) {
	l, dir := newListener(t)
	ts := startServer(t, Options{Listener: l, StateDir: dir}, false)
	tok := ts.access.token
	if len(tok) != 2*tokenBytes {
		t.Fatalf("token %q: want %d hex digits", tok, 2*tokenBytes)
	}
	check := func(name string, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			t.Errorf("%s: %s, want %d: %s", name, resp.Status, want, bodyOf(resp))
		}
	}
	check("page without token", ts.request(t, "GET", "/", ""), 200)
	check("api without token", ts.request(t, "GET", "/api/monitors", ""), 401)
	check("events without token", ts.request(t, "GET", "/api/events", ""), 401)
	check("pair without token", ts.request(t, "POST", "/api/pair", `{"code":"1234-5678","target":"127.0.0.1:9"}`), 401)
	check("api with a wrong cookie", ts.request(t, "GET", "/api/monitors", "", "Cookie", cookieName+"="+strings.Repeat("0", 32)), 401)
	check("api with the token in a header", ts.request(t, "GET", "/api/monitors", "", "Authorization", "Bearer "+tok), 401)
	check("sign in with a wrong token", ts.request(t, "POST", "/api/session", `{"token":"00112233445566778899aabbccddeeff"}`), 401)
	check("sign in from another site", ts.request(t, "POST", "/api/session", `{"token":"`+tok+`"}`, "Origin", "http://evil.example"), 403)

	resp := ts.request(t, "POST", "/api/session", `{"token":"`+tok+`"}`, "Origin", "http://"+ts.host)
	check("sign in", resp, 200)
	var set *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			set = c
		}
	}
	if set == nil || set.Value == "" || strings.Contains(set.Value, tok) || !set.HttpOnly || !set.Secure || set.SameSite != http.SameSiteStrictMode || set.Path != "/" {
		t.Fatalf("cookie %+v: want a credential of its own (not the token), HttpOnly, Secure, SameSite=Strict, Path=/", set)
	}
	cookie := cookieName + "=" + set.Value
	check("api with the token as the cookie", ts.request(t, "GET", "/api/monitors", "", "Cookie", cookieName+"="+tok), 401)
	other := ts.signIn(t)
	if other == cookie {
		t.Fatal("two browsers signed in with the same credential")
	}
	check("api with the cookie", ts.request(t, "GET", "/api/monitors", "", "Cookie", cookie), 200)
	check("state change with the cookie", ts.request(t, "POST", "/api/monitors/NOSUCH1/ack", "{}", "Cookie", cookie, "Origin", "http://"+ts.host), 404)
	check("foreign origin with the cookie", ts.request(t, "POST", "/api/monitors/NOSUCH1/ack", "{}", "Cookie", cookie, "Origin", "http://evil.example"), 403)
	check("events from another site with the cookie", ts.request(t, "GET", "/api/events", "", "Cookie", cookie, "Origin", "http://evil.example"), 403)
	check("foreign host with the cookie", ts.request(t, "GET", "/api/monitors", "", "Cookie", cookie, "Host", "evil.example:"+ts.guard.Port), 421)

	// A browser signs out: its credential opens nothing, the other's still does.
	check("sign out", ts.request(t, "POST", signOutPath, "{}", "Cookie", other, "Origin", "http://"+ts.host), 200)
	check("api after signing out", ts.request(t, "GET", "/api/monitors", "", "Cookie", other), 401)
	check("the other browser after one signed out", ts.request(t, "GET", "/api/monitors", "", "Cookie", cookie), 200)
	// Signed-in browsers are kept across a restart (the file holds only
	// hashes); --new-token signs them all out.
	raw, err := os.ReadFile(filepath.Join(dir, "dashboard", "browsers.json"))
	if err != nil || strings.Contains(string(raw), strings.TrimPrefix(cookie, cookieName+"=")) {
		t.Fatalf("browsers.json %q (%v): want hashes only", raw, err)
	}
	kept, err := loadBrowsers(filepath.Join(dir, "dashboard"), false)
	if err != nil || !kept.ok(strings.TrimPrefix(cookie, cookieName+"=")) {
		t.Fatalf("the signed-in browser after a restart: %v", err)
	}
	if reset, err := loadBrowsers(filepath.Join(dir, "dashboard"), true); err != nil || reset.ok(strings.TrimPrefix(cookie, cookieName+"=")) {
		t.Fatalf("the signed-in browser after --new-token: still signed in (%v)", err)
	}

	// The token is kept: a second start reads the same one; --new-token rotates it.
	again, err := loadToken(filepath.Join(dir, "dashboard"), false)
	if err != nil || again != tok {
		t.Fatalf("token after restart %q (%v), want %q", again, err, tok)
	}
	fi, err := os.Stat(filepath.Join(dir, "dashboard", "token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", fi, err)
	}
	rotated, err := loadToken(filepath.Join(dir, "dashboard"), true)
	if err != nil || rotated == tok {
		t.Fatalf("rotated token %q (%v), want a new one", rotated, err)
	}
}

// TestServeHTTPS: Serve beyond loopback speaks HTTPS with a certificate
// of the listener's own key, prints the URL with the token in its
// fragment, and needs the token.
func TestServeHTTPS(t *testing.T) {
	l, dir := newListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	var logged bytes.Buffer // written by Serve's goroutines until it returns
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logged}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		done <- Serve(ctx, Options{Listener: l, StateDir: dir, Addr: "0.0.0.0:0", Logger: log, OnReady: func(u string) { urls <- u }})
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		// The log, at every level, has the link but never the token.
		tok := u[strings.Index(u, "#token=")+len("#token="):]
		if strings.Contains(logged.String(), tok) {
			t.Errorf("the log holds the access token:\n%s", logged.String())
		}
		if !strings.Contains(logged.String(), strings.TrimSuffix(u, "#token="+tok)) {
			t.Errorf("the log does not give the link (without its token):\n%s", logged.String())
		}
	}()
	if !strings.HasPrefix(u, "https://") || !strings.Contains(u, "/#token=") {
		t.Fatalf("URL %q: want https://HOST:PORT/#token=...", u)
	}
	tok := u[strings.Index(u, "#token=")+len("#token="):]
	port := u[strings.LastIndex(u[:strings.Index(u, "/#")], ":")+1 : strings.Index(u, "/#")]
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	get := func(cookie string) *http.Response {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+"/api/monitors", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("")
	if resp.StatusCode != 401 {
		t.Fatalf("without token: %s, want 401", resp.Status)
	}
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, "identity"), identity.RoleListener, "parent")
	if err != nil {
		t.Fatal(err)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(id.Cert.Leaf.PublicKey) {
		t.Fatal("the HTTPS certificate is not of the listener's key")
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatalf("certificate does not name 127.0.0.1: %v", err)
	}
	if resp := get(cookieName + "=" + tok); resp.StatusCode != 401 {
		t.Fatalf("with the token itself as the cookie: %s, want 401", resp.Status)
	}
	sreq, _ := http.NewRequest("POST", "https://127.0.0.1:"+port+signInPath, strings.NewReader(`{"token":"`+tok+`"}`))
	sreq.Header.Set("Content-Type", "application/json")
	sresp, err := cl.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	sresp.Body.Close()
	var cred string
	for _, c := range sresp.Cookies() {
		if c.Name == cookieName {
			cred = c.Value
		}
	}
	if resp := get(cookieName + "=" + cred); cred == "" || resp.StatusCode != 200 {
		t.Fatalf("with the browser's own cookie: %s, want 200", resp.Status)
	}
	// Plain HTTP on the HTTPS port gets nothing useful.
	if r, err := http.Get("http://127.0.0.1:" + port + "/api/monitors"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("plain HTTP served beyond loopback")
		}
	}
}

// TestBodyLimit: a body over 64 KiB is refused.
func TestBodyLimit(t *testing.T) {
	l, _ := newListener(t)
	ts := startServer(t, Options{Listener: l}, true)
	big := `{"code":"` + strings.Repeat("1", 100<<10) + `"}`
	if resp := ts.request(t, "POST", "/api/pair", big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("100 KiB body: %s, want 413", resp.Status)
	}
	// Without a Content-Length (chunked), the reader stops at the limit.
	h := ts.handler()
	req := httptest.NewRequest("POST", "/api/pair", io.MultiReader(strings.NewReader(`{"code":"`), strings.NewReader(strings.Repeat("1", 100<<10)), strings.NewReader(`"}`)))
	req.Host = ts.host
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 100 KiB body: %d, want 413", rec.Code)
	}
}

// TestBodyTimeout: a body that does not arrive within the guard's BodyTimeout ends the
// connection, on a handler that reads it and on one that does not; a body
// that arrives in time leaves a long handler's context alone.
func TestBodyTimeout(t *testing.T) {
	l, _ := newListener(t)
	ts := startServer(t, Options{Listener: l}, true)
	ts.guard.BodyTimeout = 200 * time.Millisecond
	for _, path := range []string{"/api/session", "/nowhere"} {
		conn, err := net.Dial("tcp", ts.host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", path, ts.host)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, conn) // ends when the server closes
		conn.Close()
		if err != nil {
			t.Fatalf("%s: a dribbled body held the connection: %v", path, err)
		}
	}
	if resp := ts.request(t, "POST", "/api/session", `{"token":""}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %s", resp.Status)
	}
}

// TestStreamLimit: at most maxStreams event streams are open at once.
func TestStreamLimit(t *testing.T) {
	l, _ := newListener(t)
	ts := startServer(t, Options{Listener: l}, true)
	for range maxStreams {
		ts.events(t)
	}
	if resp := ts.request(t, "GET", "/api/events", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("stream %d: %s, want 429", maxStreams+1, resp.Status)
	}
}

// TestProblems: each listener error a parent can meet maps to its own
// code with an action, none of which names a CLI command.
func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{&control.Error{Code: control.CodeFingerprintMismatch, Remote: true}, "identity_changed"},
		{fmt.Errorf("dial: %w", &identity.MismatchError{}), "identity_changed"},
		{fmt.Errorf("%w: x", listener.ErrImpostor), "code_mismatch"},
		{control.Errorf(control.CodeUntrusted, "no"), "not_paired"},
		{control.Errorf(control.CodeRevoked, "no"), "not_paired"},
		{&control.Error{Code: control.CodePairingFailed, Remote: true}, "wrong_code"},
		{&control.Error{Code: control.CodePairingClosed, Remote: true}, "window_closed"},
		{&control.Error{Code: control.CodeBusy, Remote: true}, "busy"},
		{&control.Error{Code: control.CodePairingLocked, Remote: true}, "too_many_attempts"},
		{fmt.Errorf("x: %w", listener.ErrUnreachable), "unreachable"},
		{listener.ErrNotFound, "unreachable"},
		{context.DeadlineExceeded, "unreachable"},
		{pairing.ErrCodeLength, "bad_code"},
		{pairing.ErrPayloadCheck, "bad_payload"},
		{listener.ErrUnknownMonitor, "unknown_monitor"},
		{errors.New("disk on fire"), "error"},
	} {
		p := problemFor(tc.err)
		if p.Code != tc.code {
			t.Errorf("%v: code %q, want %q", tc.err, p.Code, tc.code)
		}
		if p.Message == "" || p.Action == "" || p.status == 0 {
			t.Errorf("%v: %+v: want a message, an action and a status", tc.err, p)
		}
		if strings.Contains(p.Action, "cradle ") || strings.Contains(p.Action, "--") {
			t.Errorf("%v: action %q names a command", tc.err, p.Action)
		}
	}
}

// TestEventsSnapshotAndPresence: a tab's stream starts with a snapshot of
// the paired monitors, then reports them online, and offline when the
// monitor goes away.
func TestEventsSnapshotAndPresence(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l}, true)
	s := ts.events(t)
	snap := s.until(5*time.Second, "snapshot", func(ev event) bool { return ev.Type == "snapshot" })
	if len(snap.Monitors) != 1 || snap.Monitors[0].ID != m.DeviceID || snap.Monitors[0].Name != m.Name {
		t.Fatalf("snapshot %+v, want the one paired monitor %s", snap.Monitors, m.DeviceID)
	}
	if snap.Monitors[0].Presence != "online" {
		s.until(10*time.Second, "online", func(ev event) bool {
			return ev.Type == "presence" && ev.Monitor == m.DeviceID && ev.Presence == "online"
		})
	}
	s.until(10*time.Second, "a status with the sound level", func(ev event) bool {
		return ev.Type == "status" && ev.Monitor == m.DeviceID && ev.Status != nil
	})
	// A second tab joining now gets the present in its snapshot.
	s2 := ts.events(t)
	snap2 := s2.until(5*time.Second, "snapshot", func(ev event) bool { return ev.Type == "snapshot" })
	if v := snap2.Monitors[0]; v.Presence != "online" || v.Status == nil || v.Stream != "off" {
		t.Fatalf("second tab's snapshot %+v: want online, a status, not streaming", v)
	}
	mon.Close()
	ev := s.until(10*time.Second, "offline", func(ev event) bool {
		return ev.Type == "presence" && ev.Monitor == m.DeviceID && ev.Presence == "offline"
	})
	t.Logf("offline: %+v", ev.Error)
}

// TestStatusThrottle: status events reach a tab at most 5 times a second
// per monitor.
func TestStatusThrottle(t *testing.T) {
	h := newSessionPool(nil, slog.New(slog.DiscardHandler), listener.SessionOptions{}, 1)
	e := &monEntry{mon: listener.PairedMonitor{DeviceID: "AAAAAAA"}}
	h.mons["AAAAAAA"] = e
	c := testTab(t, h)
	status := func(at time.Time, noise bool) {
		h.onEvent(e, listener.StatusEvent{Monitor: e.mon, At: at, Status: control.Status{RMSDBFS: -40, Noise: noise}})
	}
	t0 := time.Unix(1000, 0)
	for i := range 20 { // 20 statuses in one second, quiet
		status(t0.Add(time.Duration(i)*50*time.Millisecond), false)
	}
	if n := c.sub.Len(); n > 5 {
		t.Fatalf("%d status events in a second, want at most 5", n)
	}
	for c.sub.Len() > 0 {
		nextMsg(t, c)
	}
	status(t0.Add(time.Second+10*time.Millisecond), true) // noise begins: at once
	if n := c.sub.Len(); n != 2 {                         // noise, then status
		t.Fatalf("%d events for a noise onset, want 2 (noise and status)", n)
	}
	if len(e.view.Noises) != 1 {
		t.Fatalf("noises %v, want 1", e.view.Noises)
	}
}

// TestListenRefCount: two tabs listen, one stops: the session still
// streams; when the other tab leaves, it stops. An audio stream holds a
// listen while its request lasts.
func TestListenRefCount(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	oggStarted := make(chan struct{}, 1)
	ts := startServer(t, Options{Listener: l, Ogg: func(ctx context.Context, w http.ResponseWriter, sess *listener.Session) error {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		oggStarted <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}, true)
	sess, err := ts.pool.session(m.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	a, b := ts.events(t), ts.events(t)
	post := func(s *stream, what string, video bool) {
		t.Helper()
		resp := ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/"+what, fmt.Sprintf(`{"tab":%q,"video":%v}`, s.tab, video))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", what, resp.Status)
		}
	}
	want := func(mode listener.StreamMode, audio int) {
		t.Helper()
		if got := sess.Stream(); got != mode {
			t.Fatalf("session streams %v, want %v", got, mode)
		}
		if n, _ := ts.pool.counts(m.DeviceID); n != audio {
			t.Fatalf("listen count %d, want %d", n, audio)
		}
	}
	want(listener.StreamOff, 0)
	post(a, "listen", false)
	post(a, "listen", false) // twice from one tab counts once
	want(listener.StreamAudio, 1)
	post(b, "listen", true)
	want(listener.StreamAudioVideo, 2)
	post(b, "listen", false) // video off, still listening
	want(listener.StreamAudio, 2)
	post(a, "stop", false)
	want(listener.StreamAudio, 1)
	post(a, "stop", false) // stopping twice is fine
	want(listener.StreamAudio, 1)
	b.close() // the tab leaves without Stop
	waitFor(t, 5*time.Second, "the leaving tab's listen released", func() bool { n, _ := ts.pool.counts(m.DeviceID); return n == 0 })
	want(listener.StreamOff, 0)

	// An audio stream holds a listen while it lasts.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.base+"/api/monitors/"+m.DeviceID+"/audio.ogg", nil)
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			respc <- nil
			return
		}
		respc <- resp
	}()
	<-oggStarted
	want(listener.StreamAudio, 1)
	if resp := <-respc; resp != nil {
		resp.Body.Close()
	}
	cancel()
	waitFor(t, 5*time.Second, "the audio stream's listen released", func() bool { n, _ := ts.pool.counts(m.DeviceID); return n == 0 })
	want(listener.StreamOff, 0)
}

// TestOfferNeedsListen: the relay is asked only for a tab that listens,
// and without a relay the page is told so (503).
func TestOfferNeedsListen(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	fr := &fakeRelay{}
	ts := startServer(t, Options{Listener: l, Relay: fr}, true)
	s := ts.events(t)
	offer := fmt.Sprintf(`{"tab":%q,"sdp":"v=0"}`, s.tab)
	if resp := ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/offer", offer); resp.StatusCode != http.StatusConflict {
		t.Fatalf("offer without listen: %s, want 409", resp.Status)
	}
	ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/listen", fmt.Sprintf(`{"tab":%q}`, s.tab))
	resp := ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/offer", offer)
	if resp.StatusCode != 200 {
		t.Fatalf("offer: %s", resp.Status)
	}
	fr.mu.Lock()
	ctx := fr.ctx
	fr.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		t.Fatal("relay not asked, or its context already ended")
	}
	ts.request(t, "POST", "/api/monitors/"+m.DeviceID+"/stop", fmt.Sprintf(`{"tab":%q}`, s.tab))
	if ctx.Err() == nil {
		t.Fatal("the relay's context did not end with Stop")
	}

	ts2 := startServer(t, Options{Listener: l}, true)
	s2 := ts2.events(t)
	ts2.request(t, "POST", "/api/monitors/"+m.DeviceID+"/listen", fmt.Sprintf(`{"tab":%q}`, s2.tab))
	resp = ts2.request(t, "POST", "/api/monitors/"+m.DeviceID+"/offer", fmt.Sprintf(`{"tab":%q,"sdp":"v=0"}`, s2.tab))
	if p := problemOf(t, resp); resp.StatusCode != 503 || p.Code != "relay_unavailable" {
		t.Fatalf("offer without relay: %s %+v, want 503 relay_unavailable", resp.Status, p)
	}
	resp = ts2.request(t, "GET", "/api/monitors/"+m.DeviceID+"/info", "")
	if p := problemOf(t, resp); resp.StatusCode != 501 || p.Code != "not_implemented" {
		t.Fatalf("info: %s %+v, want 501", resp.Status, p)
	}
}

// TestPairWrongThenRight: pairing from the page against a real monitor:
// a wrong code is refused with words for a parent, the right one pairs
// and the new monitor's card appears in every tab.
func TestPairWrongThenRight(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	ts := startServer(t, Options{Listener: l}, true)
	s := ts.events(t)
	pair := func(code string) *http.Response {
		return ts.request(t, "POST", "/api/pair", fmt.Sprintf(`{"target":%q,"code":%q}`, mon.Addr().String(), code), "Origin", "http://"+ts.host)
	}
	resp := pair(string(mon.SetupCode()))
	if p := problemOf(t, resp); resp.StatusCode != http.StatusConflict || p.Code != "window_closed" {
		t.Fatalf("pairing window closed: %s %+v, want 409 window_closed", resp.Status, p)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	resp = pair(wrongCode(t, mon.SetupCode()))
	p := problemOf(t, resp)
	if resp.StatusCode != http.StatusForbidden || (p.Code != "wrong_code" && p.Code != "code_mismatch") {
		t.Fatalf("wrong code: %s %+v, want 403 wrong_code", resp.Status, p)
	}
	t.Logf("wrong code: %s: %s", p.Message, p.Action)
	resp = pair("12")
	if p := problemOf(t, resp); p.Code != "bad_code" {
		t.Fatalf("malformed code: %+v, want bad_code", p)
	}
	if _, err := mon.OpenPairing(0); err != nil { // a failure may close the window
		t.Fatal(err)
	}
	resp = pair(string(mon.SetupCode()))
	if resp.StatusCode != 200 {
		t.Fatalf("right code: %s %+v", resp.Status, problemOf(t, resp))
	}
	snap := s.until(5*time.Second, "a snapshot with the new monitor", func(ev event) bool { return ev.Type == "snapshot" && len(ev.Monitors) == 1 })
	id := snap.Monitors[0].ID
	s.until(10*time.Second, "the new monitor online", func(ev event) bool {
		return ev.Type == "presence" && ev.Monitor == id && ev.Presence == "online"
	})
}

// wrongCode is a well-formed setup code other than c.
func wrongCode(t *testing.T, c pairing.Code) string {
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

// TestAlarmWAV: /alarm.wav is the alarm's pattern as a WAV file.
func TestAlarmWAV(t *testing.T) {
	b := alarmWAV()
	if string(b[:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || len(b) != 44+2*alarmPatterns*36000 {
		t.Fatalf("WAV header %q, %d bytes", b[:16], len(b))
	}
	var loud int
	for i := 44; i+1 < len(b); i += 2 {
		if v := int16(uint16(b[i]) | uint16(b[i+1])<<8); v > 10000 || v < -10000 {
			loud++
		}
	}
	if loud == 0 {
		t.Fatal("the alarm is silent")
	}
}

type fakeRelay struct {
	mu  sync.Mutex
	ctx context.Context
}

func (f *fakeRelay) Answer(ctx context.Context, sess *listener.Session, offer string, video bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx = ctx
	return "v=0 answer", nil
}

func (f *fakeRelay) Close() error { return nil }

// TestMonitorInfo: the card's "Monitor details" come from the monitor
// over the control channel: its port and this listener's connection.
func TestMonitorInfo(t *testing.T) {
	mon := newMonitor(t)
	l, _ := newListener(t)
	m := pairWith(t, l, mon)
	ts := startServer(t, Options{Listener: l, MonitorInfo: sessionInfo}, true)
	s := ts.events(t)
	s.until(10*time.Second, "online", func(ev event) bool {
		if ev.Type == "snapshot" && len(ev.Monitors) == 1 {
			return ev.Monitors[0].Presence == "online"
		}
		return ev.Type == "presence" && ev.Monitor == m.DeviceID && ev.Presence == "online"
	})
	resp := ts.request(t, "GET", "/api/monitors/"+m.DeviceID+"/info", "")
	defer resp.Body.Close()
	var info control.Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("info: %d %v", resp.StatusCode, err)
	}
	if info.Port != mon.Addr().Port || len(info.Connections) != 1 || !info.Connections[0].You || !info.Connections[0].Trusted {
		t.Fatalf("info %+v, want port %d and this trusted listener's connection", info, mon.Addr().Port)
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
