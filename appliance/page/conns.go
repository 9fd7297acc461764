package page

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound a server's connections (see the package doc). Zero
// fields take DefaultLimits'.
type Limits struct {
	Total         int           // connections open at once, all clients
	Strangers     int           // of them, connections not signed in
	PerAddr       int           // connections not signed in, per source address
	HeaderTimeout time.Duration // a request's headers, and a TLS handshake
	StrangerIdle  time.Duration // keep-alive of a connection not signed in
	StrangerWrite time.Duration // writing an answer to a connection not signed in
	Idle          time.Duration // keep-alive of a signed-in connection
}

// DefaultLimits are the limits of both hosts' servers. A phone's browser
// opens at most 6 connections to a server (HTTP/1.1), so 8 per address
// let a phone load the page before it signs in.
var DefaultLimits = Limits{
	Total:         128,
	Strangers:     64,
	PerAddr:       8,
	HeaderTimeout: 5 * time.Second,
	StrangerIdle:  5 * time.Second,
	StrangerWrite: 10 * time.Second,
	Idle:          2 * time.Minute,
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct {
		v   *int
		def int
	}{{&l.Total, d.Total}, {&l.Strangers, d.Strangers}, {&l.PerAddr, d.PerAddr}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&l.HeaderTimeout, d.HeaderTimeout}, {&l.StrangerIdle, d.StrangerIdle}, {&l.StrangerWrite, d.StrangerWrite}, {&l.Idle, d.Idle}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return l
}

// MaxHeaderBytes bounds a request's headers.
const MaxHeaderBytes = 16 << 10

// Protect bounds srv's connections by lim: it sets srv's timeouts and its
// ConnState and ConnContext hooks (which must be unset), and returns the
// listener to serve srv on: ln, with the limits, then TLS with tlsCfg
// unless it is nil. Closing the returned listener closes ln.
func Protect(srv *http.Server, ln net.Listener, tlsCfg *tls.Config, lim Limits) net.Listener {
	l, _ := protect(srv, ln, tlsCfg, lim)
	return l
}

// protect is Protect, and gives the table for tests.
func protect(srv *http.Server, ln net.Listener, tlsCfg *tls.Config, lim Limits) (net.Listener, *table) {
	t := newTable(lim)
	srv.ReadHeaderTimeout = t.lim.HeaderTimeout
	srv.IdleTimeout = t.lim.Idle
	srv.MaxHeaderBytes = MaxHeaderBytes
	srv.ConnState = t.connState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if tc := unwrap(c); tc != nil {
			return context.WithValue(ctx, connKey{}, tc)
		}
		return ctx
	}
	var l net.Listener = &limitListener{Listener: ln, t: t}
	if tlsCfg != nil {
		l = tls.NewListener(l, tlsCfg)
	}
	return l, t
}

// Trust marks the connection of the request whose context is ctx as a
// signed-in device's: it leaves the strangers' pool and its limits. The
// guard calls it for every request with a valid credential.
func Trust(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.t.trust(c)
	}
}

type connKey struct{}

// unwrap finds the connection Protect's listener made under a TLS one.
func unwrap(c net.Conn) *conn {
	for {
		switch v := c.(type) {
		case *conn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
}

// limitListener admits connections under its table's limits.
type limitListener struct {
	net.Listener
	t *table
}

// Accept returns the next connection the table admits; the ones it
// refuses are closed at once.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.t.admit(c); tc != nil {
			thinStream(c)
			return tc, nil
		}
		c.Close()
	}
}

// table counts the connections. Locks: mu guards every field below and
// every conn's fields marked so; nothing is closed while it is held.
type table struct {
	lim       Limits
	mu        sync.Mutex
	total     int
	perAddr   map[string]int // strangers' connections per address
	strangers map[*conn]struct{}
	seq       uint64
}

func newTable(lim Limits) *table {
	lim = lim.withDefaults()
	return &table{lim: lim, perAddr: map[string]int{}, strangers: map[*conn]struct{}{}}
}

// conn is a connection the table counts.
type conn struct {
	net.Conn
	t    *table
	addr string // the source address, without its port
	seq  uint64 // accept order: lower is older
	once sync.Once

	// guarded by t.mu
	trusted bool
	gone    bool
	state   http.ConnState
	idle    *time.Timer // a stranger's keep-alive
}

// admit counts a new connection, evicting strangers' new or idle
// connections to make room: first its own address's oldest when the
// address is at PerAddr, then, when the strangers' pool or the whole
// table is full, the oldest of the address holding the most. It returns nil when there
// is no room.
func (t *table) admit(raw net.Conn) *conn {
	addr := raw.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	var victims []*conn
	defer func() {
		for _, v := range victims {
			v.Conn.Close()
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	room := func(full bool, from string) bool {
		if !full {
			return true
		}
		v := t.oldestEvictable(from)
		if v == nil {
			return false
		}
		t.drop(v)
		victims = append(victims, v)
		return true
	}
	if !room(t.perAddr[addr] >= t.lim.PerAddr, addr) ||
		!room(len(t.strangers) >= t.lim.Strangers, "") ||
		!room(t.total >= t.lim.Total, "") {
		return nil
	}
	t.seq++
	c := &conn{Conn: raw, t: t, addr: addr, seq: t.seq, state: http.StateNew}
	t.total++
	t.perAddr[addr]++
	t.strangers[c] = struct{}{}
	return c
}

// oldestEvictable is the stranger's connection to give up for a
// newcomer, among those that are new or idle: the oldest of address from,
// or (from "") the oldest of the address that holds the most strangers'
// connections. A flood from many addresses thus evicts its own: a phone
// that opens one connection during it (it woke, it reloads) keeps it
// until it has signed in. Called with mu held.
func (t *table) oldestEvictable(from string) *conn {
	var old *conn
	for c := range t.strangers {
		if (from != "" && c.addr != from) || (c.state != http.StateNew && c.state != http.StateIdle) {
			continue
		}
		switch {
		case old == nil:
			old = c
		case from == "" && t.perAddr[c.addr] != t.perAddr[old.addr]:
			if t.perAddr[c.addr] > t.perAddr[old.addr] {
				old = c
			}
		case c.seq < old.seq:
			old = c
		}
	}
	return old
}

// drop uncounts c. Called with mu held.
func (t *table) drop(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	t.total--
	if !c.trusted {
		delete(t.strangers, c)
		if t.perAddr[c.addr]--; t.perAddr[c.addr] <= 0 {
			delete(t.perAddr, c.addr)
		}
	}
	if c.idle != nil {
		c.idle.Stop()
		c.idle = nil
	}
}

// trust moves c out of the strangers' pool.
func (t *table) trust(c *conn) {
	t.mu.Lock()
	if c.trusted || c.gone {
		t.mu.Unlock()
		return
	}
	c.trusted = true
	delete(t.strangers, c)
	if t.perAddr[c.addr]--; t.perAddr[c.addr] <= 0 {
		delete(t.perAddr, c.addr)
	}
	if c.idle != nil {
		c.idle.Stop()
		c.idle = nil
	}
	t.mu.Unlock()
	c.Conn.SetWriteDeadline(time.Time{}) // lifts the stranger's bound
}

// connState follows the server's view of each connection: a stranger's
// idle connection is closed after StrangerIdle, and its answers must be
// written within StrangerWrite.
func (t *table) connState(nc net.Conn, st http.ConnState) {
	c := unwrap(nc)
	if c == nil {
		return
	}
	t.mu.Lock()
	c.state = st
	if c.idle != nil {
		c.idle.Stop()
		c.idle = nil
	}
	stranger := !c.trusted && !c.gone
	if stranger && st == http.StateIdle {
		c.idle = time.AfterFunc(t.lim.StrangerIdle, func() { t.expire(c) })
	}
	t.mu.Unlock()
	switch {
	case st == http.StateClosed || st == http.StateHijacked:
		if st == http.StateClosed {
			c.release()
		}
	case stranger && st == http.StateActive:
		c.Conn.SetWriteDeadline(time.Now().Add(t.lim.StrangerWrite))
	}
}

// expire closes a stranger's connection still idle after StrangerIdle.
func (t *table) expire(c *conn) {
	t.mu.Lock()
	idle := !c.gone && !c.trusted && c.state == http.StateIdle
	if idle {
		t.drop(c)
	}
	t.mu.Unlock()
	if idle {
		c.Conn.Close()
	}
}

// release uncounts c once.
func (c *conn) release() {
	c.once.Do(func() {
		c.t.mu.Lock()
		c.t.drop(c)
		c.t.mu.Unlock()
	})
}

// Close closes the connection and gives back its place.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
