package page

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/listener/webrelay"
)

//go:embed assets
var assets embed.FS

// DefaultAddr is where Serve listens when Options.Addr is empty: loopback,
// a port the system picks.
const DefaultAddr = "127.0.0.1:0"

// Relay answers a tab's WebRTC offer with a peer connection that carries
// the session's media (package webrelay's *Relay). The dashboard holds a
// listen on the session before it calls Answer; ctx ends when the tab
// stops listening or leaves, so the relay may tie the peer connection to
// it.
type Relay interface {
	Answer(ctx context.Context, sess *listener.Session, offerSDP string, video bool) (answerSDP string, err error)
	Close() error
}

// mediaRequest is a tab's request for media: its WebRTC offer (SDP) or its
// continuous stream (no SDP), with who asks.
type mediaRequest struct {
	Session *listener.Session // the monitor's session (the dashboard's host)
	SDP     string
	Video   bool
	Talk    bool           // the page's microphone to the monitor's speaker (a sendonly offer)
	Device  string         // the phone's device id (the monitor's host)
	Remote  netip.AddrPort // the phone's address
}

// relay answers a tab's offer: the dashboard's through its Relay, the
// monitor's straight from the monitor (directRelay).
type relay interface {
	Answer(ctx context.Context, o mediaRequest) (string, error)
	Close() error
}

// sessionRelay is the dashboard's Relay as a relay.
type sessionRelay struct{ r Relay }

func (s sessionRelay) Answer(ctx context.Context, o mediaRequest) (string, error) {
	return s.r.Answer(ctx, o.Session, o.SDP, o.Video)
}
func (s sessionRelay) Close() error { return s.r.Close() }

// OggFunc writes the session's audio as one continuous Ogg/Opus HTTP
// response until ctx ends (package webrelay's ServeOgg). The dashboard
// holds a listen on the session while it runs.
type OggFunc func(ctx context.Context, w http.ResponseWriter, sess *listener.Session) error

// MonitorInfoFunc asks a monitor for its details (the "Monitor details"
// section of a card). The result is sent to the page as JSON.
type MonitorInfoFunc func(ctx context.Context, sess *listener.Session) (any, error)

// Options configure Serve. Zero values take defaults. Exactly one of
// Listener (the dashboard's host) and Monitor (the monitor's host) is
// set.
type Options struct {
	// Listener is the dashboard's host: a card per monitor it paired with.
	Listener *listener.Listener
	// Monitor is the monitor's host (cradled): its own card, phones
	// paired on the page, media straight from the monitor. Always HTTPS,
	// with a certificate from the monitor's identity key.
	Monitor MonitorHost
	// Names are more host names the page is reached by (the monitor's
	// mDNS name): accepted in Host and named in the certificate.
	Names []string
	// StateDir is the state directory: the page's access token and HTTPS
	// certificate are kept in StateDir/dashboard (the monitor's host:
	// StateDir/page). Required beyond loopback, and on the monitor's host.
	StateDir string
	// Addr is HOST:PORT to listen on (default DefaultAddr). On the
	// dashboard's host a loopback address serves plain HTTP without a
	// token; any other address serves HTTPS with the listener's own key
	// and requires the token.
	Addr string
	// Socket, when set, is served instead of listening on Addr (systemd
	// socket activation of port 443); Addr then only names it.
	Socket net.Listener
	Logger *slog.Logger
	// Discovery lets the page list the monitors on the network (mDNS).
	Discovery bool
	// NewToken replaces the access token and signs every browser out:
	// pages signed in before must open the new link.
	NewToken bool
	// Relay and Ogg carry the audio to the browser on the dashboard's
	// host; Serve uses package webrelay's when they are nil.
	Relay Relay
	Ogg   OggFunc
	// Night serves the night stream (continuous MP3) on the dashboard's
	// host; Serve uses webrelay.ServeMP3 when it is nil.
	Night OggFunc
	// MonitorInfo serves GET /api/monitors/{id}/info; Serve uses
	// Session.MonitorInfo when it is nil (a server without one answers 501).
	MonitorInfo MonitorInfoFunc
	// History serves GET /api/monitors/{id}/history (the night at a
	// glance); Serve uses listener.FetchHistory when it is nil.
	History HistoryFunc
	// Session tunes the sessions (their Stream is managed here).
	Session listener.SessionOptions
	// OnReady is called once the server listens, with the URL to open
	// (the dashboard's beyond loopback carries the token in its fragment).
	OnReady func(url string)
}

// Serve runs the page until ctx ends; it then stops every session it
// started and returns nil. It fails at once when it cannot listen.
func Serve(ctx context.Context, opt Options) error {
	if (opt.Listener == nil) == (opt.Monitor == nil) {
		return errors.New("page: set one of Options.Listener and Options.Monitor")
	}
	if opt.Addr == "" {
		opt.Addr = DefaultAddr
	}
	ln := opt.Socket
	if ln != nil {
		opt.Addr = ln.Addr().String()
	}
	host, _, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return fmt.Errorf("page: --listen %q: give HOST:PORT, e.g. 127.0.0.1:48090 or 0.0.0.0:48090", opt.Addr)
	}
	loopback := IsLoopbackBind(host)
	if (!loopback || opt.Monitor != nil) && opt.StateDir == "" {
		return errors.New("page: Options.StateDir is required")
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", opt.Addr); err != nil {
			return fmt.Errorf("page: %w", err)
		}
	}
	if opt.Monitor == nil && opt.Relay == nil {
		r, err := webrelay.New(webrelay.Config{Logger: opt.Logger, IncludeLoopback: loopback})
		if err != nil {
			ln.Close()
			return err
		}
		opt.Relay = r
	}
	if opt.Ogg == nil {
		opt.Ogg = webrelay.ServeOgg
	}
	if opt.Night == nil {
		opt.Night = webrelay.ServeMP3
	}
	if opt.MonitorInfo == nil {
		opt.MonitorInfo = sessionInfo
	}
	s, err := newServer(opt, ln.Addr().(*net.TCPAddr), loopback)
	if err != nil {
		if opt.Relay != nil {
			opt.Relay.Close()
		}
		ln.Close()
		return err
	}
	defer s.close()
	return s.serve(ctx, ln, s.tls)
}

// serve runs the HTTP server on ln until ctx ends, with package page's
// connection limits, and TLS unless tlsCfg is nil.
func (s *server) serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	base, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:     s.handler(),
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	ln = Protect(srv, ln, tlsCfg, s.limits)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Never the token: a service's log is read by more than the parents.
	s.log.Info("page listening", "url", s.publicURL)
	if s.opt.OnReady != nil {
		s.opt.OnReady(s.url)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	cancel() // ends the event streams, so Shutdown need not wait for them
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// server is the page: its guard, its pool and its handlers.
type server struct {
	opt       Options
	log       *slog.Logger
	guard     *Guard
	access    *access
	limits    Limits
	pool      *sessionPool
	relay     relay                                                                  // nil: no media in the browser
	talkRelay relay                                                                  // the page's talk to the monitor; nil: none
	oggStream func(ctx context.Context, w http.ResponseWriter, o mediaRequest) error // the continuous stream
	night     func(ctx context.Context, w http.ResponseWriter, o mediaRequest) error // the night stream (MP3)
	watch     *nightWatch                                                            // the night streams' alarm, on the monitor's host
	url       string                                                                 // to open: the dashboard's beyond loopback with the token in its fragment
	publicURL string                                                                 // url without the token, for the log
	tls       *tlsConfig
	streams   chan struct{} // a slot per open event or audio stream
	pairing   chan struct{} // one pairing or discovery at a time
	wav       []byte

	badTokenAt atomic.Int64 // unix nanoseconds of the last wrong token warned of
}

// newServer builds the page for a server bound to addr and starts a
// session for every monitor of its host.
func newServer(opt Options, addr *net.TCPAddr, loopback bool) (*server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Session.Logger == nil {
		opt.Session.Logger = opt.Logger
	}
	if opt.History == nil {
		opt.History = sessionHistory
	}
	hosts, ips, names := HostsFor(addr.IP)
	for _, n := range opt.Names {
		if n = NormHost(n); n != "" && !hosts[n] {
			hosts[n] = true
			names = append(names, n)
		}
	}
	acc := &access{loopback: loopback && opt.Monitor == nil, devices: opt.Monitor}
	s := &server{
		opt: opt, log: opt.Logger,
		access: acc,
		guard: &Guard{
			Port:       strconv.Itoa(addr.Port),
			Hosts:      hosts,
			Authorized: acc.authorized,
			Public:     acc.public,
		},
		limits:  DefaultLimits,
		streams: make(chan struct{}, maxStreams),
		pairing: make(chan struct{}, 1),
		wav:     alarmWAV(),
	}
	s.guard.Refuse = s.refuse
	urlHost := addr.IP.String()
	if addr.IP.IsUnspecified() {
		urlHost = firstLANAddr(ips)
	}
	if addr.Port != 443 {
		urlHost = net.JoinHostPort(urlHost, strconv.Itoa(addr.Port))
	} else if strings.Contains(urlHost, ":") {
		urlHost = "[" + urlHost + "]"
	}
	var id *identity.Identity
	var certDir string
	switch {
	case opt.Monitor != nil:
		id, certDir = opt.Monitor.Identity(), filepath.Join(opt.StateDir, "page")
		dr := directRelay(opt.Monitor)
		s.relay, s.talkRelay = dr, dr
		s.oggStream = monitorStream(opt.Monitor, nil, webrelay.ServeOggFrom)
		s.watch = newNightWatch(opt.Monitor, func(st alarm.State) { s.pool.inject(opt.Monitor.Self().DeviceID, listener.AlarmEvent{State: st}) })
		s.night = monitorStream(opt.Monitor, s.watch, webrelay.ServeMP3From)
	case loopback:
		s.url = "http://" + urlHost + "/"
		s.publicURL = s.url
	default:
		certDir = filepath.Join(opt.StateDir, "dashboard")
		tok, err := loadToken(certDir, opt.NewToken)
		if err != nil {
			return nil, err
		}
		acc.token = tok
		if acc.browsers, err = loadBrowsers(certDir, opt.NewToken); err != nil {
			return nil, err
		}
		lid, _, err := identity.LoadOrCreate(filepath.Join(opt.StateDir, "identity"), identity.RoleListener, opt.Listener.Name())
		if err != nil {
			return nil, err
		}
		if lid.Fingerprint != opt.Listener.Fingerprint() {
			return nil, errors.New("dashboard: the state directory holds another listener's identity")
		}
		id = lid
	}
	if opt.Monitor == nil {
		s.talkRelay = listenerTalk(opt.Listener)
		if opt.Relay != nil {
			s.relay = sessionRelay{opt.Relay}
		}
		if ogg := opt.Ogg; ogg != nil {
			s.oggStream = func(ctx context.Context, w http.ResponseWriter, o mediaRequest) error { return ogg(ctx, w, o.Session) }
		}
		if night := opt.Night; night != nil {
			s.night = func(ctx context.Context, w http.ResponseWriter, o mediaRequest) error {
				return night(ctx, w, o.Session)
			}
		}
	}
	if addr.IP.IsUnspecified() {
		s.guard.Local = (&localAddrs{}).has
	}
	if id != nil {
		cert, err := serverCert(id, certDir, ips, names, time.Now())
		if err != nil {
			return nil, err
		}
		s.tls = newTLSConfig(cert)
		if addr.IP.IsUnspecified() {
			lc := &liveCert{id: id, dir: certDir, names: names, now: time.Now, ips: ips, cert: cert}
			s.tls = lc.tlsConfig()
		}
		s.publicURL = "https://" + urlHost + "/"
		s.url = s.publicURL
		if acc.token != "" {
			s.url += "#token=" + acc.token
		}
	}
	s.pool = newSessionPool(opt.Listener, opt.Logger, opt.Session, maxListens)
	if opt.Monitor != nil {
		monitorSessions(s.pool, opt.Monitor, opt.Session)
		s.pool.onStatus = func(ev listener.StatusEvent) {
			s.watch.faults(slices.Contains(ev.Status.Faults, control.FaultMicrophone))
		}
	}
	if err := s.pool.load(); err != nil {
		s.pool.close()
		return nil, err
	}
	return s, nil
}

// close stops the sessions and the relays.
func (s *server) close() {
	s.pool.close()
	if s.relay != nil {
		s.relay.Close()
	}
	if s.talkRelay != nil && s.talkRelay != s.relay {
		s.talkRelay.Close()
	}
}

// firstLANAddr picks the address to print for a server on every
// interface: an IPv4 one, else an IPv6 one, else (no network yet, a Pi
// whose DHCP lease has not come) 127.0.0.1, which at least works on this
// machine; cradled also prints its .local name.
func firstLANAddr(ips []net.IP) string {
	usable := func(ip net.IP) bool { return !ip.IsLoopback() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() }
	for _, ip := range ips {
		if ip.To4() != nil && usable(ip) {
			return ip.String()
		}
	}
	for _, ip := range ips {
		if usable(ip) {
			return ip.String()
		}
	}
	return "127.0.0.1"
}

// handler routes the dashboard's requests, behind the guard.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /alarm.wav", s.alarmSound)
	mux.HandleFunc("GET "+signInPath, s.signInState)
	mux.HandleFunc("POST "+signInPath, s.signIn)
	mux.HandleFunc("POST "+signOutPath, s.signOut)
	mux.HandleFunc("GET /api/events", s.events)
	if s.opt.Listener != nil { // the dashboard pairs with monitors; the monitor's page pairs phones
		mux.HandleFunc("GET /api/monitors", s.monitors)
		mux.HandleFunc("GET /api/discover", s.discover)
		mux.HandleFunc("POST /api/pair", s.pair)
		mux.HandleFunc("POST /api/monitors/{id}/forget", s.forget)
	}
	mux.HandleFunc("POST /api/monitors/{id}/listen", s.listen)
	mux.HandleFunc("POST /api/monitors/{id}/stop", s.stop)
	mux.HandleFunc("POST /api/monitors/{id}/offer", s.offer)
	mux.HandleFunc("POST /api/monitors/{id}/ack", s.ack)
	mux.HandleFunc("POST /api/monitors/{id}/pairing/open", s.pairingWindow(true))
	mux.HandleFunc("POST /api/monitors/{id}/pairing/close", s.pairingWindow(false))
	mux.HandleFunc("POST /api/monitors/{id}/talk", s.talk)
	mux.HandleFunc("POST /api/monitors/{id}/talk/stop", s.talkStop)
	mux.HandleFunc("POST /api/monitors/{id}/sound/start", s.soundStart)
	mux.HandleFunc("POST /api/monitors/{id}/sound/stop", s.soundStop)
	mux.HandleFunc("GET /api/monitors/{id}/audio.ogg", s.ogg)
	mux.HandleFunc("GET /api/monitors/{id}/night.mp3", s.nightMP3)
	mux.HandleFunc("GET /api/monitors/{id}/info", s.info)
	mux.HandleFunc("GET /api/monitors/{id}/history", s.history)
	mux.HandleFunc("POST "+devicePairPath, s.pairDevice)
	mux.HandleFunc("GET /api/devices", s.devicesList)
	mux.HandleFunc("POST /api/devices/{id}/rename", s.deviceRename)
	mux.HandleFunc("POST /api/devices/{id}/revoke", s.deviceRevoke)
	return s.guard.Wrap(mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body into v; it writes the problem and
// returns false when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Read to the end within the guard's deadline, then lift it: a
		// handler may run long (a pairing), and the server's read of the
		// idle connection must not end its context.
		_, err = io.Copy(io.Discard, r.Body)
		http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeProblem(w, probTooLarge)
		} else {
			writeProblem(w, probBadRequest)
		}
		return false
	}
	return true
}

func (s *server) alarmSound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "max-age=86400")
	http.ServeContent(w, r, "alarm.wav", time.Time{}, bytesReader(s.wav))
}
