package page

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRedirect: plain HTTP answers every request with a 308 to the same
// host, path and query over HTTPS on the page's port, brackets IPv6
// addresses once, and refuses a Host that would make another URL.
func TestRedirect(t *testing.T) {
	for _, c := range []struct {
		port       int
		host, path string
		want       string // "" refused
	}{
		{443, "nursery-k7q2m9xd.local", "/", "https://nursery-k7q2m9xd.local/"},
		{443, "192.168.1.20:80", "/api/session?x=1", "https://192.168.1.20/api/session?x=1"},
		{8443, "192.168.1.20", "/a%20b", "https://192.168.1.20:8443/a%20b"},
		{443, "[fe80::1]", "/", "https://[fe80::1]/"},
		{8443, "[fe80::1]", "/", "https://[fe80::1]:8443/"},
		{8443, "[fe80::1]:80", "/", "https://[fe80::1]:8443/"},
		{443, "evil.example/x", "/", ""},
		{443, "a@b", "/", ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://x"+c.path, nil)
		req.Host = c.host
		w := httptest.NewRecorder()
		redirectHandler(c.port).ServeHTTP(w, req)
		switch {
		case c.want == "" && w.Code != http.StatusBadRequest:
			t.Errorf("Host %q: %d %q, want refused", c.host, w.Code, w.Header().Get("Location"))
		case c.want != "" && (w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != c.want):
			t.Errorf("Host %q port %d path %q: %d %q, want 308 %q", c.host, c.port, c.path, w.Code, w.Header().Get("Location"), c.want)
		}
	}
}
