package page

import (
	"crypto/tls"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// fakeConn is a connection with only its local address.
type fakeConn struct {
	net.Conn
	local net.Addr
}

func (c fakeConn) LocalAddr() net.Addr { return c.local }

// TestLiveAddresses: a page bound to every interface accepts a Host that
// is an address the machine gained after the start, and its certificate
// comes to name that address at the first connection to it (the Pi whose
// DHCP lease came after cradled started).
func TestLiveAddresses(t *testing.T) {
	gained := net.ParseIP("10.99.0.7")
	addrs := []net.Addr{&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)}}
	la := &localAddrs{read: func() ([]net.Addr, error) { return addrs, nil }}
	g := &Guard{Port: "443", Hosts: map[string]bool{}, Local: la.has}
	req := httptest.NewRequest("GET", "https://10.99.0.7/", nil)
	req.Host = "10.99.0.7"
	if g.HostOK(req) {
		t.Fatal("an address the machine does not have is accepted")
	}
	addrs = append(addrs, &net.IPNet{IP: gained, Mask: net.CIDRMask(24, 32)})
	la.at = time.Time{} // the next check reads again
	if !g.HostOK(req) {
		t.Fatal("an address the machine gained is refused")
	}
	req.Host = "evil.example"
	if g.HostOK(req) {
		t.Fatal("a foreign name is accepted")
	}

	dir := t.TempDir()
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, "id"), identity.RoleMonitor, "Nursery")
	if err != nil {
		t.Fatal(err)
	}
	start := []net.IP{net.ParseIP("127.0.0.1")}
	cert, err := serverCert(id, dir, start, []string{"nursery.local"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lc := &liveCert{id: id, dir: dir, names: []string{"nursery.local"}, now: time.Now, ips: start, cert: cert, addrs: la.read}
	if cert.Leaf.VerifyHostname("10.99.0.7") == nil {
		t.Fatal("the first certificate already names the gained address")
	}
	c, err := lc.get(&tls.ClientHelloInfo{Conn: fakeConn{local: &net.TCPAddr{IP: gained, Port: 443}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"10.99.0.7", "127.0.0.1", "nursery.local"} {
		if err := c.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("the certificate after a connection to the gained address: %v", err)
		}
	}
	// The machine lost 10.99.0.7 and gained 10.99.0.8: the next
	// certificate names what it holds now, not every address it ever had.
	addrs[1] = &net.IPNet{IP: net.ParseIP("10.99.0.8"), Mask: net.CIDRMask(24, 32)}
	c, err = lc.get(&tls.ClientHelloInfo{Conn: fakeConn{local: &net.TCPAddr{IP: net.ParseIP("10.99.0.8"), Port: 443}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.VerifyHostname("10.99.0.7") == nil || c.Leaf.VerifyHostname("10.99.0.8") != nil {
		t.Errorf("the certificate after the address changed names %v, want 10.99.0.8 and not 10.99.0.7", c.Leaf.IPAddresses)
	}
}

// TestFirstLANAddr: the address printed for a page on every interface is
// a network one, never the unspecified address itself (a Pi before its
// DHCP lease printed https://[::]/).
func TestFirstLANAddr(t *testing.T) {
	for _, c := range []struct {
		ips  []string
		want string
	}{
		{[]string{"::", "127.0.0.1"}, "127.0.0.1"},
		{[]string{"::", "fe80::1", "::1"}, "127.0.0.1"},
		{[]string{"::", "fd00::5", "192.168.1.20"}, "192.168.1.20"},
		{[]string{"0.0.0.0", "fd00::5"}, "fd00::5"},
	} {
		var ips []net.IP
		for _, s := range c.ips {
			ips = append(ips, net.ParseIP(s))
		}
		if got := firstLANAddr(ips); got != c.want {
			t.Errorf("firstLANAddr(%v) = %s, want %s", c.ips, got, c.want)
		}
	}
}
