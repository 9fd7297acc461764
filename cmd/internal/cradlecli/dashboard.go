package cradlecli

import (
	"context"
	"flag"
	"fmt"
	"net"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/page"
)

// dashboard serves the listener's web page until Ctrl-C.
func (e *env) dashboard(args []string) (runner, error) {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("listen", "127.0.0.1:48090", "HOST:PORT to serve on; beyond loopback the page is HTTPS and needs the printed link's token (port 0 picks one)")
	newToken := fs.Bool("new-token", false, "replace the access token and sign every browser out: they must open the new link")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError("dashboard takes no arguments")
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return nil, usageError("--listen takes HOST:PORT, e.g. 127.0.0.1:48090 or 0.0.0.0:48090")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ctx, stop := notifyContext(ctx)
		defer stop()
		return page.Serve(ctx, page.Options{
			Listener:  l,
			StateDir:  e.cfg.StateDir,
			Addr:      *addr,
			Logger:    e.cfg.Logger,
			Discovery: e.cfg.Discovery,
			NewToken:  *newToken,
			OnReady:   func(url string) { e.printDashboardURL(url) },
		})
	}, nil
}

// printDashboardURL prints the page's address, and beyond loopback a QR
// code of it for a phone (it carries the access token: keep it private).
func (e *env) printDashboardURL(url string) {
	fmt.Fprintf(e.stdout, "Dashboard: %s\n", url)
	if len(url) < 8 || url[:8] != "https://" {
		fmt.Fprintln(e.stdout, "Open it in a browser on this computer. Press Ctrl-C to stop.")
		return
	}
	if q, err := qrcode.New(url, qrcode.Medium); err == nil {
		fmt.Fprintf(e.stdout, "\n%s\n", q.ToSmallString(false))
	}
	fmt.Fprintln(e.stdout, "Scan the code with a phone on the same Wi-Fi, or open the link. The browser warns about")
	fmt.Fprintln(e.stdout, "the certificate once: it is this listener's own. The link holds the access token: do not share it")
	fmt.Fprintln(e.stdout, "(cradle dashboard --new-token replaces it). Press Ctrl-C to stop.")
}
