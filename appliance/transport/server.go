package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
)

// Allowlist says whether a client's key is trusted (on the monitor's
// allowlist). It is asked once per connection, right after the TLS
// handshake; pairing later flips the answer on the live connection with
// Conn.SetTrusted.
type Allowlist interface {
	Trusted(fp identity.Fingerprint) bool
}

// Server is the monitor's side: it accepts listeners' connections.
type Server struct {
	udp   *net.UDPConn
	tr    *quic.Transport
	ln    *quic.Listener
	allow Allowlist
	cfg   Config

	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc
	accepted chan *Conn // conns whose Hello arrived, for Accept
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[uint64]*Conn

	pmu      sync.Mutex
	byAddr   map[netip.Addr]int // pending connections by remote IP; guarded by pmu
	pending  atomic.Int64       // connections handshaking or waiting for their Hello; written under pmu
	known    int                // of those, in the slots of Config.Known addresses; guarded by pmu
	refused  atomic.Int64       // connections refused because pending was at MaxPending
	verified atomic.Int64       // connections that came through a Retry (address validated)

	closeOnce sync.Once
	closeErr  error
}

// Listen starts a server on the UDP address addr ("127.0.0.1:0" picks a
// port) with identity id. Every client must present a certificate; allow
// decides which are trusted. Listen returns once the socket is bound.
func Listen(addr string, id *identity.Identity, allow Allowlist, cfg Config) (*Server, error) {
	if allow == nil {
		return nil, fmt.Errorf("%w: nil allowlist", ErrBadConfig)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Own the socket and the QUIC transport (rather than quic.ListenAddr)
	// so that Close can stop every goroutine at once.
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	s := &Server{
		udp:      udp,
		allow:    allow,
		cfg:      cfg,
		accepted: make(chan *Conn),
		conns:    make(map[uint64]*Conn),
		byAddr:   make(map[netip.Addr]int),
	}
	s.tr = &quic.Transport{Conn: udp, ConnContext: s.admit, VerifySourceAddress: s.mustRetry}
	s.ln, err = s.tr.Listen(id.ServerTLS(nil, ALPN), cfg.quicConfig(true))
	if err != nil {
		s.tr.Close()
		udp.Close()
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	cfg.Logger.Info("control server listening", "addr", s.Addr().String(), "fingerprint", id.Fingerprint)
	return s, nil
}

// Addr is the UDP address the server listens on.
func (s *Server) Addr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// Accept returns the next connection whose Hello arrived, with that
// Hello. The caller must answer with a HelloAck (c.Send) before anything
// else, within the client's hello timeout, and then serve the connection
// (call Recv in a loop) until it closes. After Close it returns
// ErrServerClosed.
func (s *Server) Accept(ctx context.Context) (*Conn, control.Hello, error) {
	for {
		select {
		case c := <-s.accepted:
			select {
			case <-c.closing:
				continue
			default:
			}
			return c, c.hello, nil
		case <-s.ctx.Done():
			return nil, control.Hello{}, ErrServerClosed
		case <-ctx.Done():
			return nil, control.Hello{}, ctx.Err()
		}
	}
}

// Conns returns the live connections, accepted or not yet.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Close stops listening and closes every live connection with going_away,
// then waits for all their goroutines. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*Conn, 0, len(s.conns))
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.cancel()

		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() { c.Close(control.CodeGoingAway, "the monitor is shutting down") })
		}
		wg.Wait()
		s.wg.Wait()
		// Every connection is closed: stop the listener, then the
		// transport (which also drops the closed connections' state, so
		// no late packet is answered), then the socket.
		s.ln.Close()
		s.tr.Close()
		s.closeErr = s.udp.Close()
		s.cfg.Logger.Info("control server closed")
	})
	return s.closeErr
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		qc, err := s.ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, quic.ErrServerClosed) {
				s.cfg.Logger.Error("control server stopped accepting", "err", err)
			}
			return
		}
		s.wg.Add(1)
		go s.serve(qc)
	}
}

// serve sets up a connection whose TLS handshake completed: tag it
// trusted or not, wait for its control stream, and start it.
func (s *Server) serve(qc *quic.Conn) {
	defer s.wg.Done()
	fp, err := identity.PeerFingerprint(qc.ConnectionState().TLS)
	if err != nil { // ServerTLS requires a certificate: should not happen
		qc.CloseWithError(quic.ApplicationErrorCode(control.CodeUntrusted.QUIC()), "no client certificate")
		return
	}
	trusted := s.allow.Trusted(fp)

	helloBy := time.Now().Add(s.cfg.HelloTimeout)
	ctx, cancel := context.WithDeadline(s.ctx, helloBy)
	st, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		code, reason := control.CodeIdleTimeout, fmt.Sprintf("no hello within %v", s.cfg.HelloTimeout)
		if s.ctx.Err() != nil {
			code, reason = control.CodeGoingAway, "the monitor is shutting down"
		}
		level := slog.LevelInfo
		if !trusted { // a stranger can do this as often as it likes
			level = slog.LevelDebug
		}
		s.cfg.Logger.Log(context.Background(), level, "dropping connection without a control stream", "peer", fp,
			"remote", qc.RemoteAddr().String(), "err", mapError(err, false))
		qc.CloseWithError(quic.ApplicationErrorCode(code.QUIC()), reason)
		return
	}

	c := newConn(qc, st, fp, true, s.cfg)
	if sl, ok := qc.Context().Value(slotKey{}).(*slot); ok {
		c.admitted = sl.release
	}
	c.trusted.Store(trusted)
	c.deadline = helloBy
	c.onHello = s.handOff
	c.onClose = s.forget
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		qc.CloseWithError(quic.ApplicationErrorCode(control.CodeGoingAway.QUIC()), "the monitor is shutting down")
		return
	}
	s.conns[c.id] = c
	s.mu.Unlock()
	c.log.Log(context.Background(), c.level(slog.LevelInfo), "connection opened", "trusted", trusted)
	c.start()
}

// handOff gives a conn whose Hello arrived to Accept. It runs on the
// conn's reader and blocks it until Accept takes the conn.
func (s *Server) handOff(c *Conn) bool {
	select {
	case s.accepted <- c:
		return true
	case <-c.closing:
		return false
	case <-s.ctx.Done():
		c.shutdown(control.CodeGoingAway, &control.Error{Code: control.CodeGoingAway, Message: "the monitor is shutting down"},
			control.Bye{Code: control.CodeGoingAway.String()}, false)
		return false
	}
}

func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
}

// errTooMany refuses a connection beyond Config.MaxPending.
var errTooMany = errors.New("transport: too many connections handshaking or waiting for hello")

// slotKey is the context key of a connection's pending slot.
type slotKey struct{}

// slot is one connection's place in the pending count: taken when its
// first packet arrives, given back when Accept took it (after its Hello)
// or it closes, whichever is first.
type slot struct {
	s     *Server
	addr  netip.Addr
	known bool // one of the Config.Known addresses' slots
	once  sync.Once
}

func (sl *slot) release() {
	sl.once.Do(func() {
		s := sl.s
		s.pmu.Lock()
		defer s.pmu.Unlock()
		if sl.known {
			s.known--
			return
		}
		s.pending.Add(-1)
		if s.byAddr[sl.addr]--; s.byAddr[sl.addr] <= 0 {
			delete(s.byAddr, sl.addr)
		}
	})
}

// admit is quic-go's ConnContext, called for each new connection attempt
// before any state is kept for it: beyond MaxPending connections that are
// handshaking or have not sent Hello, or MaxPendingPerAddr from the new
// one's IP address, it refuses the new one at once (quic-go answers
// CONNECTION_REFUSED, which Dial reports as a going_away "busy or
// restarting" error, and a listener retries with backoff).
func (s *Server) admit(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
	if ci.AddrVerified {
		s.verified.Add(1)
	}
	var addr netip.Addr
	if ua, ok := ci.RemoteAddr.(*net.UDPAddr); ok {
		addr = ua.AddrPort().Addr().Unmap()
	}
	known := false
	s.pmu.Lock()
	full := s.pending.Load() >= int64(s.cfg.MaxPending) || s.byAddr[addr] >= s.cfg.MaxPendingPerAddr
	if !full {
		s.pending.Add(1)
		s.byAddr[addr]++
	} else if s.known < s.cfg.MaxPendingKnown && s.cfg.Known != nil && s.cfg.Known(addr) {
		full, known = false, true
		s.known++
	}
	s.pmu.Unlock()
	if full {
		if n := s.refused.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th, ... refusal
			s.cfg.Logger.Warn("refusing connections: too many handshaking or waiting for hello",
				"max_pending", s.cfg.MaxPending, "max_pending_per_addr", s.cfg.MaxPendingPerAddr,
				"refused", n, "remote", ci.RemoteAddr.String())
		}
		return nil, errTooMany
	}
	sl := &slot{s: s, addr: addr, known: known}
	context.AfterFunc(ctx, sl.release) // the handshake failed or the connection closed
	return context.WithValue(ctx, slotKey{}, sl), nil
}

// mustRetry is quic-go's VerifySourceAddress: once half of MaxPending is
// taken, a new connection must first echo a Retry token, which costs a
// spoofed source address its attempt and a real one a round trip.
func (s *Server) mustRetry(net.Addr) bool {
	return s.pending.Load() >= int64(max(s.cfg.MaxPending/2, 1))
}

// Pending is the number of connections handshaking or waiting for their
// Hello; Refused is how many were refused because it was at MaxPending.
func (s *Server) Pending() (pending, refused int64) {
	return s.pending.Load(), s.refused.Load()
}
