package page

import (
	"net"
	"os"
	"strings"
)

// HostsFor lists the names a Host header may carry for a server bound to
// ip: localhost names on loopback; the address itself, the machine's
// names and (for an unspecified address) every interface's addresses
// otherwise. It returns the set (for Guard.Hosts) and the addresses and
// names in it (for a certificate).
func HostsFor(ip net.IP) (map[string]bool, []net.IP, []string) {
	hosts := map[string]bool{}
	var ips []net.IP
	var names []string
	addIP := func(a net.IP) {
		if a == nil || hosts[NormHost(a.String())] {
			return
		}
		hosts[NormHost(a.String())] = true
		ips = append(ips, a)
	}
	addName := func(n string) {
		n = NormHost(n)
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

// IsLoopbackBind reports whether a listen host is loopback only.
func IsLoopbackBind(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
