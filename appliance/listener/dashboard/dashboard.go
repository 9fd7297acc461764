package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/webrelay"
	"github.com/cradle-monitor/cradle/appliance/pairing"
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

// OggFunc writes the session's audio as one continuous Ogg/Opus HTTP
// response until ctx ends (package webrelay's ServeOgg). The dashboard
// holds a listen on the session while it runs.
type OggFunc func(ctx context.Context, w http.ResponseWriter, sess *listener.Session) error

// MonitorInfoFunc asks a monitor for its details (the "Monitor details"
// section of a card). The result is sent to the page as JSON.
type MonitorInfoFunc func(ctx context.Context, sess *listener.Session) (any, error)

// Options configure Serve. Zero values take defaults.
type Options struct {
	Listener *listener.Listener // required
	// StateDir is the listener's state directory: the page's access token
	// and HTTPS certificate are kept in StateDir/dashboard. Required
	// beyond loopback.
	StateDir string
	// Addr is HOST:PORT to listen on (default DefaultAddr). A loopback
	// address serves plain HTTP without a token; any other address
	// serves HTTPS with the listener's own key and requires the token.
	Addr   string
	Logger *slog.Logger
	// Discovery lets the page list the monitors on the network (mDNS).
	Discovery bool
	// NewToken replaces the access token: pages signed in before must
	// open the new link.
	NewToken bool
	// Relay and Ogg carry the audio to the browser; Serve uses package
	// webrelay's when they are nil.
	Relay Relay
	Ogg   OggFunc
	// MonitorInfo serves GET /api/monitors/{id}/info; Serve uses
	// Session.MonitorInfo when it is nil (a server without one answers 501).
	MonitorInfo MonitorInfoFunc
	// Session tunes the sessions (their Stream is managed here).
	Session listener.SessionOptions
	// OnReady is called once the server listens, with the URL to open
	// (beyond loopback it carries the token in its fragment).
	OnReady func(url string)
}

// Serve runs the dashboard until ctx ends; it then stops every session
// it started and returns nil. It fails at once when it cannot listen.
func Serve(ctx context.Context, opt Options) error {
	if opt.Listener == nil {
		return errors.New("dashboard: Options.Listener is required")
	}
	if opt.Addr == "" {
		opt.Addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return fmt.Errorf("dashboard: --listen %q: give HOST:PORT, e.g. 127.0.0.1:48090 or 0.0.0.0:48090", opt.Addr)
	}
	loopback := isLoopbackBind(host)
	if !loopback && opt.StateDir == "" {
		return errors.New("dashboard: Options.StateDir is required beyond loopback")
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	if opt.Relay == nil {
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
	if opt.MonitorInfo == nil {
		opt.MonitorInfo = sessionInfo
	}
	s, err := newServer(opt, ln.Addr().(*net.TCPAddr), loopback)
	if err != nil {
		opt.Relay.Close()
		ln.Close()
		return err
	}
	defer s.close()
	ln = newLimitListener(ln, maxConns)
	if s.tls != nil {
		ln = tlsListener(ln, s.tls)
	}
	return s.serve(ctx, ln)
}

// serve runs the HTTP server on ln until ctx ends.
func (s *server) serve(ctx context.Context, ln net.Listener) error {
	base, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("dashboard listening", "url", s.url)
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

// server is the dashboard: its gate, its hub and its handlers.
type server struct {
	opt     Options
	log     *slog.Logger
	gate    *gate
	hub     *hub
	url     string
	tls     *tlsConfig
	streams chan struct{} // a slot per open event or audio stream
	pairing chan struct{} // one pairing or discovery at a time
	wav     []byte

	badTokenAt atomic.Int64 // unix nanoseconds of the last wrong token warned of
}

// newServer builds the dashboard for a server bound to addr and starts a
// session for every paired monitor.
func newServer(opt Options, addr *net.TCPAddr, loopback bool) (*server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Session.Logger == nil {
		opt.Session.Logger = opt.Logger
	}
	hosts, ips, names := hostsFor(addr.IP)
	s := &server{
		opt: opt, log: opt.Logger,
		gate:    &gate{loopback: loopback, port: strconv.Itoa(addr.Port), hosts: hosts},
		streams: make(chan struct{}, maxStreams),
		pairing: make(chan struct{}, 1),
		wav:     alarmWAV(),
	}
	urlHost := addr.IP.String()
	if addr.IP.IsUnspecified() {
		urlHost = firstLANAddr(ips)
	}
	urlHost = net.JoinHostPort(urlHost, strconv.Itoa(addr.Port))
	if loopback {
		s.url = "http://" + urlHost + "/"
	} else {
		dir := filepath.Join(opt.StateDir, "dashboard")
		tok, err := loadToken(dir, opt.NewToken)
		if err != nil {
			return nil, err
		}
		s.gate.token = tok
		id, _, err := identity.LoadOrCreate(filepath.Join(opt.StateDir, "identity"), identity.RoleListener, opt.Listener.Name())
		if err != nil {
			return nil, err
		}
		if id.Fingerprint != opt.Listener.Fingerprint() {
			return nil, errors.New("dashboard: the state directory holds another listener's identity")
		}
		cert, err := serverCert(id, dir, ips, names, time.Now())
		if err != nil {
			return nil, err
		}
		s.tls = newTLSConfig(cert)
		s.url = "https://" + urlHost + "/#token=" + tok
	}
	s.hub = newHub(opt.Listener, opt.Logger, opt.Session, maxListens)
	if err := s.hub.load(); err != nil {
		s.hub.close()
		return nil, err
	}
	return s, nil
}

// close stops the sessions and the relay.
func (s *server) close() {
	s.hub.close()
	if s.opt.Relay != nil {
		s.opt.Relay.Close()
	}
}

// firstLANAddr picks the address to print for a server on every interface.
func firstLANAddr(ips []net.IP) string {
	for _, ip := range ips {
		if ip.To4() != nil && !ip.IsLoopback() {
			return ip.String()
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return ip.String()
		}
	}
	return "127.0.0.1"
}

// handler routes the dashboard's requests, behind the gate.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /alarm.wav", s.alarmSound)
	mux.HandleFunc("GET /api/session", s.sessionState)
	mux.HandleFunc("POST /api/session", s.signIn)
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("GET /api/monitors", s.monitors)
	mux.HandleFunc("GET /api/discover", s.discover)
	mux.HandleFunc("POST /api/pair", s.pair)
	mux.HandleFunc("POST /api/monitors/{id}/listen", s.listen)
	mux.HandleFunc("POST /api/monitors/{id}/stop", s.stop)
	mux.HandleFunc("POST /api/monitors/{id}/offer", s.offer)
	mux.HandleFunc("POST /api/monitors/{id}/ack", s.ack)
	mux.HandleFunc("POST /api/monitors/{id}/forget", s.forget)
	mux.HandleFunc("POST /api/monitors/{id}/pairing/open", s.pairingWindow(true))
	mux.HandleFunc("POST /api/monitors/{id}/pairing/close", s.pairingWindow(false))
	mux.HandleFunc("GET /api/monitors/{id}/audio.ogg", s.ogg)
	mux.HandleFunc("GET /api/monitors/{id}/info", s.info)
	return s.gate.guard(mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	if p.status == 0 {
		p.status = http.StatusInternalServerError
	}
	writeJSON(w, p.status, p)
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

// hubProblem maps the hub's errors.
func hubProblem(err error) Problem {
	switch {
	case errors.Is(err, errUnknownMonitor):
		return probUnknownMon
	case errors.Is(err, errTabGone):
		return probTabGone
	case errors.Is(err, errTooMany):
		return probTooMany
	case errors.Is(err, errNotListening):
		return probNotListening
	}
	return problemFor(err)
}

func (s *server) alarmSound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "max-age=86400")
	http.ServeContent(w, r, "alarm.wav", time.Time{}, bytesReader(s.wav))
}

// sessionState tells the page whether it must sign in.
func (s *server) sessionState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{
		"loopback":     s.gate.loopback,
		"signed_in":    s.gate.authorized(r),
		"discovery":    s.opt.Discovery,
		"relay":        s.opt.Relay != nil,
		"ogg":          s.opt.Ogg != nil,
		"https":        r.TLS != nil,
		"monitor_info": s.opt.MonitorInfo != nil,
	})
}

// signIn exchanges the token (from the URL's fragment) for a cookie.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if s.gate.loopback {
		writeJSON(w, http.StatusOK, map[string]bool{"signed_in": true})
		return
	}
	if !s.gate.tokenOK(req.Token) {
		// A stranger can send wrong tokens as fast as the network allows:
		// one warning a minute, the rest at debug level.
		level := slog.LevelDebug
		if now := time.Now().UnixNano(); now-s.badTokenAt.Load() >= int64(time.Minute) {
			s.badTokenAt.Store(now)
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "dashboard: a page offered a wrong access token", "from", r.RemoteAddr)
		writeProblem(w, probUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.gate.token, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: 400 * 24 * 3600})
	writeJSON(w, http.StatusOK, map[string]bool{"signed_in": true})
}

// acquire takes a stream slot, or answers 429.
func (s *server) acquire(w http.ResponseWriter) bool {
	select {
	case s.streams <- struct{}{}:
		return true
	default:
		writeProblem(w, probTooMany)
		return false
	}
}

func (s *server) release() { <-s.streams }

// acquirePairing takes the one pairing or discovery slot, or answers 429.
func (s *server) acquirePairing(w http.ResponseWriter) bool {
	select {
	case s.pairing <- struct{}{}:
		return true
	default:
		writeProblem(w, probBusy)
		return false
	}
}

func (s *server) releasePairing() { <-s.pairing }

// events is the page's live feed (Server-Sent Events, one JSON object
// per message): hello (the tab's id), a snapshot, then presence, status,
// noise, chime, alarm, stream, listen and pairing events. The tab's
// listens end with it.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeProblem(w, probBadRequest)
		return
	}
	if !s.acquire(w) {
		return
	}
	defer s.release()
	c, err := s.hub.addClient(r.TLS != nil)
	if err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	defer s.hub.removeClient(c)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	msgs := c.sub.C()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		case m, ok := <-msgs:
			if !ok { // the hub closed
				return
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", m.data); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

func (s *server) monitors(w http.ResponseWriter, r *http.Request) {
	ms, err := s.opt.Listener.Monitors()
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	if ms == nil {
		ms = []listener.Monitor{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"monitors": ms})
}

// discover lists the monitors answering on the network, with their
// pairing flag.
func (s *server) discover(w http.ResponseWriter, r *http.Request) {
	if !s.opt.Discovery {
		writeProblem(w, probNoDiscovery)
		return
	}
	if !s.acquirePairing(w) {
		return
	}
	defer s.releasePairing()
	ms, err := s.opt.Listener.Discover(r.Context(), 2*time.Second)
	if err != nil && len(ms) == 0 {
		writeProblem(w, problemFor(err))
		return
	}
	paired := map[string]bool{}
	if pm, err := s.opt.Listener.Monitors(); err == nil {
		for _, m := range pm {
			paired[m.DeviceID] = true
		}
	}
	type found struct {
		Name        string   `json:"name"`
		DeviceID    string   `json:"device_id"`
		Fingerprint string   `json:"fingerprint"`
		Addrs       []string `json:"addrs"`
		Port        int      `json:"port"`
		Address     string   `json:"address"` // HOST:PORT to pair with
		PairingOpen bool     `json:"pairing_open"`
		Paired      bool     `json:"paired"`
	}
	out := []found{}
	for _, m := range ms {
		f := found{Name: m.Name, DeviceID: m.DeviceID, Fingerprint: m.Fingerprint, Port: m.Port, PairingOpen: m.PairingOpen, Paired: paired[m.DeviceID], Addrs: []string{}}
		for _, a := range m.Addrs {
			f.Addrs = append(f.Addrs, a.String())
		}
		if len(m.Addrs) > 0 {
			f.Address = m.AddrPort().String()
		}
		out = append(out, f)
	}
	writeJSON(w, http.StatusOK, map[string]any{"monitors": out})
}

// pairTimeout bounds one pairing.
const pairTimeout = 30 * time.Second

// pair pairs with a monitor: {"target": HOST:PORT or a discovered name,
// "code": "1234-5678"} or {"payload": "CR:...", "target": optional}.
func (s *server) pair(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Target  string `json:"target"`
		Code    string `json:"code"`
		Payload string `json:"payload"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	preq := listener.PairRequest{Target: req.Target}
	switch {
	case req.Payload != "":
		p, err := pairing.ParsePayload(req.Payload)
		if err != nil {
			writeProblem(w, problemFor(err))
			return
		}
		preq.Payload = &p
	case req.Code != "":
		c, err := pairing.ParseCode(req.Code)
		if err != nil {
			writeProblem(w, problemFor(err))
			return
		}
		preq.Code = c
		if req.Target == "" {
			writeProblem(w, Problem{Code: "no_target", status: http.StatusBadRequest,
				Message: "Which monitor? The setup code alone does not say.",
				Action:  "Pick a discovered monitor, or type its address (shown on the monitor, like 192.168.1.20:48080)."})
			return
		}
	default:
		writeProblem(w, problemFor(listener.ErrNoCode))
		return
	}
	if !s.acquirePairing(w) {
		return
	}
	defer s.releasePairing()
	ctx, cancel := context.WithTimeout(r.Context(), pairTimeout)
	defer cancel()
	m, err := s.opt.Listener.Pair(ctx, preq)
	if err != nil {
		s.log.Info("dashboard: pairing failed", "err", err)
		writeProblem(w, problemFor(err))
		return
	}
	s.hub.add(m)
	writeJSON(w, http.StatusOK, map[string]any{"monitor": m})
}

// tabRequest is the body of listen, stop and offer.
type tabRequest struct {
	Tab   string `json:"tab"`
	Video bool   `json:"video"`
	SDP   string `json:"sdp"`
}

func (s *server) listen(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	if _, err := s.hub.tabListen(req.Tab, r.PathValue("id"), req.Video); err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"listening": true, "video": req.Video})
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.hub.tabStop(req.Tab, r.PathValue("id")); err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"listening": false})
}

// offer answers the tab's WebRTC offer through the relay; the tab must
// listen to the monitor first.
func (s *server) offer(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	hd, err := s.hub.tabHold(req.Tab, id)
	if err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	sess, err := s.hub.session(id)
	if err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	if s.opt.Relay == nil {
		writeProblem(w, probNoRelay)
		return
	}
	answer, err := s.opt.Relay.Answer(hd.ctx, sess, req.SDP, req.Video && hd.video)
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sdp": answer})
}

// ogg streams the monitor's audio as one continuous Ogg/Opus response
// (an <audio> element keeps playing it on a locked phone); the session
// streams while the response lasts.
func (s *server) ogg(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sess, err := s.hub.session(id)
	if err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	if s.opt.Ogg == nil {
		writeProblem(w, probNoRelay)
		return
	}
	if !s.acquire(w) {
		return
	}
	defer s.release()
	if err := s.hub.listen(id); err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	defer s.hub.unlisten(id)
	if err := s.opt.Ogg(r.Context(), w, sess); err != nil && r.Context().Err() == nil {
		s.log.Info("dashboard: audio stream ended", "monitor", id, "err", err)
	}
}

func (s *server) ack(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	sess, err := s.hub.session(r.PathValue("id"))
	if err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	sess.Ack()
	writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
}

func (s *server) forget(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.hub.session(id); err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	if _, err := s.opt.Listener.Forget(r.Context(), id); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	s.hub.remove(id)
	writeJSON(w, http.StatusOK, map[string]bool{"forgotten": true})
}

// pairingTimeout bounds the monitor's answer to pair_open or pair_close.
const pairingTimeout = 10 * time.Second

// pairingWindow opens (for the monitor's default time) or closes a
// monitor's pairing window, so that a new phone can pair with the setup
// code without anyone pressing the monitor's button. It answers with the
// window's state; every tab hears of it as a pairing event too.
func (s *server) pairingWindow(open bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !readJSON(w, r, &req) {
			return
		}
		id := r.PathValue("id")
		sess, err := s.hub.session(id)
		if err != nil {
			writeProblem(w, hubProblem(err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), pairingTimeout)
		defer cancel()
		var st control.PairingState
		if open {
			st, err = sess.OpenPairing(ctx, 0)
		} else {
			st, err = sess.ClosePairing(ctx)
		}
		if err != nil {
			s.log.Info("dashboard: the monitor's pairing window was not changed", "monitor", id, "open", open, "err", err)
			writeProblem(w, problemFor(err))
			return
		}
		s.log.Info("dashboard: pairing window changed from the page", "monitor", id, "open", st.Open, "from", r.RemoteAddr)
		pv := pairingFrom(st, time.Now(), s.hub.pairing(id))
		writeJSON(w, http.StatusOK, map[string]any{"pairing": pv.at(pv.At)})
	}
}

// sessionInfo asks the monitor over the control channel (info_request).
func sessionInfo(ctx context.Context, sess *listener.Session) (any, error) {
	return sess.MonitorInfo(ctx)
}

// info serves the card's "Monitor details" through Options.MonitorInfo.
func (s *server) info(w http.ResponseWriter, r *http.Request) {
	sess, err := s.hub.session(r.PathValue("id"))
	if err != nil {
		writeProblem(w, hubProblem(err))
		return
	}
	if s.opt.MonitorInfo == nil {
		writeProblem(w, probNoInfo)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v, err := s.opt.MonitorInfo(ctx, sess)
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, v)
}
