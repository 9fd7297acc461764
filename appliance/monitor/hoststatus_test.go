package monitor

import (
	"fmt"
	"net/netip"
	"testing"
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
