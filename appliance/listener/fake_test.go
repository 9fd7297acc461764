package listener

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

var errFakeClosed = errors.New("fake: connection closed")

// fakeConn is a control connection driven by the test: it delivers what
// the test puts in, records what the session sends, and closes when the
// test kills it.
type fakeConn struct {
	in   chan control.Message
	done chan struct{}

	mu   sync.Mutex
	err  error
	sent []control.Message
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan control.Message, 16), done: make(chan struct{})}
}

func (c *fakeConn) Send(ctx context.Context, m control.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.sent = append(c.sent, m)
	return nil
}

func (c *fakeConn) Recv(ctx context.Context) (control.Message, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		return nil, errFakeClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *fakeConn) Done() <-chan struct{} { return c.done }

func (c *fakeConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *fakeConn) Stats() presence.Stats { return presence.Stats{SRTT: time.Millisecond} }

func (c *fakeConn) RemoteAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (c *fakeConn) Close(code control.Code, reason string) error {
	c.kill(errFakeClosed)
	return nil
}

// kill closes the connection with err, as a heartbeat death or a remote
// close would.
func (c *fakeConn) kill(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// dialResult is one scripted answer of the fake dialer.
type dialResult struct {
	conn *fakeConn // nil: the dial fails with err
	err  error
}

// fakeDialer answers dials from a script (the last entry repeats) and
// records when each dial happened and to which address.
type fakeDialer struct {
	mu          sync.Mutex
	script      []dialResult
	dials       []dialRecord
	rediscovers []time.Time
	newAddr     string // what Rediscover finds ("" = nothing)
	dialed      chan struct{}
}

type dialRecord struct {
	at   time.Time
	addr string
}

func newFakeDialer(script ...dialResult) *fakeDialer {
	return &fakeDialer{script: script, dialed: make(chan struct{}, 64)}
}

func (d *fakeDialer) Dial(ctx context.Context, m PairedMonitor) (Conn, control.HelloAck, error) {
	d.mu.Lock()
	d.dials = append(d.dials, dialRecord{at: time.Now(), addr: m.Address})
	r := d.script[0]
	if len(d.script) > 1 {
		d.script = d.script[1:]
	}
	d.mu.Unlock()
	select {
	case d.dialed <- struct{}{}:
	default:
	}
	if r.conn == nil {
		return nil, control.HelloAck{}, r.err
	}
	return r.conn, control.HelloAck{Trusted: true, Name: m.Name}, nil
}

func (d *fakeDialer) Rediscover(ctx context.Context, m PairedMonitor) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rediscovers = append(d.rediscovers, time.Now())
	if d.newAddr == "" {
		return "", errors.New("fake: not found")
	}
	return d.newAddr, nil
}

func (d *fakeDialer) record() ([]dialRecord, []time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dialRecord(nil), d.dials...), append([]time.Time(nil), d.rediscovers...)
}
