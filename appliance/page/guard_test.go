package page

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHostOK: the Host header names this server, with its port or, when
// the port is the scheme's default, without it (browsers leave 443 and
// 80 out); a foreign name is refused with or without a port (DNS
// rebinding).
func TestHostOK(t *testing.T) {
	hosts := map[string]bool{"192.168.1.20": true, "nursery.local": true, "::1": true, "fe80::1": true}
	for _, tc := range []struct {
		name  string
		https bool
		port  string // the server's
		host  string // the Host header
		want  bool
	}{
		{"https 443, address without port", true, "443", "192.168.1.20", true},
		{"https 443, address with port", true, "443", "192.168.1.20:443", true},
		{"https 443, name without port", true, "443", "nursery.local", true},
		{"https 443, name in capitals with a final dot", true, "443", "Nursery.Local.", true},
		{"https 443, IPv6 in brackets", true, "443", "[::1]", true},
		{"https 443, IPv6 in brackets with port", true, "443", "[::1]:443", true},
		{"https 443, foreign name", true, "443", "evil.example", false},
		{"https 443, foreign name with port", true, "443", "evil.example:443", false},
		{"https 443, other port", true, "443", "192.168.1.20:8443", false},
		{"https 443, port 80 (the plain one)", true, "443", "192.168.1.20:80", false},
		{"https 8443, with port", true, "8443", "192.168.1.20:8443", true},
		{"https 8443, without port", true, "8443", "192.168.1.20", false},
		{"https 8443, IPv6 without port", true, "8443", "[::1]", false},
		{"https 8443, IPv6 with port", true, "8443", "[::1]:8443", true},
		{"https 8443, foreign name", true, "8443", "evil.example:8443", false},
		{"http 80, without port", false, "80", "nursery.local", true},
		{"http 80, with port", false, "80", "nursery.local:80", true},
		{"http 80, IPv6 without port", false, "80", "[fe80::1]", true},
		{"http 80, foreign name", false, "80", "evil.example", false},
		{"http 443, without port (not http's default)", false, "443", "nursery.local", false},
		{"http 48090, without port", false, "48090", "192.168.1.20", false},
		{"http 48090, with port", false, "48090", "192.168.1.20:48090", true},
		{"empty Host", true, "443", "", false},
		{"bare IPv6 without brackets", true, "443", "::1", false},
		{"empty port", true, "443", "nursery.local:", false},
		{"unclosed bracket", true, "443", "[::1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Guard{Port: tc.port, Hosts: hosts}
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tc.host
			if tc.https {
				r.TLS = &tls.ConnectionState{}
			} else {
				r.TLS = nil
			}
			if got := g.HostOK(r); got != tc.want {
				t.Fatalf("Host %q on %s port %s: %v, want %v", tc.host, scheme(tc.https), tc.port, got, tc.want)
			}
		})
	}
}

func scheme(https bool) string {
	if https {
		return "https"
	}
	return "http"
}

// TestOriginOK: the page's own origin, written with or without the
// default port, passes; another site's does not.
func TestOriginOK(t *testing.T) {
	for _, tc := range []struct {
		name         string
		https        bool
		host, origin string
		site         string // Sec-Fetch-Site
		want         bool
	}{
		{"no origin", true, "nursery.local", "", "", true},
		{"own, portless", true, "nursery.local", "https://nursery.local", "", true},
		{"own, Host with 443", true, "nursery.local:443", "https://nursery.local", "", true},
		{"own, non-default port", true, "192.168.1.20:8443", "https://192.168.1.20:8443", "same-origin", true},
		{"own, IPv6", true, "[fe80::1]", "https://[fe80::1]", "", true},
		{"other port", true, "192.168.1.20:8443", "https://192.168.1.20:9443", "", false},
		{"plain http origin on https", true, "nursery.local", "http://nursery.local", "", false},
		{"foreign", true, "nursery.local", "https://evil.example", "", false},
		{"null origin", true, "nursery.local", "null", "", false},
		{"cross-site fetch", true, "nursery.local", "", "cross-site", false},
		{"same-site fetch (another port)", true, "nursery.local", "", "same-site", false},
		{"typed in the address bar", false, "127.0.0.1:48090", "", "none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/x", nil)
			r.Host = tc.host
			r.TLS = nil
			if tc.https {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			if got := OriginOK(r); got != tc.want {
				t.Fatalf("Origin %q for Host %q: %v, want %v", tc.origin, tc.host, got, tc.want)
			}
		})
	}
}

// TestGuard: the guard's refusals, through Wrap, on a server on 443.
func TestGuard(t *testing.T) {
	g := &Guard{
		Port:       "443",
		Hosts:      map[string]bool{"nursery.local": true},
		Authorized: func(r *http.Request) bool { return r.Header.Get("Cookie") == "c=ok" },
		Public:     func(p string) bool { return p == "/api/session" },
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for _, tc := range []struct {
		name, method, path, host, cookie, ctype, origin, body string
		want                                                  int
	}{
		{"page", "GET", "/", "nursery.local", "", "", "", "", http.StatusTeapot},
		{"page, foreign host", "GET", "/", "evil.example", "", "", "", "", http.StatusMisdirectedRequest},
		{"api without the credential", "GET", "/api/x", "nursery.local", "", "", "", "", http.StatusUnauthorized},
		{"api with it", "GET", "/api/x", "nursery.local", "c=ok", "", "", "", http.StatusTeapot},
		{"public api", "GET", "/api/session", "nursery.local", "", "", "", "", http.StatusTeapot},
		{"api from another site", "GET", "/api/x", "nursery.local", "c=ok", "", "https://evil.example", "", http.StatusForbidden},
		{"form post", "POST", "/api/x", "nursery.local", "c=ok", "application/x-www-form-urlencoded", "", "a=1", http.StatusUnsupportedMediaType},
		{"json post from the page", "POST", "/api/x", "nursery.local", "c=ok", "application/json", "https://nursery.local", "{}", http.StatusTeapot},
		{"too large", "POST", "/api/x", "nursery.local", "c=ok", "application/json", "", strings.Repeat("1", MaxBody+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "https://"+tc.host+tc.path, strings.NewReader(tc.body))
			r.TLS = &tls.ConnectionState{}
			for k, v := range map[string]string{"Cookie": tc.cookie, "Content-Type": tc.ctype, "Origin": tc.origin} {
				if v != "" {
					r.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.want {
				t.Fatalf("%d, want %d", rec.Code, tc.want)
			}
			for _, k := range []string{"X-Content-Type-Options", "Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "Cache-Control"} {
				if rec.Header().Get(k) == "" {
					t.Errorf("no %s header", k)
				}
			}
		})
	}
}
