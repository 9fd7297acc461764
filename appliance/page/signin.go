package page

import (
	"log/slog"
	"net/http"
	"time"
)

// signInPath is the sign-in endpoint: GET tells the page whether it must
// sign in, POST exchanges the access token for a cookie. Its URL says
// "session" because the page has always called it that; it has nothing
// to do with listener sessions or WebRTC sessions.
const signInPath = "/api/session"

// signInStatus is the answer to GET signInPath: whether the page must
// sign in, and what this server offers.
type signInStatus struct {
	// Host is "monitor" on the monitor's own page (a phone pairs with the
	// setup code), "listener" on the dashboard (the token signs in).
	Host        string      `json:"host"`
	Device      *deviceView `json:"device,omitempty"` // this phone, once paired (the monitor's host)
	Loopback    bool        `json:"loopback"`
	SignedIn    bool        `json:"signed_in"`
	Discovery   bool        `json:"discovery"`
	Relay       bool        `json:"relay"`
	Ogg         bool        `json:"ogg"`
	Night       bool        `json:"night"` // the night stream (MP3) is served
	HTTPS       bool        `json:"https"`
	MonitorInfo bool        `json:"monitor_info"`
}

// signInRequest is the body of POST signInPath.
type signInRequest struct {
	Token string `json:"token"` // from the printed URL's fragment
}

// signInResult is the answer to a successful POST signInPath.
type signInResult struct {
	SignedIn bool `json:"signed_in"`
}

// signInState serves GET signInPath.
func (s *server) signInState(w http.ResponseWriter, r *http.Request) {
	st := signInStatus{
		Host:        "listener",
		Loopback:    s.access.loopback,
		SignedIn:    s.access.authorized(r),
		Discovery:   s.opt.Discovery,
		Relay:       s.relay != nil,
		Ogg:         s.oggStream != nil,
		Night:       s.night != nil,
		HTTPS:       r.TLS != nil,
		MonitorInfo: s.opt.MonitorInfo != nil,
	}
	if s.access.devices != nil {
		st.Host, st.Discovery = "monitor", false
		if d, ok := s.access.device(r); ok {
			v := viewOf(d, d.ID)
			st.Device = &v
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// signIn serves POST signInPath: it exchanges the token (from the URL's
// fragment) for a cookie.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !readJSON(w, r, &req) {
		return
	}
	if s.access.devices != nil { // phones pair instead (devices.go)
		writeProblem(w, probNotPaired)
		return
	}
	if s.access.loopback {
		writeJSON(w, http.StatusOK, signInResult{SignedIn: true})
		return
	}
	if !s.access.tokenOK(req.Token) {
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
	cred, err := s.access.browsers.add(time.Now())
	if err != nil {
		s.log.Error("dashboard: cannot sign a browser in", "err", err)
		writeProblem(w, problemFor(err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cred, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: 400 * 24 * 3600})
	writeJSON(w, http.StatusOK, signInResult{SignedIn: true})
}

// signOutPath signs the browser out (the dashboard beyond loopback): its
// credential opens nothing from then on.
const signOutPath = "/api/session/signout"

func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	if c, err := r.Cookie(cookieName); err == nil && s.access.browsers != nil {
		if err := s.access.browsers.remove(c.Value); err != nil {
			writeProblem(w, problemFor(err))
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]bool{"signed_in": false})
}
