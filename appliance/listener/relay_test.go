package listener

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// relay is a UDP relay between listeners and one monitor that a test can
// cut and restore, to simulate a network that stops carrying packets.
type relay struct {
	conn    *net.UDPConn
	target  *net.UDPAddr
	blocked atomic.Bool
	bytes   atomic.Int64

	mu       sync.Mutex
	upstream map[string]*net.UDPConn // per client: a socket towards the monitor
	wg       sync.WaitGroup
	closed   chan struct{}
}

func newRelay(t testing.TB, target *net.UDPAddr) *relay {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{conn: c, target: target, upstream: map[string]*net.UDPConn{}, closed: make(chan struct{})}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.conn.LocalAddr().String() }

func (r *relay) serve() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if r.blocked.Load() {
			continue
		}
		r.bytes.Add(int64(n))
		up := r.upstreamFor(from)
		if up != nil {
			up.Write(buf[:n])
		}
	}
}

func (r *relay) upstreamFor(client *net.UDPAddr) *net.UDPConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if up, ok := r.upstream[client.String()]; ok {
		return up
	}
	select {
	case <-r.closed:
		return nil
	default:
	}
	up, err := net.DialUDP("udp", nil, r.target)
	if err != nil {
		return nil
	}
	r.upstream[client.String()] = up
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if r.blocked.Load() {
				continue
			}
			r.bytes.Add(int64(n))
			r.conn.WriteToUDP(buf[:n], client)
		}
	}()
	return up
}

func (r *relay) close() {
	r.mu.Lock()
	select {
	case <-r.closed:
		r.mu.Unlock()
		return
	default:
	}
	close(r.closed)
	r.conn.Close()
	for _, up := range r.upstream {
		up.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
