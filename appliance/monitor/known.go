package monitor

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/store"
)

// maxKnownAddrs bounds the addresses remembered for trusted listeners: a
// household's phones, computers and parent units, each with an IPv4 and
// an IPv6 address or two.
const maxKnownAddrs = 32

// knownAddrs are the addresses trusted listeners connected from, newest
// kept. The transport gives connections from them slots of their own
// (transport.Config.Known), so that a parent's phone reconnects while
// strangers flood the pending slots. Safe for concurrent use: the
// transport asks from quic-go's goroutines.
type knownAddrs struct {
	mu sync.Mutex
	at map[netip.Addr]time.Time
}

func newKnownAddrs() *knownAddrs { return &knownAddrs{at: map[netip.Addr]time.Time{}} }

// add remembers the address of remote (a "host:port" or a net.Addr's
// String) as a trusted listener's, at now.
func (k *knownAddrs) add(remote string, now time.Time) {
	addr, err := netip.ParseAddr(sourceOf(remote))
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.at[addr.Unmap()] = now
	for len(k.at) > maxKnownAddrs {
		var oldest netip.Addr
		var t time.Time
		for a, at := range k.at {
			if !oldest.IsValid() || at.Before(t) {
				oldest, t = a, at
			}
		}
		delete(k.at, oldest)
	}
}

// has reports whether a trusted listener connected from addr.
func (k *knownAddrs) has(addr netip.Addr) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.at[addr.Unmap()]
	return ok
}

// seed remembers the addresses of the trusted listeners in the store's
// connection history (oldest first, so the newest are kept).
func (k *knownAddrs) seed(st store.State) {
	for _, r := range st.History {
		if _, ok := st.Allowlist[r.Fingerprint]; ok {
			at := r.OpenedAt
			if at.IsZero() {
				at = r.ClosedAt
			}
			k.add(r.Remote, at)
		}
	}
}

// addConn remembers a trusted connection's address.
func (k *knownAddrs) addConn(a net.Addr, now time.Time) {
	if a != nil {
		k.add(a.String(), now)
	}
}
