package monitor

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// TestKnownAddrs: the newest maxKnownAddrs addresses are kept, ports and
// IPv4-mapped forms do not matter, and garbage is ignored.
func TestKnownAddrs(t *testing.T) {
	k := newKnownAddrs()
	k.add("192.0.2.7:4433", t0)
	k.add("[::ffff:192.0.2.8]:1", t0.Add(time.Second))
	k.add("not an address", t0)
	for _, a := range []string{"192.0.2.7", "192.0.2.8", "::ffff:192.0.2.7"} {
		if !k.has(netip.MustParseAddr(a)) {
			t.Errorf("%s not known", a)
		}
	}
	for i := range maxKnownAddrs {
		k.add(fmt.Sprintf("10.0.0.%d:1", i), t0.Add(time.Duration(i+2)*time.Second))
	}
	if k.has(netip.MustParseAddr("192.0.2.7")) || k.has(netip.MustParseAddr("192.0.2.8")) || !k.has(netip.MustParseAddr("10.0.0.0")) {
		t.Error("the oldest addresses were not the ones forgotten")
	}
	if len(k.at) != maxKnownAddrs {
		t.Errorf("%d addresses kept, want %d", len(k.at), maxKnownAddrs)
	}
}

// TestKnownAddrsFromTrust: a paired listener's address is known at once,
// and again after a restart (from the connection history); a stranger's
// is not.
func TestKnownAddrsFromTrust(t *testing.T) {
	dir := t.TempDir()
	m := openMonitor(t, dir, pairing.WindowConfig{})
	m.OpenPairing(0)
	stranger := newClientFrom(t, "127.0.0.9")
	stranger.dial(m)
	trustedConn(t, m) // from 127.0.0.1
	waitFor(t, func() bool { return m.known.has(netip.MustParseAddr("127.0.0.1")) })
	if m.known.has(netip.MustParseAddr("127.0.0.9")) {
		t.Error("a stranger's address is known")
	}
	m.Close()
	m2 := openMonitor(t, dir, pairing.WindowConfig{})
	if !m2.known.has(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("after a restart the paired listener's address is forgotten (history %d records)", len(m2.Store().State().History))
	}
}
