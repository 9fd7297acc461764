package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

func entryFor(name string, txt txtRecord, port int, v4, v6 string, zone string) *mdns.ServiceEntry {
	e := &mdns.ServiceEntry{Name: name, Port: port, InfoFields: txt.fields()}
	if v4 != "" {
		e.AddrV4 = net.ParseIP(v4)
	}
	if v6 != "" {
		e.AddrV6IPAddr = &net.IPAddr{IP: net.ParseIP(v6), Zone: zone}
	}
	return e
}

func TestMonitorFromEntry(t *testing.T) {
	fp := testFingerprint(1)
	txt := txtRecord{Protocol: 1, DeviceID: fp.DeviceID(), Fingerprint: fp, PairingOpen: true}
	all := func(netip.Addr) bool { return true }
	only10 := func(a netip.Addr) bool { return netip.MustParsePrefix("10.0.0.0/8").Contains(a) }
	badTXT := txt
	badTXT.DeviceID = "AAAAAAA"

	tests := []struct {
		name  string
		entry *mdns.ServiceEntry
		keep  func(netip.Addr) bool
		want  []string // addresses; nil = rejected
		err   error
	}{
		{"v4", entryFor("Nursery._cradle._udp.local.", txt, 48080, "10.1.2.3", "", ""), all, []string{"10.1.2.3"}, nil},
		{"v4 and v6", entryFor("Nursery._cradle._udp.local.", txt, 48080, "10.1.2.3", "fd00::1", ""), all, []string{"10.1.2.3", "fd00::1"}, nil},
		{"link-local with zone", entryFor("Nursery._cradle._udp.local.", txt, 48080, "", "fe80::1", "wlan0"), all, []string{"fe80::1%wlan0"}, nil},
		{"link-local without zone", entryFor("Nursery._cradle._udp.local.", txt, 48080, "", "fe80::1", ""), all, nil, nil},
		{"filtered out", entryFor("Nursery._cradle._udp.local.", txt, 48080, "192.168.1.2", "", ""), only10, nil, nil},
		{"filter keeps one", entryFor("Nursery._cradle._udp.local.", txt, 48080, "10.1.2.3", "fd00::1", ""), only10, []string{"10.1.2.3"}, nil},
		{"unspecified", entryFor("Nursery._cradle._udp.local.", txt, 48080, "0.0.0.0", "", ""), all, nil, nil},
		{"other service", entryFor("Printer._ipp._tcp.local.", txt, 631, "10.1.2.3", "", ""), all, nil, errNotOurs},
		{"bad TXT", entryFor("Nursery._cradle._udp.local.", badTXT, 48080, "10.1.2.3", "", ""), all, nil, ErrMalformedTXT},
		{"port zero", entryFor("Nursery._cradle._udp.local.", txt, 0, "10.1.2.3", "", ""), all, nil, ErrMalformedTXT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := monitorFromEntry(tt.entry, tt.keep)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("accepted: %+v", m)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, a := range m.Addrs {
				addrs = append(addrs, a.String())
			}
			if !slices.Equal(addrs, tt.want) {
				t.Errorf("addrs %v, want %v", addrs, tt.want)
			}
			if m.Name != "Nursery" || m.Port != 48080 || m.DeviceID != fp.DeviceID() ||
				m.Fingerprint != fp.String() || !m.PairingOpen || m.Protocol != 1 {
				t.Errorf("monitor %+v", m)
			}
			if got := m.AddrPort(); got.Addr() != m.Addrs[0] || got.Port() != 48080 {
				t.Errorf("AddrPort() = %v", got)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	mon := func(name string, seed byte, pair bool, addrs ...string) Found {
		m := Found{Name: name, Fingerprint: testFingerprint(seed).String(), PairingOpen: pair}
		for _, a := range addrs {
			m.Addrs = append(m.Addrs, netip.MustParseAddr(a))
		}
		return m
	}
	var found []Found
	found = merge(found, mon("Nursery", 1, false, "10.0.0.1"))
	found = merge(found, mon("Attic", 2, false, "10.0.0.2"))
	found = merge(found, mon("Nursery", 1, true, "fd00::1"))
	found = merge(found, mon("Nursery", 3, false, "10.0.0.3")) // same name, another device
	var got []string
	for _, m := range found {
		got = append(got, fmt.Sprint(m.Name, " ", m.Fingerprint[:7], " ", m.Addrs))
	}
	want := []string{
		"Attic " + testFingerprint(2).String()[:7] + " [10.0.0.2]",
		"Nursery " + testFingerprint(1).String()[:7] + " [10.0.0.1 fd00::1]",
		"Nursery " + testFingerprint(3).String()[:7] + " [10.0.0.3]",
	}
	slices.Sort(want[1:])
	if !slices.Equal(got, want) {
		t.Errorf("merge gave\n%q\nwant\n%q", got, want)
	}
	for _, m := range found {
		if m.Fingerprint == testFingerprint(1).String() && !m.PairingOpen {
			t.Error("the later answer's pairing flag did not win")
		}
	}
}

func TestAnnouncement(t *testing.T) {
	fp := testFingerprint(1)
	txt := txtRecord{Protocol: 1, DeviceID: fp.DeviceID(), Fingerprint: fp, PairingOpen: true}
	svc, err := mdns.NewMDNSService(`Baby\'s\ room`, ServiceType, domain, "cradle-x.local.", 48080,
		[]net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("fd00::1")}, txt.fields())
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []uint32{ttlAnnounce, 0} {
		wire, err := announcement(svc, "x.local.", ttl)
		if err != nil {
			t.Fatal(err)
		}
		var msg dns.Msg
		if err := msg.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		if !msg.Response || !msg.Authoritative || msg.Id != 0 || len(msg.Question) != 0 {
			t.Errorf("header %+v: want an unsolicited response", msg.MsgHdr)
		}
		types, aliases := map[uint16]int{}, map[uint16]int{}
		for _, rr := range msg.Answer {
			h := rr.Header()
			alias := h.Name == "x.local."
			if alias {
				aliases[h.Rrtype]++
			} else {
				types[h.Rrtype]++
			}
			if h.Ttl != ttl {
				t.Errorf("%s: TTL %d, want %d", rr, h.Ttl, ttl)
			}
			// The alias's addresses are shared records: never a flush.
			flush := h.Class&(1<<15) != 0
			if want := ttl > 0 && h.Rrtype != dns.TypePTR && !alias; flush != want {
				t.Errorf("%s: cache-flush %v, want %v", rr, flush, want)
			}
			if r, ok := rr.(*dns.PTR); ok && r.Ptr != `Baby\'s\ room._cradle._udp.local.` {
				t.Errorf("PTR to %q", r.Ptr)
			}
		}
		want := map[uint16]int{dns.TypePTR: 1, dns.TypeSRV: 1, dns.TypeTXT: 1, dns.TypeA: 1, dns.TypeAAAA: 1}
		if len(types) != len(want) {
			t.Errorf("record types %v, want %v", types, want)
		}
		for k, v := range want {
			if types[k] != v {
				t.Errorf("record types %v, want %v", types, want)
			}
		}
		if len(aliases) != 2 || aliases[dns.TypeA] != 1 || aliases[dns.TypeAAAA] != 1 {
			t.Errorf("alias records %v, want one A and one AAAA", aliases)
		}
	}
}

// TestNewAdvertiserRejects checks configuration errors, which are found
// before any socket is opened.
func TestNewAdvertiserRejects(t *testing.T) {
	fp := testFingerprint(1)
	good := AdvertiseConfig{Instance: "Nursery", Port: 48080, Fingerprint: fp.String()}
	tests := []struct {
		name string
		edit func(*AdvertiseConfig)
	}{
		{"no instance", func(c *AdvertiseConfig) { c.Instance = " " }},
		{"control character", func(c *AdvertiseConfig) { c.Instance = "a\nb" }},
		{"no port", func(c *AdvertiseConfig) { c.Port = 0 }},
		{"port too big", func(c *AdvertiseConfig) { c.Port = 70000 }},
		{"no fingerprint", func(c *AdvertiseConfig) { c.Fingerprint = "" }},
		{"bad fingerprint", func(c *AdvertiseConfig) { c.Fingerprint = fp.String()[1:] }},
		{"zero fingerprint", func(c *AdvertiseConfig) { c.Fingerprint = strings.Repeat("A", 56) }},
		{"other device id", func(c *AdvertiseConfig) { c.DeviceID = testFingerprint(2).DeviceID() }},
		{"protocol", func(c *AdvertiseConfig) { c.Protocol = -1 }},
		{"poll interval", func(c *AdvertiseConfig) { c.PollInterval = -1 }},
		{"multicast IP", func(c *AdvertiseConfig) { c.IPs = []netip.Addr{netip.MustParseAddr("224.0.0.251")} }},
		{"unspecified IP", func(c *AdvertiseConfig) { c.IPs = []netip.Addr{netip.IPv4Unspecified()} }},
	}
	for _, tt := range tests {
		cfg := good
		tt.edit(&cfg)
		a, err := NewAdvertiser(cfg)
		if !errors.Is(err, ErrInvalidConfig) {
			if a != nil {
				a.Close()
			}
			t.Errorf("%s: NewAdvertiser = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	if _, _, err := newAdvertiser(good); err != nil {
		t.Errorf("the good config is rejected: %v", err)
	}
}

func TestBrowseRejects(t *testing.T) {
	if _, err := Browse(t.Context(), BrowseConfig{Timeout: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative timeout: %v, want ErrInvalidConfig", err)
	}
	if _, err := Browse(t.Context(), BrowseConfig{Interface: "cradle-no-such0"}); !errors.Is(err, ErrNoInterface) {
		t.Errorf("unknown interface: %v, want ErrNoInterface", err)
	}
	// A context that has ended stops Browse before it sends anything.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if found, err := Browse(ctx, BrowseConfig{}); !errors.Is(err, context.Canceled) || len(found) != 0 {
		t.Errorf("cancelled: %v, %v; want context.Canceled", found, err)
	}
}
