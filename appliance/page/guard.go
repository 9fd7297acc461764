package page

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxBody bounds a request's body, in bytes.
const MaxBody = 64 << 10

// DefaultBodyTimeout bounds the wait for a request's body (Guard.BodyTimeout).
const DefaultBodyTimeout = 10 * time.Second

// A Refusal is why the guard refused a request.
type Refusal int

const (
	RefusedHost         Refusal = iota + 1 // the Host header names another server (421)
	RefusedOrigin                          // another site sent it (403)
	RefusedMediaType                       // a POST whose body is not JSON (415)
	RefusedTooLarge                        // a body over MaxBody (413)
	RefusedUnauthorized                    // an API call without the credential (401)
)

// Status is the HTTP status of a refusal.
func (r Refusal) Status() int {
	switch r {
	case RefusedHost:
		return http.StatusMisdirectedRequest
	case RefusedOrigin:
		return http.StatusForbidden
	case RefusedMediaType:
		return http.StatusUnsupportedMediaType
	case RefusedTooLarge:
		return http.StatusRequestEntityTooLarge
	case RefusedUnauthorized:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// Guard holds the rules every request passes (see Wrap).
type Guard struct {
	// Port is the port the server listens on.
	Port string
	// Hosts are the host names and addresses a Host header may name
	// (normalized by NormHost; see HostsFor).
	Hosts map[string]bool
	// Local, when set, also accepts a Host that is an address of this
	// machine now (a server bound to every interface keeps working on an
	// address it gained after its start).
	Local func(host string) bool
	// Authorized reports whether a request carries a valid credential
	// (nil: none does). A request that does marks its connection as a
	// signed-in device's (Trust).
	Authorized func(*http.Request) bool
	// Public reports whether an /api/ path is served without the
	// credential (a sign-in); nil: none is.
	Public func(path string) bool
	// Refuse writes a refusal (nil: a plain-text error with its status).
	Refuse func(w http.ResponseWriter, r *http.Request, why Refusal)
	// BodyTimeout bounds the wait for a request's body (zero:
	// DefaultBodyTimeout): a stranger dribbling one would otherwise hold
	// the connection for ever. A handler that reads the whole body lifts
	// it (http.ResponseController.SetReadDeadline with the zero time).
	BodyTimeout time.Duration
}

// Wrap enforces the guard's rules on every request:
//   - the Host header names this server (stops DNS rebinding);
//   - every /api/ call (GETs too: a page elsewhere must not even make the
//     server stream, say through an <audio src>) and every POST carry no
//     foreign Origin nor a cross-site Sec-Fetch-Site, and a POST's body
//     is JSON (a form on another site cannot send it without a
//     preflight);
//   - every /api/ call but the public ones needs the credential;
//   - request bodies are bounded in size and time.
//
// Every answer carries the security headers (no sniffing, no referrer,
// no framing, a strict Content-Security-Policy, no caching).
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("Cache-Control", "no-store")
		if !g.HostOK(r) {
			g.refuse(w, r, RefusedHost)
			return
		}
		state := r.Method != http.MethodGet && r.Method != http.MethodHead
		if state || r.ContentLength != 0 {
			// Lifted by the handler once the body is in; otherwise it also
			// bounds the server's discarding of an unread body.
			d := g.BodyTimeout
			if d <= 0 {
				d = DefaultBodyTimeout
			}
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		api := strings.HasPrefix(r.URL.Path, "/api/")
		if (state || api) && !OriginOK(r) {
			g.refuse(w, r, RefusedOrigin)
			return
		}
		if state {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				g.refuse(w, r, RefusedMediaType)
				return
			}
			if r.ContentLength > MaxBody {
				g.refuse(w, r, RefusedTooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		signedIn := g.Authorized != nil && g.Authorized(r)
		if signedIn {
			Trust(r.Context())
		}
		if api && !signedIn && (g.Public == nil || !g.Public(r.URL.Path)) {
			g.refuse(w, r, RefusedUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, why Refusal) {
	if g.Refuse != nil {
		g.Refuse(w, r, why)
		return
	}
	http.Error(w, http.StatusText(why.Status()), why.Status())
}

// HostOK reports whether the Host header names this server: one of Hosts
// with the server's port, or without a port when the server's port is the
// default of the request's scheme (browsers leave 443 and 80 out).
func (g *Guard) HostOK(r *http.Request) bool {
	host, port, ok := splitHost(r.Host)
	if !ok {
		return false
	}
	if port == "" {
		port = defaultPort(r)
	}
	return port == g.Port && (g.Hosts[NormHost(host)] || g.Local != nil && g.Local(host))
}

// splitHost splits a Host header into host and port ("" when it has
// none): "name", "name:port", "1.2.3.4", "[::1]" and "[::1]:port".
func splitHost(h string) (host, port string, ok bool) {
	if h == "" {
		return "", "", false
	}
	if strings.HasPrefix(h, "[") {
		if strings.HasSuffix(h, "]") {
			return h, "", true
		}
	} else if !strings.Contains(h, ":") {
		return h, "", true
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil || port == "" {
		return "", "", false
	}
	return host, port, true
}

// defaultPort is the default port of a request's scheme.
func defaultPort(r *http.Request) string {
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// NormHost lowers a host name and drops IPv6 brackets and a final dot.
func NormHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// OriginOK reports whether a request came from the page itself: no
// Origin, or the page's own origin (the scheme, and the Host header's
// host and port, a default port written or not); and no cross-site
// fetch.
func OriginOK(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Path != "" || u.User != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme != scheme {
		return false
	}
	return canonHost(u.Host, scheme) == canonHost(r.Host, scheme)
}

// canonHost writes host[:port] with the scheme's default port left out.
func canonHost(h, scheme string) string {
	host, port, ok := splitHost(h)
	if !ok {
		return "\x00" // matches nothing
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	host = NormHost(host)
	if port == "" {
		return host
	}
	return host + ":" + port
}
