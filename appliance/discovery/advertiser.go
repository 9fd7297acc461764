package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// Defaults for AdvertiseConfig.
const (
	DefaultProtocol     = 1
	DefaultPollInterval = 5 * time.Second
)

// announceCount announcements are sent, announceGap apart, after the
// advertisement starts or changes (RFC 6762 section 8.3 asks for at least
// two, one second apart).
const (
	announceCount = 2
	announceGap   = time.Second
)

// AdvertiseConfig configures NewAdvertiser. Zero values take defaults.
type AdvertiseConfig struct {
	Instance    string // room name shown to listeners, e.g. "Nursery"; required; cut to 63 bytes
	Port        int    // UDP port of the control channel; required
	DeviceID    string // short id; optional, must be Fingerprint's if set
	Fingerprint string // the monitor's fingerprint, human form; required
	Protocol    int    // protocol version in the TXT record; default 1
	PairingOpen bool   // the pairing window is open at start

	// Interface pins the advertiser to one network interface by name:
	// its multicast group is joined there and its addresses advertised.
	// Empty: the system's default multicast interface, advertising the
	// addresses of every interface that is up, multicast and not loopback.
	Interface string
	// IPs, if set, are advertised instead of the interfaces' addresses.
	IPs []netip.Addr
	// PollInterval is how often the addresses are checked; default 5s.
	PollInterval time.Duration

	Logger *slog.Logger
}

// Advertiser answers mDNS queries for one monitor until Close. It owns
// one goroutine, which polls the addresses, rebuilds the mDNS server when
// they change and sends the announcements.
type Advertiser struct {
	label, host string // host: HostName's, fully qualified
	port        int
	ips         []netip.Addr // fixed addresses, or nil to poll
	iface       string
	log         *slog.Logger
	mdnsLog     *slog.Logger

	zone   zone
	shown  atomic.Pointer[[]netip.Addr] // addrs, for Addrs
	reqs   chan pairRequest
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the run goroutine (and by NewAdvertiser before it starts).
	txt     txtRecord
	addrs   []netip.Addr
	srv     *mdns.Server
	ann     *announcer
	pending int       // announcements still to send
	queried bool      // a multicast answer is owed
	sentAt  time.Time // when we last multicast our records
	lastErr string    // last logged failure, so a failure logs once
}

type pairRequest struct {
	open bool
	done chan error
}

// NewAdvertiser checks cfg and starts advertising. It returns an error if
// cfg is invalid (ErrInvalidConfig) or if the mDNS server cannot start
// although there are addresses to advertise. With no address yet (Wi-Fi
// still coming up) it returns an Advertiser that starts once one appears.
func NewAdvertiser(cfg AdvertiseConfig) (*Advertiser, error) {
	a, poll, err := newAdvertiser(cfg)
	if err != nil {
		return nil, err
	}
	if addrs := a.currentAddrs(); len(addrs) > 0 {
		if err := a.rebuild(addrs); err != nil {
			a.stop(false)
			return nil, err
		}
	} else {
		a.log.Warn("no network address yet: will advertise once one appears", "interface", a.iface)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.run(ctx, poll)
	return a, nil
}

func newAdvertiser(cfg AdvertiseConfig) (*Advertiser, time.Duration, error) {
	label, err := instanceLabel(cfg.Instance)
	if err != nil {
		return nil, 0, err
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, 0, fmt.Errorf("%w: port %d is not 1-65535", ErrInvalidConfig, cfg.Port)
	}
	fp, err := identity.ParseFingerprint(cfg.Fingerprint)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if fp.IsZero() {
		return nil, 0, fmt.Errorf("%w: the fingerprint is zero", ErrInvalidConfig)
	}
	if cfg.DeviceID != "" && cfg.DeviceID != fp.DeviceID() {
		return nil, 0, fmt.Errorf("%w: device id %q is not the fingerprint's (%s)", ErrInvalidConfig, cfg.DeviceID, fp.DeviceID())
	}
	if cfg.Protocol == 0 {
		cfg.Protocol = DefaultProtocol
	}
	if cfg.Protocol < 1 || cfg.Protocol > maxProtocol {
		return nil, 0, fmt.Errorf("%w: protocol %d is not 1-%d", ErrInvalidConfig, cfg.Protocol, maxProtocol)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PollInterval < 0 {
		return nil, 0, fmt.Errorf("%w: poll interval %v is negative", ErrInvalidConfig, cfg.PollInterval)
	}
	var ips []netip.Addr
	for _, ip := range cfg.IPs {
		ip = ip.Unmap()
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
			return nil, 0, fmt.Errorf("%w: %v cannot be advertised", ErrInvalidConfig, ip)
		}
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "discovery")
	return &Advertiser{
		label:   label,
		host:    HostName(cfg.Instance, fp) + ".",
		port:    cfg.Port,
		ips:     slices.Compact(ips),
		iface:   cfg.Interface,
		log:     log,
		mdnsLog: log.With("lib", "hashicorp/mdns"),
		zone:    zone{alias: ShortHostName(cfg.Instance) + ".", queried: make(chan struct{}, 1)},
		reqs:    make(chan pairRequest),
		done:    make(chan struct{}),
		txt: txtRecord{
			Protocol:    cfg.Protocol,
			DeviceID:    fp.DeviceID(),
			Fingerprint: fp,
			PairingOpen: cfg.PairingOpen,
		},
	}, cfg.PollInterval, nil
}

// HostName is the .local name the Advertiser answers address queries
// for, without the final dot (see HostName the function). It answers for
// ShortHostName too.
func (a *Advertiser) HostName() string { return strings.TrimSuffix(a.host, ".") }

// Addrs returns the addresses the Advertiser answers with now, sorted;
// none while the network is down.
func (a *Advertiser) Addrs() []netip.Addr {
	if p := a.shown.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// SetPairingOpen updates the pair= flag and announces the change. It
// returns ErrClosed after Close.
func (a *Advertiser) SetPairingOpen(open bool) error {
	req := pairRequest{open: open, done: make(chan error, 1)}
	select {
	case a.reqs <- req:
		return <-req.done
	case <-a.done:
		return ErrClosed
	}
}

// Close sends goodbye packets, stops the server and waits for the
// goroutine. It may be called more than once.
func (a *Advertiser) Close() error {
	a.cancel()
	<-a.done
	return nil
}

func (a *Advertiser) run(ctx context.Context, poll time.Duration) {
	defer close(a.done)
	defer a.stop(true)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	timer := time.NewTimer(announceGap)
	defer timer.Stop()
	for {
		var timerC <-chan time.Time
		if due, ok := a.nextMulticast(); ok {
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				timerC = timer.C
			} else {
				a.multicast()
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case req := <-a.reqs:
			a.txt.PairingOpen = req.open
			req.done <- a.republish()
		case <-ticker.C:
			addrs := a.currentAddrs()
			if !slices.Equal(addrs, a.addrs) || (a.srv == nil && len(addrs) > 0) {
				a.report(a.rebuild(addrs))
			}
		case <-a.zone.queried:
			a.queried = a.srv != nil
		case <-timerC:
		}
	}
}

// nextMulticast says when our records should next be multicast, if at
// all: at once for a new or changed advertisement, then a second
// announcement, or an owed answer, no sooner than announceGap after the
// last (RFC 6762 section 6 allows a record once a second per link).
func (a *Advertiser) nextMulticast() (time.Time, bool) {
	switch {
	case a.pending == announceCount:
		return time.Time{}, true
	case a.pending > 0 || a.queried:
		return a.sentAt.Add(announceGap), true
	}
	return time.Time{}, false
}

// currentAddrs returns the addresses to advertise, sorted.
func (a *Advertiser) currentAddrs() []netip.Addr {
	if a.ips != nil {
		return a.ips
	}
	addrs, err := interfaceAddrs(a.iface)
	if err != nil {
		a.report(err)
	}
	return addrs
}

// service builds the records for the current state.
func (a *Advertiser) service() (*mdns.MDNSService, error) {
	ips := make([]net.IP, len(a.addrs))
	for i, ip := range a.addrs {
		ips[i] = ip.AsSlice()
	}
	return mdns.NewMDNSService(a.label, ServiceType, domain, a.host, a.port, ips, a.txt.fields())
}

// republish swaps in the records for the current TXT and announces them.
func (a *Advertiser) republish() error {
	if a.srv == nil {
		return nil // not advertising yet; the flag is used once we are
	}
	svc, err := a.service()
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	a.zone.svc.Store(svc)
	a.pending = announceCount
	a.log.Info("advertisement updated", "pairing_open", a.txt.PairingOpen)
	return nil
}

// rebuild restarts the mDNS server for a new set of addresses: the
// server's multicast membership and the announcer's source address are
// fixed when they are created.
func (a *Advertiser) rebuild(addrs []netip.Addr) error {
	// No goodbye when only the addresses change: the announcement's
	// cache-flush bit replaces the old addresses without the monitor
	// vanishing from phones' lists for a moment.
	a.stop(len(addrs) == 0)
	a.addrs = addrs
	a.shown.Store(nil)
	if len(addrs) == 0 {
		a.log.Warn("no network address: not advertising", "interface", a.iface)
		return nil
	}
	svc, err := a.service()
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	var ifi *net.Interface
	if a.iface != "" {
		if ifi, err = net.InterfaceByName(a.iface); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrNoInterface, a.iface, err)
		}
	}
	a.zone.svc.Store(svc)
	srv, err := mdns.NewServer(&mdns.Config{
		Zone:   &a.zone,
		Iface:  ifi,
		Logger: slog.NewLogLogger(a.mdnsLog.Handler(), slog.LevelDebug),
	})
	if err != nil {
		return fmt.Errorf("discovery: cannot answer mDNS queries on port 5353 (is the network up?): %w", err)
	}
	a.srv = srv
	a.shown.Store(&addrs)
	if a.ann, err = openAnnouncer(ifi); err != nil {
		a.log.Warn("cannot send mDNS announcements: phones see changes only when they ask again", "err", err)
	}
	a.pending = announceCount
	a.log.Info("advertising", "instance", a.label, "host", a.HostName(), "service", ServiceType, "port", a.port,
		"addrs", addrs, "pairing_open", a.txt.PairingOpen)
	return nil
}

// stop shuts the server down, after a goodbye if asked and possible.
func (a *Advertiser) stop(goodbye bool) {
	if a.srv == nil {
		return
	}
	if a.ann != nil {
		if goodbye {
			a.send(0)
		}
		a.ann.Close()
		a.ann = nil
	}
	a.srv.Shutdown()
	a.srv = nil
	a.pending = 0
	a.queried = false
}

// multicast sends our records: an announcement, or the answer owed to a
// query; one packet serves both.
func (a *Advertiser) multicast() {
	if a.pending > 0 {
		a.pending--
	}
	a.queried = false
	a.sentAt = time.Now()
	if a.ann != nil && a.srv != nil {
		a.send(ttlAnnounce)
	}
}

func (a *Advertiser) send(ttl uint32) {
	msg, err := announcement(a.zone.svc.Load(), a.zone.alias, ttl)
	if err == nil {
		err = a.ann.send(msg)
	}
	if err != nil {
		a.log.Debug("mDNS announcement failed", "err", err)
	}
}

// report logs err once until a different error or success.
func (a *Advertiser) report(err error) {
	if err == nil {
		a.lastErr = ""
		return
	}
	if err.Error() != a.lastErr {
		a.lastErr = err.Error()
		a.log.Warn("mDNS advertisement", "err", err)
	}
}

// ttlAnnounce is the TTL hashicorp/mdns gives its records.
const ttlAnnounce = 120

// announcement returns an unsolicited response carrying every record of
// svc, and its addresses under alias too, with ttl 0 for goodbye. Unique
// records carry the cache-flush bit so that caches drop an old TXT or
// address instead of keeping both. The alias's are shared records, without
// the bit: another monitor with the same room name answers for the alias
// too, and a flush would drop its addresses from caches (RFC 6762 section
// 10.2). They are in the packet because a resolver that asked for the alias
// by multicast waits for a multicast answer.
func announcement(svc *mdns.MDNSService, alias string, ttl uint32) ([]byte, error) {
	rrs := svc.Records(dns.Question{Name: serviceFQDN, Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	for _, rr := range rrs {
		h := rr.Header()
		h.Ttl = ttl
		if h.Rrtype != dns.TypePTR && ttl > 0 {
			h.Class |= qclassUnicast // the cache-flush bit
		}
	}
	if alias != "" {
		for _, rr := range hostRecords(svc, dns.TypeANY, alias) {
			rr.Header().Ttl = ttl
			rrs = append(rrs, rr)
		}
	}
	msg := dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: true},
		Compress: true,
		Answer:   rrs,
	}
	return msg.Pack()
}

// interfaceAddrs returns the sorted addresses of the named interface, or
// of every interface that is up, multicast and not loopback. IPv6
// link-local addresses are left out: without a zone they are unusable.
func interfaceAddrs(name string) ([]netip.Addr, error) {
	var ifaces []net.Interface
	if name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, name, err)
		}
		ifaces = []net.Interface{*ifi}
	} else {
		all, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("discovery: listing network interfaces: %w", err)
		}
		for _, ifi := range all {
			if ifi.Flags&net.FlagLoopback == 0 && ifi.Flags&net.FlagMulticast != 0 {
				ifaces = append(ifaces, ifi)
			}
		}
	}
	var out []netip.Addr
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			ipn, ok := addr.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if ip = ip.Unmap(); ok && advertisable(ip) {
				out = append(out, ip)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

func advertisable(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && !ip.IsLinkLocalUnicast()
}
