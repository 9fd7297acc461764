package page

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeRedirect serves plain HTTP on ln until ctx ends: every request is
// sent to the same host and path over HTTPS on httpsPort (308), and
// nothing else is served, so a phone that types the bare name lands on
// the page and no credential ever travels in clear. Its connections are
// bounded as the page's are (Protect).
func ServeRedirect(ctx context.Context, ln net.Listener, httpsPort int) error {
	srv := &http.Server{
		Handler:  redirectHandler(httpsPort),
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug),
	}
	ln = Protect(srv, ln, nil, DefaultLimits)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

func redirectHandler(httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]") // an IPv6 address without a port
		if host == "" || len(host) > 253 || strings.ContainsAny(host, "/\\@?#%[] \t") {
			http.Error(w, "Open the page with https://", http.StatusBadRequest)
			return
		}
		if httpsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		} else if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			host = "[" + host + "]"
		}
		w.Header().Set("Cache-Control", "no-store")
		u := "https://" + host + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, u, http.StatusPermanentRedirect)
	})
}
