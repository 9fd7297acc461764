package monitor

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/admin"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// hostFake is an advertiser that tells its host name, as
// *discovery.Advertiser does.
type hostFake struct {
	fakeAdvertiser
	host  string
	addrs []netip.Addr
}

func (h *hostFake) HostName() string    { return h.host }
func (h *hostFake) Addrs() []netip.Addr { return h.addrs }

// TestHostStatus: Status shows the advertiser's host name and addresses,
// and nothing when the monitor does not advertise.
func TestHostStatus(t *testing.T) {
	adv := &hostFake{host: "nursery-aeea6fq.local",
		addrs: []netip.Addr{netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("fd00::23")}}
	for _, tt := range []struct {
		adv        advertiser
		host, addr string
	}{
		{adv, "nursery-aeea6fq.local", "[192.168.1.23 fd00::23]"},
		{&hostFake{host: "nursery-aeea6fq.local"}, "nursery-aeea6fq.local", "[]"}, // no address yet
		{nil, "", "[]"},               // --mdns=false
		{&fakeAdvertiser{}, "", "[]"}, // an advertiser that cannot tell
	} {
		host, addrs := hostStatus(tt.adv)
		if host != tt.host || fmt.Sprint(addrs) != tt.addr {
			t.Errorf("hostStatus(%T) = %q, %v; want %q, %s", tt.adv, host, addrs, tt.host, tt.addr)
		}
	}
}

// TestPageURLs: the page's addresses, by host name then by address, with
// the port unless it is 443 and IPv6 addresses in brackets.
func TestPageURLs(t *testing.T) {
	addrs := []string{"192.168.1.23", "fd00::23"}
	for _, tt := range []struct {
		host  string
		addrs []string
		port  int
		want  string
	}{
		{"nursery-aeea6fq.local", addrs, 443, "[https://nursery-aeea6fq.local/ https://192.168.1.23/ https://[fd00::23]/]"},
		{"nursery-aeea6fq.local", addrs, 8443, "[https://nursery-aeea6fq.local:8443/ https://192.168.1.23:8443/ https://[fd00::23]:8443/]"},
		{"nursery-aeea6fq.local", nil, 443, "[https://nursery-aeea6fq.local/]"},
		{"", nil, 8443, "[]"}, // no mDNS: no address known
	} {
		if got := fmt.Sprint(pageURLs(tt.host, tt.addrs, tt.port)); got != tt.want {
			t.Errorf("pageURLs(%q, %v, %d) = %s, want %s", tt.host, tt.addrs, tt.port, got, tt.want)
		}
	}
}

// TestSetPagePort: Status, over the admin API, carries the page's port
// once cradled has told it, and none before or after 0.
func TestSetPagePort(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	c := &admin.Client{Path: m.cfg.AdminSocket}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, port := range []int{-1, 8443, 443, 0, 70000} {
		if port >= 0 {
			m.SetPagePort(port)
		}
		want := port
		if port < 0 || port > 65535 {
			want = 0
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.PagePort != want || len(st.Page) != 0 { // no mDNS in tests: no address known
			t.Errorf("after SetPagePort(%d): PagePort %d, Page %q; want %d and none", port, st.PagePort, st.Page, want)
		}
	}
}

// TestSetPageIP: a page bound to one address is shown by that address
// only (a loopback one without the host name); every address again after
// an unspecified one.
func TestSetPageIP(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	m.SetPagePort(8443)
	m.SetPageIP(netip.MustParseAddr("127.0.0.1"))
	if got := fmt.Sprint(m.Status().Page); got != "[https://127.0.0.1:8443/]" {
		t.Errorf("bound to 127.0.0.1: Page %s", got)
	}
	m.SetPageIP(netip.MustParseAddr("::"))
	if got := m.Status().Page; len(got) != 0 { // no mDNS in tests: no address known
		t.Errorf("bound to every address: Page %q, want none known", got)
	}
}
