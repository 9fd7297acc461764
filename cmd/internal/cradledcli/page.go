package cradledcli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/cradle-monitor/cradle/appliance/discovery"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/page"
)

// DefaultPageListen is where the phones' page listens without systemd's
// sockets: a port above 1023, so cradled needs no capability. The
// package's cradled.socket hands it ports 443 and 80 instead.
const DefaultPageListen = ":8443"

// servePage starts the monitor's own page (package page, the monitor's
// host) on systemd's socket named "https" or on --page-listen, and the
// redirect from plain HTTP on the socket named "http" or on --page-http.
// The goroutines are wg's and end with ctx; the channel says why the page
// stopped early.
func (e *env) servePage(ctx context.Context, m *monitor.Monitor, log *slog.Logger, wg *sync.WaitGroup) (<-chan error, error) {
	done := make(chan error, 1)
	socks, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("page: systemd sockets: %w", err)
	}
	httpsLn, httpLn := first(socks["https"]), first(socks["http"])
	if e.pageListen == "off" { // even with systemd's sockets: no page
		for _, l := range []net.Listener{httpsLn, httpLn} {
			if l != nil {
				l.Close()
			}
		}
		log.Info("the phones' page is off (page_listen = \"off\")")
		return done, nil
	}
	if httpLn == nil && e.pageHTTP != "" {
		if httpLn, err = net.Listen("tcp", e.pageHTTP); err != nil {
			return nil, fmt.Errorf("page: --page-http: %w", err)
		}
	}
	if httpsLn == nil {
		if httpsLn, err = net.Listen("tcp", e.pageListen); err != nil {
			if httpLn != nil {
				httpLn.Close()
			}
			return nil, fmt.Errorf("page: --page-listen %s: %w (choose another port, or --page-listen off)", e.pageListen, err)
		}
	}
	port := httpsLn.Addr().(*net.TCPAddr).Port
	st := m.Status()
	// The certificate names the host name and its short alias, both
	// answered by mDNS: the card's first QR code (written at the image's
	// build, before the monitor had a device id) opens the alias.
	var names []string
	if st.Host != "" {
		names = discovery.HostNames(st.Name, m.Fingerprint())
	}
	ready := make(chan string, 1)
	opt := page.Options{
		Monitor: page.ForMonitor(m), Names: names, StateDir: e.cfg.StateDir, Socket: httpsLn, Logger: log,
		OnReady: func(url string) { ready <- url },
	}
	wg.Go(func() {
		if err := page.Serve(ctx, opt); err != nil {
			done <- err
		}
	})
	if httpLn != nil {
		wg.Go(func() {
			if err := page.ServeRedirect(ctx, httpLn, port); err != nil {
				done <- err
			}
		})
	}
	select {
	case u := <-ready:
		m.SetPagePort(port) // for Status
		if a, ok := httpsLn.Addr().(*net.TCPAddr); ok {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				m.SetPageIP(ip)
			}
		}
		every := false
		if a, ok := httpsLn.Addr().(*net.TCPAddr); ok {
			every = a.IP.IsUnspecified()
		}
		switch {
		case every && st.Host != "" && strings.Contains(u, "//127.0.0.1"):
			// No network address yet (a Pi before its DHCP lease): the
			// name works once there is one; status lists the addresses.
			fmt.Fprintf(e.stdout, "Phones: open %s on a phone on this network (`cradled status` lists its addresses once the network is up)", monitor.PageURL(st.Host, port))
		case every && st.Host != "":
			fmt.Fprintf(e.stdout, "Phones: open %s on a phone on this network (or %s)", u, monitor.PageURL(st.Host, port))
		default:
			fmt.Fprintf(e.stdout, "Phones: open %s on a phone on this network", u)
		}
		fmt.Fprintf(e.stdout, ", accept the certificate warning once, and pair with the setup code.\n")
	case err := <-done:
		return nil, err
	case <-time.After(10 * time.Second):
		return nil, errors.New("page: did not start within 10 s")
	}
	return done, nil
}

func first(ls []net.Listener) net.Listener {
	for i, l := range ls {
		if i > 0 {
			l.Close()
		}
	}
	if len(ls) == 0 {
		return nil
	}
	return ls[0]
}
