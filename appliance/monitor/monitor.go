package monitor

import (
	"context"
	"errors"
	"fmt"
	"github.com/pion/webrtc/v4"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	hist   *historyKeeper // the sound history; nil when off
	now    func() time.Time

	// The decisions and the one goroutine that carries them out
	// (applier.go): core and peers are touched only on owner, which
	// hands the slow effects to the workers, each fed in step order.
	core  *Core
	peers map[uint64]*peer // the live connections, registered at accept
	owner *coreOwner
	media *worker // pumps, key frames, WebRTC answers and sessions
	panel *worker // the LED
	mdns  *worker // the advertised pairing flag
	// speakerW carries out the speaker's jobs (speakerPart).
	speakerW *worker
	// speaker plays the soothing sounds on its own worker (speaker.go).
	speaker *speakerPart
	// The connections' sessions workers (each connection's pion jobs),
	// started by the media worker, each ending after its connection.
	sessionWorkers sync.WaitGroup
	onStep         func(Event, []Effect) // a test's view of each step, on owner
	parts          *parts                // every other goroutine the monitor starts
	ctx            context.Context

	// What the shell's loops and effects use of the transport, the store
	// and mDNS: the real ones in Open, recording fakes in shell_test.go.
	accept func(context.Context) (connection, control.Hello, error)
	events eventLog
	adv    advertiser

	known       *knownAddrs                // where trusted listeners connected from
	pagePort    atomic.Int32               // the phones' page's TCP port, for Status (SetPagePort)
	pageIP      atomic.Pointer[netip.Addr] // the one address it is bound to, if any (SetPageIP)
	webAttempts atomic.Uint64              // numbers the page's pairing attempts (devices.go)
	localIDs    atomic.Uint64              // numbers the in-process connections (local.go)
	gone        deviceWatch                // web devices' revocation watchers (devices.go)
	wake        chan struct{}              // pokes the window ticker after its deadline moved
	fatal       chan error                 // a failure the daemon cannot recover from

	once sync.Once
}

// connection is what the shell uses of a control connection
// (*transport.Conn; a recording fake in shell_test.go). The applier uses
// only the calls that never wait: TrySend, StartClose, SetTrusted.
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
	TrySend(control.Message) error
	Recv(context.Context) (control.Message, error)
	Close(control.Code, string) error
	StartClose(control.Code, string)
}

var _ connection = (*transport.Conn)(nil)

// eventLog is what the applier uses of the store (*store.Store).
type eventLog interface {
	Append(context.Context, ...store.Payload) (uint64, error)
	Compact(keepConnections int) (int, error)
}

// advertiser is what the applier uses of mDNS (*discovery.Advertiser).
type advertiser interface {
	SetPairingOpen(bool) error
	Close() error
}

// hostAdvertiser is what Status shows of mDNS, if the advertiser has it
// (*discovery.Advertiser does).
type hostAdvertiser interface {
	HostName() string
	Addrs() []netip.Addr
}

var _ hostAdvertiser = (*discovery.Advertiser)(nil)

// peer is one live connection: its I/O handles, registered in
// Monitor.peers on the owner at accept and removed there at its close.
type peer struct {
	conn connection
	ans  *rtc.Answerer // its sessions (peer connections); used by its sessions worker
	// sessions carries out its pion jobs in order; started and ended by
	// the media worker, the only goroutine that touches the field.
	sessions *worker
	status   sync.Once // starts the status pump once the peer is trusted
	hello    control.Hello
	since    time.Time
	local    *LocalPeer // an in-process connection's (local.go); nil for QUIC
	// The PAKE in progress, if any: set by the connection's goroutine
	// after pair_start, taken at pair_confirm, dropped by EndPairing.
	pake atomic.Pointer[pake.Responder]
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
	if _, err := WipeIfRequested(cfg.StateDir, m.log); err != nil {
		return nil, err
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
	perConn, total := sessionLimits(cfg.RTC)
	spk := m.openSpeaker()
	m.core = NewCore(CoreConfig{
		Name: cfg.Name, DeviceID: m.id.Fingerprint.DeviceID(), AutoStream: cfg.AutoStream,
		Window: limits, LifetimeFailures: m.st.State().Pairing.LifetimeFailures, LED: cfg.Device != nil,
		MaxStreamsPerConn: perConn, MaxStreams: total, MaxSessionID: rtc.MaxSessionID,
		Speaker: spk != nil, SoundFade: cfg.SoundFade, SoundMinute: cfg.SoundMinute,
	})
	m.startApplier()
	m.speaker = &speakerPart{m: m, spk: spk, w: m.speakerW}
	m.parts = newParts(m.fail)
	m.ctx = m.parts.ctx
	if m.st.State().Pairing.Open {
		// The daemon stopped with the window open: it is closed now.
		if _, err := m.st.Append(context.Background(), store.PairingWindowClosed{Reason: store.CloseTimeout}); err != nil {
			return nil, err
		}
	}
	if err := m.endDanglingSound(); err != nil {
		return nil, err
	}
	if err := m.endDanglingTalk(); err != nil {
		return nil, err
	}
	if cfg.Sources != nil {
		m.hub, err = media.NewHub(*cfg.Sources, cfg.MediaConfig, m.log)
	} else {
		m.hub, err = media.Open(cfg.Media, cfg.MediaConfig, m.log)
	}
	if err != nil {
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
	if !cfg.History.Off {
		if m.hist, err = openHistory(cfg.StateDir, cfg.History, m.hub.Config().Vox, m.now, m.log); err != nil {
			// Listening matters more than the history: go on without it.
			m.log.Error("history: not kept", "err", err)
			m.hist = nil
		}
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
	m.parts.Go(m.serveMicrophone)
	m.parts.Go(m.serveAccept)
	m.parts.Go(func(ctx context.Context) error { return m.serveStore(ctx, sub) })
	m.parts.Go(m.serveTicks)
	if m.hist != nil {
		m.parts.Go(m.serveHistory)
	}
	ok = true
	if cfg.PairWhenNew {
		m.pairWhenNew(limits.MaxOpen)
	}
	m.log.Info("monitor ready", "addr", m.Addr().String(), "fingerprint", m.id.Fingerprint.String(), "name", cfg.Name)
	return m, nil
}

// pairWhenNew opens the pairing window for maxOpen (0 = the window's
// maximum) when nothing is trusted, neither a listener nor a phone: the
// first pairing needs only the setup code, not the button. A locked
// monitor stays locked, and a monitor with only phones paired does not
// open at every restart.
func (m *Monitor) pairWhenNew(maxOpen time.Duration) {
	if st := m.st.State(); len(st.Allowlist) > 0 || len(st.Devices) > 0 {
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
		if err := recordCodeGeneration(m.st); err != nil {
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
	m.adv = adv // only a working one: m.adv stays a nil interface otherwise
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

// Trusted implements transport.Allowlist from the store's allowlist.
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
	if m.owner != nil && m.events != nil {
		_ = m.step(Shutdown{At: m.now()}) // a sound playing stops, recorded
	}
	m.stopApplier() // after the parts: their last steps are carried out
	if m.speaker != nil {
		m.speaker.close() // after its worker: nothing plays any more
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
	if err := m.hist.close(); err != nil {
		m.log.Error("closing the history", "err", err)
	}
	if m.st != nil {
		if err := m.st.Close(); err != nil {
			m.log.Error("closing the event log", "err", err)
		}
	}
}
