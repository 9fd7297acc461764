package page

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/page/pagetest"
)

// TestDashboardLockOut: the dashboard beyond loopback (its rules over plain HTTP)
// with one device holding far more idle connections after a public
// GET / than the server accepts in all (the LAN attack that locked
// everyone out): a fresh device still gets the page and a signed-in page
// still gets its API answers, on its open connection and on a new one.
// The layer's own tests (package page) cover the rest.
func TestDashboardLockOut(t *testing.T) {
	l, dir := newListener(t)
	ts := startServer(t, Options{Listener: l, StateDir: dir}, false)
	cookie := ts.signIn(t)
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", ts.host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn, br *bufio.Reader, path, cookie string) (int, error) {
		return pagetest.Get(c, br, ts.host, path, cookie)
	}
	signedIn := dial("127.0.0.4")
	sbr := bufio.NewReader(signedIn)
	if st, err := get(signedIn, sbr, "/api/monitors", cookie); err != nil || st != 200 {
		t.Fatalf("signed-in page before the flood: %d %v", st, err)
	}
	for range 2 * DefaultLimits.Total {
		c := dial("127.0.0.2")
		get(c, bufio.NewReader(c), "/", "") // refused or evicted ones fail: that is the point
	}
	fresh := func(from, path, cookie string) int {
		t.Helper()
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			return d.DialContext(ctx, network, addr)
		}}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", ts.base+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s from %s after the flood: %v", path, from, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := fresh("127.0.0.3", "/", ""); st != 200 {
		t.Errorf("a fresh device's page after the flood: %d, want 200", st)
	}
	if st, err := get(signedIn, sbr, "/api/monitors", cookie); err != nil || st != 200 {
		t.Errorf("signed-in page's connection after the flood: %d %v", st, err)
	}
	if st := fresh("127.0.0.5", "/api/monitors", cookie); st != 200 {
		t.Errorf("signed-in page's new connection after the flood: %d, want 200", st)
	}
}
