package page

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/page/pagetest"
)

// TestConnLimit: beyond Total, with every place held by a signed-in
// device, a new connection is closed at once; a closed one frees its
// place.
func TestConnLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tab := newTable(Limits{Total: 2, Strangers: 2, PerAddr: 2})
	ln := &limitListener{Listener: raw, t: tab}
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func(what string) net.Conn {
		select {
		case c := <-accepted:
			tab.trust(c.(*conn)) // signed in: not to be evicted
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not accepted", what)
			return nil
		}
	}
	closed := func(c net.Conn, what string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v, want it closed (EOF)", what, err)
		}
	}
	dial()
	first := next("first")
	dial()
	second := next("second")
	defer second.Close()
	closed(dial(), "third connection over the limit")
	first.Close()
	first.Close() // a second Close gives back nothing more
	dial()
	fourth := next("fourth, after one closed")
	defer fourth.Close()
	closed(dial(), "fifth connection over the limit")
}

// rig is a protected server on loopback whose API needs the cookie
// "c=ok"; clients dial it from any 127.0.0.0/8 address.
type rig struct {
	t    *testing.T
	addr string // HOST:PORT
	tab  *table
}

func newRig(t *testing.T, lim Limits) *rig {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(raw.Addr().String())
	g := &Guard{
		Port:       port,
		Hosts:      map[string]bool{"127.0.0.1": true},
		Authorized: func(r *http.Request) bool { return r.Header.Get("Cookie") == "c=ok" },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<!doctype html><title>page</title>") })
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"quiet":true}`) })
	srv := &http.Server{Handler: g.Wrap(mux)}
	ln, tab := protect(srv, raw, nil, lim)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return &rig{t: t, addr: raw.Addr().String(), tab: tab}
}

// dial connects from the loopback address from.
func (r *rig) dial(from string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", r.addr)
}

// get sends GET path on c (keep-alive) and returns the status, or an
// error when the connection is closed or slow.
func (r *rig) get(c net.Conn, br *bufio.Reader, path, cookie string) (int, error) {
	return pagetest.Get(c, br, r.addr, path, cookie)
}

// client is an http.Client whose connections come from the loopback
// address from (a fresh phone).
func (r *rig) client(from string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		return d.DialContext(ctx, network, addr)
	}}
	r.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestLockOut: one device holding far more idle connections than the
// limits (after a public GET /, as the LAN attack did), many more
// filling the strangers' pool, and another holding slow headers lock
// nobody out: a fresh device still gets the
// page, a signed-in device keeps its connection and gets its API
// answers, and a signed-in device's new connection gets in too. The
// flooding address holds at most PerAddr connections.
func TestLockOut(t *testing.T) {
	lim := DefaultLimits
	lim.StrangerIdle = time.Minute // the caps, not the idle timer, hold here
	r := newRig(t, lim)

	// A signed-in phone, connected before the flood.
	phone, err := r.dial("127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	pbr := bufio.NewReader(phone)
	if st, err := r.get(phone, pbr, "/api/state", "c=ok"); err != nil || st != 200 {
		t.Fatalf("signed-in phone before the flood: %d %v", st, err)
	}

	// The flood: 3*Total idle keep-alives after GET / from one address,
	// then Total connections stuck in their headers from another.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 * lim.Total {
		c, err := r.dial("127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		r.get(c, bufio.NewReader(c), "/", "") // refused or evicted ones fail: that is the point
	}
	// Then many addresses, each holding twice PerAddr: the strangers'
	// pool is full.
	for i := range 2 * lim.Strangers / lim.PerAddr {
		for range 2 * lim.PerAddr {
			c, err := r.dial(fmt.Sprintf("127.0.1.%d", i+1))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			r.get(c, bufio.NewReader(c), "/", "")
		}
	}
	for range lim.Total {
		c, err := r.dial("127.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: ")
	}

	// A fresh device gets the page.
	resp, err := r.client("127.0.0.3").Get("http://" + r.addr + "/")
	if err != nil {
		t.Fatalf("a fresh device after the flood: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "page") {
		t.Fatalf("a fresh device after the flood: %s %q", resp.Status, body)
	}
	// The signed-in phone's connection was kept, and answers.
	if st, err := r.get(phone, pbr, "/api/state", "c=ok"); err != nil || st != 200 {
		t.Fatalf("signed-in phone's connection after the flood: %d %v", st, err)
	}
	// A signed-in device's new connection gets in.
	req, _ := http.NewRequest("GET", "http://"+r.addr+"/api/state", nil)
	req.Header.Set("Cookie", "c=ok")
	resp, err = r.client("127.0.0.6").Do(req)
	if err != nil {
		t.Fatalf("signed-in device's new connection after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("signed-in device's new connection after the flood: %s", resp.Status)
	}

	r.tab.mu.Lock()
	flood, slow, strangers, total := r.tab.perAddr["127.0.0.2"], r.tab.perAddr["127.0.0.5"], len(r.tab.strangers), r.tab.total
	r.tab.mu.Unlock()
	t.Logf("after the flood: %d connections, %d strangers', %d from the idle flood, %d from the slow one", total, strangers, flood, slow)
	if flood > lim.PerAddr || slow > lim.PerAddr {
		t.Errorf("one address holds %d and %d connections, want at most %d", flood, slow, lim.PerAddr)
	}
	if strangers > lim.Strangers || total > lim.Total {
		t.Errorf("%d strangers' connections of %d, want at most %d of %d", strangers, total, lim.Strangers, lim.Total)
	}
}

// TestStrangerIdle: a stranger's idle keep-alive ends after StrangerIdle;
// a signed-in device's, idle longer, does not.
func TestStrangerIdle(t *testing.T) {
	lim := DefaultLimits
	lim.StrangerIdle = 100 * time.Millisecond
	r := newRig(t, lim)
	phone, err := r.dial("127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	pbr := bufio.NewReader(phone)
	if st, err := r.get(phone, pbr, "/api/state", "c=ok"); err != nil || st != 200 {
		t.Fatalf("signed-in phone: %d %v", st, err)
	}
	stranger, err := r.dial("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	sbr := bufio.NewReader(stranger)
	if st, err := r.get(stranger, sbr, "/", ""); err != nil || st != 200 {
		t.Fatalf("stranger's page: %d %v", st, err)
	}
	stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := sbr.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("stranger's idle connection: %v, want it closed (EOF) after %v", err, lim.StrangerIdle)
	}
	// The phone has been idle longer than the stranger was.
	if st, err := r.get(phone, pbr, "/api/state", "c=ok"); err != nil || st != 200 {
		t.Fatalf("signed-in phone after a stranger's idle time: %d %v", st, err)
	}
}

// TestTrustOverTLS: behind TLS, a request with the credential moves its
// connection out of the strangers' pool too.
func TestTrustOverTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(raw.Addr().String())
	g := &Guard{Port: port, Hosts: map[string]bool{"127.0.0.1": true}, Authorized: func(r *http.Request) bool { return r.Header.Get("Cookie") == "c=ok" }}
	srv := &http.Server{Handler: g.Wrap(http.NotFoundHandler())}
	ln, tb := protect(srv, raw, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, DefaultLimits)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-done
	}()
	c, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	r := &rig{t: t, addr: raw.Addr().String()}
	for _, cookie := range []string{"", "c=ok"} {
		if _, err := r.get(c, br, "/", cookie); err != nil {
			t.Fatal(err)
		}
		tb.mu.Lock()
		total, strangers := tb.total, len(tb.strangers)
		tb.mu.Unlock()
		if want := map[string]int{"": 1, "c=ok": 0}[cookie]; total != 1 || strangers != want {
			t.Fatalf("cookie %q: %d connections, %d strangers', want 1 and %d", cookie, total, strangers, want)
		}
	}
}

// TestEvictFairShare: with the strangers' pool full, a newcomer's place
// comes from the address holding the most connections, not from the
// oldest connection: a phone's one new connection (here older than the
// flood's) survives a flood from other addresses until it signs in.
func TestEvictFairShare(t *testing.T) {
	lim := DefaultLimits
	lim.Strangers, lim.PerAddr, lim.StrangerIdle = 4, 4, time.Minute
	r := newRig(t, lim)
	phone, err := r.dial("127.0.0.2") // new: no request yet (a TLS handshake, say)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	waitFor(t, 5*time.Second, "the phone's connection counted", func() bool {
		r.tab.mu.Lock()
		defer r.tab.mu.Unlock()
		return r.tab.perAddr["127.0.0.2"] == 1
	})
	for i := range 10 { // a flood from two addresses, one after the other
		c, err := r.dial(fmt.Sprintf("127.0.0.%d", 3+i%2))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := min(i+2, 4)
		waitFor(t, 5*time.Second, "the flood's connection counted", func() bool {
			r.tab.mu.Lock()
			defer r.tab.mu.Unlock()
			return len(r.tab.strangers) == want && r.tab.seq == uint64(i+2)
		})
	}
	br := bufio.NewReader(phone)
	if st, err := r.get(phone, br, "/api/state", "c=ok"); err != nil || st != 200 {
		t.Fatalf("the phone's connection after the flood: %d %v, want it kept and answered", st, err)
	}
}
