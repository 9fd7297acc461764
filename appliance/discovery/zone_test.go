package discovery

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestZoneHostRecords: the zone answers address questions for the host
// name and its alias (ShortHostName) in any letter case, ANY with both
// families, and nothing for other names or types; the SRV record points at
// the host name.
func TestZoneHostRecords(t *testing.T) {
	cfg := testConfig("")
	cfg.IPs = []netip.Addr{netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("fd00::23")}
	a, _, err := newAdvertiser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.addrs = a.currentAddrs()
	svc, err := a.service()
	if err != nil {
		t.Fatal(err)
	}
	a.zone.svc.Store(svc)
	host := HostName("Baby's room", testFingerprint(1)) + "."
	if a.host != host || a.HostName()+"." != host {
		t.Fatalf("host %q, HostName() %q, want %q", a.host, a.HostName(), host)
	}
	ask := func(name string, qtype uint16, qclass uint16) []string {
		var out []string
		for _, rr := range a.zone.Records(dns.Question{Name: name, Qtype: qtype, Qclass: qclass}) {
			h := rr.Header()
			out = append(out, fmt.Sprintf("%s %s %s", h.Name, dns.TypeToString[h.Rrtype], strings.Fields(rr.String())[4]))
		}
		slices.Sort(out)
		return out
	}
	alias := "baby-s-room.local."
	if a.zone.alias != alias {
		t.Fatalf("alias %q, want %q", a.zone.alias, alias)
	}
	in, qu := uint16(dns.ClassINET), uint16(dns.ClassINET|qclassUnicast)
	a4, a6 := host+" A 192.168.1.23", host+" AAAA fd00::23"
	s4, s6 := alias+" A 192.168.1.23", alias+" AAAA fd00::23"
	for _, tt := range []struct {
		name  string
		qtype uint16
		class uint16
		want  []string
	}{
		{host, dns.TypeA, in, []string{a4}},
		{host, dns.TypeAAAA, qu, []string{a6}},
		{strings.ToUpper(host), dns.TypeA, in, []string{a4}},
		{"Baby-S-Room" + host[len("baby-s-room"):], dns.TypeAAAA, in, []string{a6}},
		{host, dns.TypeANY, in, []string{a4, a6}},
		{host, dns.TypeTXT, in, nil},
		{"x" + host, dns.TypeA, in, nil},
		{strings.TrimSuffix(host, "."), dns.TypeA, in, nil},
		{alias, dns.TypeA, in, []string{s4}},
		{alias, dns.TypeAAAA, qu, []string{s6}},
		{"Baby-S-Room.LOCAL.", dns.TypeANY, in, []string{s4, s6}},
		{alias, dns.TypeTXT, in, nil},
		{alias, dns.TypeSRV, in, nil},
		{"baby-s-room.local", dns.TypeA, in, nil},
		{"baby.local.", dns.TypeA, in, nil},
	} {
		if got := ask(tt.name, tt.qtype, tt.class); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: %q, want %q", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
	for _, rr := range a.zone.Records(dns.Question{Name: `Baby\'s\ room.` + serviceFQDN, Qtype: dns.TypeSRV, Qclass: in}) {
		if s, ok := rr.(*dns.SRV); ok {
			if s.Target != host {
				t.Errorf("SRV target %q, want %q", s.Target, host)
			}
			return
		}
	}
	t.Error("no SRV record")
}
