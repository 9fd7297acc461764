package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits a stranger on the network cannot exceed.
const (
	maxBody    = 64 << 10 // bytes of a request body
	maxStreams = 16       // open event streams and audio streams, all clients
	maxListens = 16       // listens held by tabs, all monitors
	maxConns   = 128      // connections open at once, all clients
)

// bodyTimeout bounds the wait for a request's body (a var for tests): a
// stranger dribbling one would otherwise hold the connection for ever.
var bodyTimeout = 10 * time.Second

// cookieName carries the token beyond loopback. The __Host- prefix makes
// the browser refuse it unless it is Secure, for "/" and host-only.
const cookieName = "__Host-cradle"

// tokenBytes is the access token's size: 128 bits.
const tokenBytes = 16

// requestGuard holds the rules every request passes (see wrap): the
// dashboard's own, unrelated to the monitor's trust gate.
type requestGuard struct {
	loopback bool            // bound to loopback: plain HTTP, no token
	port     string          // the port the server listens on
	hosts    map[string]bool // host names and addresses a Host header may name
	token    string          // hex; empty on loopback
}

// wrap enforces the guard's rules on every request:
//   - the Host header names this server (stops DNS rebinding);
//   - the event stream and every POST carry no foreign Origin (nor a
//     cross-site Sec-Fetch-Site), and a POST's body is JSON (a form on
//     another site cannot send it without a preflight);
//   - beyond loopback, every /api/ call but the sign-in (signInPath)
//     needs the token's cookie, compared in constant time;
//   - request bodies are bounded.
func (g *requestGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("Cache-Control", "no-store")
		if !g.hostOK(r) {
			writeProblem(w, Problem{Code: "unknown_host", status: http.StatusMisdirectedRequest, Message: probForbidden.Message, Action: probForbidden.Action})
			return
		}
		state := r.Method != http.MethodGet && r.Method != http.MethodHead
		if state || r.ContentLength != 0 {
			// Lifted by readJSON once the body is in; otherwise it also
			// bounds the server's discarding of an unread body.
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		}
		// Every API call, GETs included: a page elsewhere must not even make
		// the listener stream (an <audio src> of audio.ogg) or read its state.
		if (state || strings.HasPrefix(r.URL.Path, "/api/")) && !g.originOK(r) {
			writeProblem(w, probForbidden)
			return
		}
		if state {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				writeProblem(w, Problem{Code: "bad_request", status: http.StatusUnsupportedMediaType, Message: probBadRequest.Message, Action: probBadRequest.Action})
				return
			}
			if r.ContentLength > maxBody {
				writeProblem(w, probTooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != signInPath && !g.authorized(r) {
			writeProblem(w, probUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOK: the Host header is this server's own address (or, on loopback,
// a localhost name) with the server's port.
func (g *requestGuard) hostOK(r *http.Request) bool {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		return false
	}
	return port == g.port && g.hosts[normHost(host)]
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// originOK: no Origin, or the page's own origin; and no cross-site fetch.
func (g *requestGuard) originOK(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o == scheme+"://"+r.Host
}

// authorized: loopback, or the request carries the token's cookie.
func (g *requestGuard) authorized(r *http.Request) bool {
	if g.loopback {
		return true
	}
	c, err := r.Cookie(cookieName)
	return err == nil && g.tokenOK(c.Value)
}

func (g *requestGuard) tokenOK(t string) bool {
	return g.token != "" && subtle.ConstantTimeCompare([]byte(t), []byte(g.token)) == 1
}

// hostsFor lists the names a Host header may carry for a server bound to
// ip: localhost names on loopback; the address itself, the machine's
// names and (for an unspecified address) every interface's addresses
// otherwise.
func hostsFor(ip net.IP) (map[string]bool, []net.IP, []string) {
	hosts := map[string]bool{}
	var ips []net.IP
	var names []string
	addIP := func(a net.IP) {
		if a == nil || hosts[normHost(a.String())] {
			return
		}
		hosts[normHost(a.String())] = true
		ips = append(ips, a)
	}
	addName := func(n string) {
		n = normHost(n)
		if n == "" || hosts[n] {
			return
		}
		hosts[n] = true
		names = append(names, n)
	}
	switch {
	case ip.IsLoopback():
		addIP(ip)
		addIP(net.IPv4(127, 0, 0, 1))
		addIP(net.IPv6loopback)
		addName("localhost")
	case ip.IsUnspecified():
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				addIP(n.IP)
			}
		}
		addName("localhost")
		fallthrough
	default:
		addIP(ip)
		if hn, err := os.Hostname(); err == nil && hn != "" {
			addName(hn)
			if !strings.Contains(hn, ".") {
				addName(hn + ".local")
			}
		}
	}
	return hosts, ips, names
}

// isLoopbackBind reports whether a listen host is loopback only.
func isLoopbackBind(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadToken reads the access token from dir, creating it (or a new one
// with rotate) first. Kept across restarts so a bookmarked phone keeps
// working.
func loadToken(dir string, rotate bool) (string, error) {
	path := filepath.Join(dir, "token")
	if !rotate {
		b, err := os.ReadFile(path)
		if err == nil {
			t := strings.TrimSpace(string(b))
			if raw, err := hex.DecodeString(t); err == nil && len(raw) == tokenBytes {
				return t, nil
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("dashboard: read the access token: %w", err)
		}
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dashboard: write the access token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("dashboard: write the access token: %w", err)
	}
	return t, nil
}

// limitListener accepts at most cap(slots) connections at once and closes
// the ones beyond at once: a stranger opening connections without end
// would otherwise run the whole listener out of file descriptors (its
// links to the monitors included), not just the page out of slots.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
		default:
			c.Close()
		}
	}
}

// limitConn gives its slot back on its first Close.
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
