package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
)

// DefaultBrowseTimeout is how long Browse listens when BrowseConfig.Timeout is zero.
const DefaultBrowseTimeout = 2 * time.Second

// Browse sends queries in rounds of 250 ms, 500 ms, then 1 s each, as
// hashicorp/mdns cannot stop a query early: a cancelled ctx ends Browse
// within one round. maxEntries bounds what one round keeps (hashicorp/mdns
// drops entries that do not fit, which only a flood of names can cause).
const (
	firstRound = 250 * time.Millisecond
	lastRound  = time.Second
	maxEntries = 256
)

// BrowseConfig configures Browse. Zero values take defaults.
type BrowseConfig struct {
	// Timeout is how long to listen for answers; default 2s.
	Timeout time.Duration
	// Interface, if set, sends the queries out of that interface and keeps
	// only monitors with an address on one of its subnets (and only those
	// addresses).
	Interface string
	Logger    *slog.Logger
}

// Found is one monitor found on the network, as its advertisement describes it.
type Found struct {
	Name        string       `json:"name"`         // room name, e.g. "Nursery"
	DeviceID    string       `json:"device_id"`    // 7-character short id
	Fingerprint string       `json:"fingerprint"`  // human form, 8 groups of 7; pin this, after pairing
	Addrs       []netip.Addr `json:"addrs"`        // sorted; IPv6 link-local ones carry their zone
	Port        int          `json:"port"`         // UDP port of the control channel
	PairingOpen bool         `json:"pairing_open"` // its pairing window is open
	Protocol    int          `json:"protocol"`     // protocol version it speaks
}

// AddrPort returns the monitor's first address with its port, IPv4 first.
func (m Found) AddrPort() netip.AddrPort {
	if len(m.Addrs) == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(m.Addrs[0], uint16(m.Port))
}

// Browse looks for monitors for cfg.Timeout and returns those found,
// sorted by name, one per fingerprint (a monitor seen twice, say on IPv4
// and IPv6, is merged). Answers for other services and monitors with a
// malformed TXT record are skipped. If ctx ends first, Browse returns what
// it found so far with ctx's error.
func Browse(ctx context.Context, cfg BrowseConfig) ([]Found, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: browse timeout %v is negative", ErrInvalidConfig, cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultBrowseTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "discovery")
	var ifi *net.Interface
	keep := func(netip.Addr) bool { return true }
	if cfg.Interface != "" {
		var err error
		if ifi, err = net.InterfaceByName(cfg.Interface); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, cfg.Interface, err)
		}
		if keep, err = onLink(ifi); err != nil {
			return nil, err
		}
	}

	var found []Found
	end := time.Now().Add(cfg.Timeout)
	round := firstRound
	noIPv6 := false
	for {
		if err := ctx.Err(); err != nil {
			return found, err
		}
		left := time.Until(end)
		if left <= 0 {
			return found, nil
		}
		entries := make(chan *mdns.ServiceEntry, maxEntries)
		query := func() error {
			return mdns.QueryContext(ctx, &mdns.QueryParam{
				Service:     ServiceType,
				Domain:      domain,
				Timeout:     min(round, left),
				Interface:   ifi,
				Entries:     entries,
				DisableIPv6: noIPv6,
				Logger:      slog.NewLogLogger(log.With("lib", "hashicorp/mdns").Handler(), slog.LevelDebug),
			})
		}
		err := query()
		if err != nil && !noIPv6 {
			// hashicorp/mdns fails the whole query when one family cannot
			// send, as IPv6 cannot while its link-local address is new.
			log.Debug("mDNS query failed; trying IPv4 only", "err", err)
			noIPv6 = true
			err = query()
		}
		if err != nil {
			return found, fmt.Errorf("discovery: cannot send mDNS queries (is the network up?): %w", err)
		}
		// hashicorp/mdns keeps writing to an entry after sending it, so
		// entries are read only once the query has returned.
		close(entries)
		for e := range entries {
			m, err := monitorFromEntry(e, keep)
			if err != nil {
				if !errors.Is(err, errNotOurs) {
					log.Debug("skipping an mDNS answer", "name", e.Name, "err", err)
				}
				continue
			}
			found = merge(found, m)
		}
		round = min(2*round, lastRound)
	}
}

// errNotOurs marks an answer for another service (hashicorp/mdns does not
// filter by name).
var errNotOurs = errors.New("discovery: not a monitor")

// monitorFromEntry checks one answer; keep filters its addresses.
func monitorFromEntry(e *mdns.ServiceEntry, keep func(netip.Addr) bool) (Found, error) {
	name, ok := parseInstance(e.Name)
	if !ok {
		return Found{}, errNotOurs
	}
	txt, err := parseTXT(e.InfoFields)
	if err != nil {
		return Found{}, err
	}
	if e.Port <= 0 || e.Port > 65535 {
		return Found{}, fmt.Errorf("%w: port %d", ErrMalformedTXT, e.Port)
	}
	var addrs []netip.Addr
	if ip, ok := netip.AddrFromSlice(e.AddrV4); ok {
		addrs = append(addrs, ip.Unmap())
	}
	if e.AddrV6IPAddr != nil {
		if ip, ok := netip.AddrFromSlice(e.AddrV6IPAddr.IP); ok {
			if ip.IsLinkLocalUnicast() {
				ip = ip.WithZone(e.AddrV6IPAddr.Zone)
			}
			addrs = append(addrs, ip)
		}
	}
	addrs = slices.DeleteFunc(addrs, func(ip netip.Addr) bool {
		return ip.IsUnspecified() || ip.IsMulticast() || (ip.IsLinkLocalUnicast() && ip.Is6() && ip.Zone() == "") || !keep(ip)
	})
	if len(addrs) == 0 {
		return Found{}, fmt.Errorf("discovery: %s has no usable address", name)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return Found{
		Name:        name,
		DeviceID:    txt.DeviceID,
		Fingerprint: txt.Fingerprint.String(),
		Addrs:       addrs,
		Port:        e.Port,
		PairingOpen: txt.PairingOpen,
		Protocol:    txt.Protocol,
	}, nil
}

// merge adds m to found, keeping the list sorted and one entry per
// fingerprint: the later answer wins, and addresses accumulate.
func merge(found []Found, m Found) []Found {
	i := slices.IndexFunc(found, func(o Found) bool { return o.Fingerprint == m.Fingerprint })
	if i >= 0 {
		m.Addrs = append(m.Addrs, found[i].Addrs...)
		slices.SortFunc(m.Addrs, netip.Addr.Compare)
		m.Addrs = slices.Compact(m.Addrs)
		found = slices.Delete(found, i, i+1)
	}
	found = append(found, m)
	slices.SortFunc(found, func(a, b Found) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	return found
}

// onLink returns a filter for the addresses on ifi's subnets (and IPv6
// link-local addresses in its zone).
func onLink(ifi *net.Interface) (func(netip.Addr) bool, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("discovery: addresses of %s: %w", ifi.Name, err)
	}
	var prefixes []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		ones, bits := ipn.Mask.Size()
		if ip = ip.Unmap(); ok && bits > 0 {
			if ip.Is4() && bits == 128 {
				ones -= 96
			}
			prefixes = append(prefixes, netip.PrefixFrom(ip, ones).Masked())
		}
	}
	return func(ip netip.Addr) bool {
		if ip.IsLinkLocalUnicast() && ip.Is6() {
			return ip.Zone() == ifi.Name
		}
		for _, p := range prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}, nil
}
