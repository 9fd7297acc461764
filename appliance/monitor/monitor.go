package monitor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/pion/webrtc/v4"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/admin"
	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/discovery"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/presence"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store"
)

// Bounds on unpaired connections (see Core): served at once, from one
// address, and how long one is served while it is not pairing (the code
// is typed before connecting; pairing takes two round trips).
const (
	maxUntrusted        = 8
	maxUntrustedPerAddr = 2
	unpairedLifetime    = 30 * time.Second
)

// Retention of connection events: when keepConnections*2 connection
// events have accumulated, the older ones are compacted away (trust
// events are never dropped).
const keepConnections = 1000

// Monitor is a running monitor daemon.
type Monitor struct {
	cfg    Config
	log    *slog.Logger
	st     *store.Store
	id     *identity.Identity
	codeMu sync.Mutex   // guards code: a factory reset renews it
	code   pairing.Code // the setup code; never log it
	srv    *transport.Server
	adm    *admin.Server
	tracks *sharedTracks // the audio and video tracks every session sends
	hub    *media.Hub
	adv    *discovery.Advertiser
	now    func() time.Time

	core  *Core      // the decisions (core.go): touched only on owner
	owner *coreOwner // the one goroutine that steps and reads core
	parts *parts     // every other goroutine the monitor starts
	ctx   context.Context

	// What the shell's loops and effects use of the transport and the
	// store: the real ones in Open, recording fakes in shell_test.go.
	accept func(context.Context) (connection, control.Hello, error)
	events eventLog

	known *knownAddrs // where trusted listeners connected from

	genMu          sync.Mutex // orders the state effects (applyNewest)
	ledGen, advGen uint64     // the last LED and Advertise applied

	mu    sync.Mutex       // guards peers and each peer's pake; never the core
	peers map[uint64]*peer // the live connections the core knows
	wake  chan struct{}    // pokes the window ticker after its deadline moved
	fatal chan error       // a failure the daemon cannot recover from

	once sync.Once
}

// connection is what the shell uses of a control connection
// (*transport.Conn; a recording fake in shell_test.go).
type connection interface {
	ID() uint64
	Peer() identity.Fingerprint
	RemoteAddr() net.Addr
	Trusted() bool
	SetTrusted(bool)
	Exporter() ([]byte, error)
	Stats() presence.Stats
	Done() <-chan struct{}
	Err() error
	Send(context.Context, control.Message) error
	Recv(context.Context) (control.Message, error)
	Close(control.Code, string) error
}

var _ connection = (*transport.Conn)(nil)

// eventLog is what the effects use of the store (*store.Store).
type eventLog interface {
	Append(context.Context, ...store.Payload) (uint64, error)
	Compact(keepConnections int) (int, error)
}

// peer is one live connection. pake is guarded by Monitor.mu.
type peer struct {
	conn   connection
	ans    *rtc.Answerer // its sessions (peer connections)
	status sync.Once     // starts the status pump once the peer is trusted
	hello  control.Hello
	since  time.Time
	pake   *pake.Monitor // the pairing session in progress, if any
}

// Open loads (or creates) the monitor's state, binds the control channel
// and the admin socket, and starts serving. Close stops it.
func Open(cfg Config) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("monitor: invalid configuration: %w", err)
	}
	cfg = cfg.WithDefaults()
	m := &Monitor{cfg: cfg, log: cfg.Logger, now: time.Now, peers: map[uint64]*peer{}, wake: make(chan struct{}, 1), fatal: make(chan error, 1), known: newKnownAddrs()}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("monitor: create state directory: %w", err)
	}
	// A directory that already existed (an older install, a hand-made
	// one) is tightened too: it holds the key and who is trusted.
	if fi, err := os.Stat(cfg.StateDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("monitor: restrict the state directory %s to its owner: %w", cfg.StateDir, err)
		}
		m.log.Warn("state directory was open to others: restricted it to its owner", "dir", cfg.StateDir, "was", fi.Mode().Perm().String())
	}
	ok := false
	defer func() {
		if !ok {
			m.closeResources()
		}
	}()
	var err error
	if m.st, err = store.Open(filepath.Join(cfg.StateDir, "events.db"), store.Options{Logger: m.log}); err != nil {
		return nil, err
	}
	if err := m.loadIdentity(); err != nil {
		return nil, err
	}
	limits := cfg.limits
	limits.DefaultOpen = cfg.PairingWindow
	m.core = NewCore(CoreConfig{
		Name: cfg.Name, DeviceID: m.id.Fingerprint.DeviceID(), AutoStream: cfg.AutoStream,
		Window: limits, LifetimeFailures: m.st.State().Pairing.LifetimeFailures, LED: cfg.Device != nil,
		MaxStreamsPerConn: cfg.RTC.MaxSessionsPerConn, MaxStreams: cfg.RTC.MaxSessions,
	})
	m.owner = startCoreOwner()
	m.parts = newParts(m.fail)
	m.ctx = m.parts.ctx
	if m.st.State().Pairing.Open {
		// The daemon stopped with the window open: it is closed now.
		if _, err := m.st.Append(context.Background(), store.PairingWindowClosed{Reason: store.CloseTimeout}); err != nil {
			return nil, err
		}
	}
	if m.hub, err = media.Open(cfg.Media, cfg.MediaConfig, m.log); err != nil {
		return nil, fmt.Errorf("monitor: media: %w", err)
	}
	rcfg := cfg.RTC
	if rcfg.Logger == nil {
		rcfg.Logger = m.log
	}
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil {
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			rcfg.IncludeLoopback = true
		}
	}
	engine, err := rtc.NewEngine(rcfg)
	if err != nil {
		return nil, fmt.Errorf("monitor: webrtc: %w", err)
	}
	videoMime := rcfg.VideoMimeType
	if videoMime == "" {
		videoMime = webrtc.MimeTypeVP8
	}
	if m.tracks, err = newSharedTracks(m.hub, engine, videoMime); err != nil {
		return nil, err
	}
	m.known.seed(m.st.State())
	if m.srv, err = transport.Listen(cfg.Listen, m.id, m, transport.Config{Heartbeat: cfg.Heartbeat, Logger: m.log, Known: m.known.has}); err != nil {
		return nil, fmt.Errorf("monitor: cannot serve the control channel on %s: %w (is another cradled running?)", cfg.Listen, err)
	}
	m.events = m.st
	m.accept = func(ctx context.Context) (connection, control.Hello, error) {
		c, hello, err := m.srv.Accept(ctx)
		if err != nil {
			return nil, hello, err
		}
		return c, hello, nil
	}
	if cfg.Advertise {
		if err := m.advertise(); err != nil {
			return nil, err
		}
	}
	if m.adm, err = admin.Listen(cfg.AdminSocket, adminBackend{m}, m.log); err != nil {
		return nil, err
	}
	sub := m.st.Subscribe(m.st.State().Seq)
	if cfg.Device != nil {
		m.parts.Go(m.serveButtons)
		m.parts.Go(m.serveHealth)
	}
	m.checkHealth()
	m.parts.Go(m.serveAccept)
	m.parts.Go(func(ctx context.Context) error { return m.serveStore(ctx, sub) })
	m.parts.Go(m.serveTicks)
	ok = true
	if cfg.PairWhenNew {
		m.pairWhenNew(limits.MaxOpen)
	}
	m.log.Info("monitor ready", "addr", m.Addr().String(), "fingerprint", m.id.Fingerprint.String(), "name", cfg.Name)
	return m, nil
}

// pairWhenNew opens the pairing window for maxOpen (0 = the window's
// maximum) when no listener is trusted: the first pairing needs only the
// setup code, not the button. A locked monitor stays locked.
func (m *Monitor) pairWhenNew(maxOpen time.Duration) {
	if n := len(m.st.State().Allowlist); n > 0 {
		return
	}
	if maxOpen <= 0 {
		maxOpen = pairing.DefaultWindowMax
	}
	until, err := m.OpenPairing(maxOpen)
	if err != nil {
		m.log.Warn("no listener is trusted, but the pairing window cannot open", "err", err)
		return
	}
	m.log.Info("no listener is trusted yet: pairing open without the button", "until", until.Format(time.TimeOnly))
}

func (m *Monitor) loadIdentity() error {
	id, created, err := identity.LoadOrCreate(filepath.Join(m.cfg.StateDir, "identity"), control.RoleMonitor, m.cfg.Name)
	if err != nil {
		return err
	}
	m.id = id
	if created || m.st.State().Identity == nil {
		if _, err := m.st.Append(context.Background(), store.IdentityCreated{Role: control.RoleMonitor, Fingerprint: id.Fingerprint, Name: m.cfg.Name}); err != nil {
			return err
		}
	}
	code, created, err := pairing.LoadOrCreateCode(m.cfg.StateDir, m.cfg.SetupCode)
	if err != nil {
		return err
	}
	m.code = code
	if created || m.st.State().SetupCode == nil {
		gen, err := pairing.NewCodeID(rand.Reader)
		if err != nil {
			return err
		}
		// Only a random generation id: the event log never holds the code.
		if _, err := m.st.Append(context.Background(), store.SetupCodeSet{Scheme: "generation-id", Salt: gen[:]}); err != nil {
			return err
		}
	}
	return nil
}

// advertise starts the mDNS advertisement.
func (m *Monitor) advertise() error {
	ac := discovery.AdvertiseConfig{
		Instance: m.cfg.Name, Port: m.Addr().Port, DeviceID: m.id.Fingerprint.DeviceID(),
		Fingerprint: m.id.Fingerprint.String(), Protocol: control.ProtocolVersion,
		Interface: m.cfg.AdvertiseInterface, Logger: m.log,
	}
	if ip, ok := netip.AddrFromSlice(m.Addr().IP); ok && !ip.Unmap().IsUnspecified() {
		ac.IPs = []netip.Addr{ip.Unmap()}
	}
	adv, err := discovery.NewAdvertiser(ac)
	if err != nil {
		return fmt.Errorf("monitor: mDNS: %w", err)
	}
	m.adv = adv
	return nil
}

// Addr is the bound control-channel address.
func (m *Monitor) Addr() *net.UDPAddr { return m.srv.Addr() }

// Fingerprint is the monitor's identity.
func (m *Monitor) Fingerprint() identity.Fingerprint { return m.id.Fingerprint }

// SetupCode is the monitor's setup code (never log it).
func (m *Monitor) SetupCode() pairing.Code {
	m.codeMu.Lock()
	defer m.codeMu.Unlock()
	return m.code
}

// Store is the monitor's event log.
func (m *Monitor) Store() *store.Store { return m.st }

// Trusted implements transport.Gate from the store's allowlist.
func (m *Monitor) Trusted(fp identity.Fingerprint) bool {
	_, ok := m.st.State().Allowlist[fp]
	return ok
}

// Fatal delivers an error after which the monitor cannot serve (its
// owner exits non-zero so that systemd restarts it).
func (m *Monitor) Fatal() <-chan error { return m.fatal }

func (m *Monitor) fail(err error) {
	select {
	case m.fatal <- err:
	default:
	}
}

// Healthy reports whether the monitor serves: its event log answers and
// no fatal error happened.
func (m *Monitor) Healthy() error {
	if len(m.fatal) > 0 {
		return errors.New("monitor: a fatal error happened")
	}
	return m.st.Events(m.st.State().Seq, func(store.Event) error { return nil })
}

// Close closes every connection with going_away, stops serving, and closes
// the store. It is idempotent.
func (m *Monitor) Close() error {
	m.once.Do(func() {
		m.parts.cancel()
		if m.srv != nil {
			m.srv.Close() // closes every conn with going_away; their loops end
		}
		m.closeResources()
	})
	return nil
}

// closeResources stops the parts (their last steps recorded: the core's
// owner outlives them), then the owner, then the rest.
func (m *Monitor) closeResources() {
	if m.parts != nil {
		m.parts.stop()
	}
	if m.owner != nil {
		m.owner.stop()
	}
	if m.adm != nil {
		m.adm.Close()
	}
	if m.adv != nil {
		m.adv.Close() // sends goodbye packets
	}
	if m.srv != nil {
		m.srv.Close()
	}
	if m.tracks != nil {
		m.tracks.close()
	}
	if m.hub != nil {
		m.hub.Close()
	}
	if m.st != nil {
		if err := m.st.Close(); err != nil {
			m.log.Error("closing the event log", "err", err)
		}
	}
}

// serveAccept takes connections from the transport, asks the core's
// gate, and starts serve for each one admitted. An Accept failure while
// the monitor runs is fatal.
func (m *Monitor) serveAccept(ctx context.Context) error {
	for {
		c, hello, err := m.accept(ctx)
		if err != nil {
			return fmt.Errorf("monitor: accepting connections stopped: %w", err)
		}
		p := &peer{conn: c, hello: hello, since: m.now()}
		if c.Trusted() {
			m.known.addConn(c.RemoteAddr(), p.since)
		}
		p.ans = m.newAnswerer(p)
		var eff []Effect
		ev := ConnAccepted{At: p.since, Conn: c.ID(), Peer: c.Peer(), Remote: c.RemoteAddr().String(), Trusted: c.Trusted()}
		err = m.owner.run(func() {
			// With the step, on the owner: no other step's effects can
			// miss the new peer.
			eff, _ = m.core.Step(ev)
			if cl, refused := first(eff).(Close); !refused || cl.Conn != ev.Conn {
				m.mu.Lock()
				m.peers[c.ID()] = p
				m.mu.Unlock()
			}
		})
		refusal, refused := first(eff).(Close)
		refused = refused && refusal.Conn == ev.Conn
		if err != nil || refused {
			p.ans.Close()
			if refused {
				// Strangers can knock as fast as they like: a debug line.
				m.log.Log(ctx, levelFor(false, slog.LevelWarn), "too many unpaired connections: refusing one", "remote", c.RemoteAddr().String())
				c.Close(refusal.Code, refusal.Reason)
			} else {
				c.Close(control.CodeGoingAway, "")
			}
			continue
		}
		m.parts.Go(func(context.Context) error {
			m.serve(p, eff)
			return nil
		})
	}
}

func first(eff []Effect) Effect {
	if len(eff) == 0 {
		return nil
	}
	return eff[0]
}

// serve runs one connection: the core's welcome (record, hello-ack,
// status), then its messages until it closes.
func (m *Monitor) serve(p *peer, welcome []Effect) {
	c := p.conn
	log := m.log.With("conn", c.ID(), "peer", c.Peer(), "remote", c.RemoteAddr().String())
	// A stranger's comings and goings (and the name it chose) are debug
	// lines: it can connect as often as it likes.
	log.Log(m.ctx, levelFor(c.Trusted(), slog.LevelInfo), "listener connected", "trusted", c.Trusted(), "name", control.Truncate(p.hello.Name, maxPeerText))
	defer func() {
		p.ans.Close() // its sessions end; the core forgets them at ConnClosed
		err := c.Err()
		_ = m.step(ConnClosed{At: m.now(), Conn: c.ID(), Err: err})
		m.mu.Lock()
		delete(m.peers, c.ID())
		m.mu.Unlock()
		m.poke()
		log.Log(m.ctx, levelFor(c.Trusted(), slog.LevelInfo), "listener disconnected", "reason", closeReason(err), "err", err)
	}()
	_ = m.do(welcome)
	for {
		msg, err := c.Recv(m.ctx)
		if err != nil {
			c.Close(control.CodeGoingAway, "")
			return
		}
		if err := m.handle(p, msg); err != nil {
			// A stranger can fail requests as fast as it can send them:
			// its failures are debug lines, never the default log.
			log.Log(m.ctx, levelFor(c.Trusted(), slog.LevelWarn), "request failed", "type", msg.MessageType(), "err", control.Truncate(err.Error(), maxPeerText))
			if !errors.As(err, new(Answered)) {
				_ = c.Send(m.ctx, control.ErrorMessage(err, msg.MessageType()))
			}
		}
	}
}

func (m *Monitor) handle(p *peer, msg control.Message) error {
	switch msg := msg.(type) {
	case control.PairStart:
		return m.pairStart(p, msg)
	case control.PairConfirm:
		return m.pairConfirm(p, msg)
	case control.Bye:
		p.conn.Close(control.CodeNone, "bye")
		return nil
	case control.ErrorMsg:
		m.log.Log(m.ctx, levelFor(p.conn.Trusted(), slog.LevelInfo), "listener reported an error",
			"conn", p.conn.ID(), "code", control.Truncate(msg.Code, maxPeerText), "message", control.Truncate(msg.Message, maxPeerText))
		return nil
	case control.StreamStart:
		return m.step(StreamStart{Conn: p.conn.ID(), Session: msg.Session, Kind: msg.Kind})
	case control.WebRTCOffer:
		return m.step(StreamOffer{Conn: p.conn.ID(), Session: msg.Session, SDP: msg.SDP})
	case control.WebRTCICE:
		return p.ans.AddCandidate(msg.Session, msg)
	case control.StreamStop:
		return m.step(StreamStop{Conn: p.conn.ID(), Session: msg.Session})
	case control.InfoRequest:
		return p.conn.Send(m.ctx, m.info(p))
	case control.PairOpen:
		if msg.DurationMillis < 0 || msg.DurationMillis > int64(pairing.DefaultWindowMax/time.Millisecond)*4 {
			return control.Errorf(control.CodeBadRequest, "duration_ms %d out of range", msg.DurationMillis)
		}
		err := m.step(PairOpen{At: m.now(), Conn: p.conn.ID(), D: time.Duration(msg.DurationMillis) * time.Millisecond})
		if err == nil {
			m.log.Info("pairing window opened by a paired listener", "conn", p.conn.ID(), "peer", p.conn.Peer())
		}
		return err
	case control.PairClose:
		err := m.step(PairClose{At: m.now(), Conn: p.conn.ID()})
		if err == nil {
			m.log.Info("pairing window closed by a paired listener", "conn", p.conn.ID(), "peer", p.conn.Peer())
		}
		return err
	default:
		return control.Errorf(control.CodeProtocol, "unexpected %s from a listener", msg.MessageType())
	}
}

// maxPeerText bounds a string a peer chose (an error's code or message)
// in the log.
const maxPeerText = 120

// levelFor is level for a trusted peer, and debug for a stranger, whose
// messages must not fill the log.
func levelFor(trusted bool, level slog.Level) slog.Level {
	if trusted {
		return level
	}
	return slog.LevelDebug
}
