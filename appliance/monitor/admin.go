package monitor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/admin"
	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

// The admin API's results, defined in package admin (both ends use them).
type (
	Status         = admin.Status
	PairingStatus  = admin.PairingStatus
	ConnectionInfo = admin.ConnectionInfo
	ListenerInfo   = admin.ListenerInfo
	SetupInfo      = admin.SetupInfo
	EventInfo      = admin.EventInfo
)

// adminBackend serves the admin socket (admin.Backend) from a Monitor.
type adminBackend struct{ m *Monitor }

var _ admin.Backend = adminBackend{}

func (b adminBackend) OpenPairing(ctx context.Context, d time.Duration) (time.Time, error) {
	m := b.m
	// With the simulated button, `cradled pair` presses it, so the path is
	// the same as a parent's finger on the real one.
	if p, ok := m.cfg.Device.(hw.Presser); ok && d == 0 {
		ev, err := m.pressAndWait(ctx, p.PressShort, 3*time.Second, store.TypePairingWindowOpened)
		if err != nil {
			return time.Time{}, err
		}
		return ev.Payload.(store.PairingWindowOpened).Until, nil
	}
	return m.OpenPairing(d)
}

func (b adminBackend) ClosePairing(context.Context) error { b.m.ClosePairing(); return nil }

func (b adminBackend) Status(context.Context) (Status, error) { return b.m.Status(), nil }

func (b adminBackend) Listeners(context.Context) ([]ListenerInfo, error) {
	return b.m.Listeners(), nil
}

func (b adminBackend) SetupInfo(context.Context) (SetupInfo, error) { return b.m.SetupInfo() }

func (b adminBackend) Revoke(ctx context.Context, fp string) error { return b.m.Revoke(ctx, fp) }

func (b adminBackend) FactoryReset(ctx context.Context) error {
	m := b.m
	if p, ok := m.cfg.Device.(hw.Presser); ok {
		long := m.cfg.HW.WithDefaults().LongPress
		_, err := m.pressAndWait(ctx, p.PressLong, long+3*time.Second, store.TypeTrustReset)
		return err
	}
	return m.FactoryReset(ctx)
}

// Wipe asks for the wipe; the monitor stops (ErrWiped) and starts again
// as a new one. The command's --yes stands for the hold: no simulated
// 30 s press.
func (b adminBackend) Wipe(ctx context.Context) error { return b.m.Wipe(ctx) }

func (b adminBackend) Events(_ context.Context, since uint64) ([]EventInfo, error) {
	var out []EventInfo
	err := b.m.st.Events(since, func(e store.Event) error {
		out = append(out, EventInfo{Seq: e.Seq, Time: e.Time, Type: e.Type.String(), Details: describe(e.Payload)})
		return nil
	})
	return out, err
}

// pressAndWait presses the simulated button and waits, on the event log,
// for the event the press should cause.
func (m *Monitor) pressAndWait(ctx context.Context, press func(), within time.Duration, want store.Type) (store.Event, error) {
	sub := m.st.Subscribe(m.st.State().Seq)
	defer sub.Close()
	press()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return store.Event{}, fmt.Errorf("%w within %v", admin.ErrNoEffect, within)
		}
		if ev.Type == want {
			return ev, nil
		}
	}
}

// Status reports the monitor's state and its live connections.
func (m *Monitor) Status() Status {
	var st Status
	_ = m.owner.run(func() { st = m.statusOnOwner() })
	return st
}

// statusOnOwner is Status, run on the core's owner (the peer table's).
func (m *Monitor) statusOnOwner() Status {
	ws, strangers := m.core.Window(), m.core.Strangers()
	allow := m.st.State().Allowlist
	conns := make([]ConnectionInfo, 0, len(m.peers))
	for _, p := range m.peers {
		c := p.conn
		hs := c.Stats()
		name := p.hello.Name
		if l, ok := allow[c.Peer()]; ok {
			name = l.Name
		}
		fp := c.Peer().String()
		if p.local != nil {
			fp = "" // an in-process connection: the page's (Remote: the phone's address, or "page")
		}
		conns = append(conns, ConnectionInfo{
			ID: c.ID(), Name: name, Fingerprint: fp, Remote: c.RemoteAddr().String(),
			Trusted: c.Trusted(), Since: p.since, LastSeen: hs.LastSeen,
			RTT: hs.SRTT.Round(time.Microsecond).String(), RTTMicros: hs.SRTT.Microseconds(),
		})
	}
	sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	ps := PairingStatus{Open: ws.Open, FailedAttempts: ws.FailuresThisWindow, LifetimeFailures: ws.LifetimeFailures,
		Strangers: admin.StrangerCounts{Accepted: strangers.Accepted, Refused: strangers.Refused, Evicted: strangers.Evicted, Expired: strangers.Expired}}
	if ws.LastClose != 0 {
		ps.LastClose = ws.LastClose.String()
	}
	if ws.Open {
		u := ws.Until
		ps.Until = &u
	}
	st := Status{
		Name: m.cfg.Name, DeviceID: m.id.Fingerprint.DeviceID(), Fingerprint: m.id.Fingerprint.String(),
		Addr: m.Addr().String(), Port: m.Addr().Port, Pairing: ps, Connections: conns,
	}
	st.Host, st.HostAddrs = hostStatus(m.adv)
	if p := int(m.pagePort.Load()); p > 0 {
		st.PagePort = p
		st.Page = pageURLs(st.Host, st.HostAddrs, p)
		if ip := m.pageIP.Load(); ip != nil { // bound to one address: that one
			st.Page = []string{PageURL(ip.String(), p)}
			if st.Host != "" && !ip.IsLoopback() {
				st.Page = append([]string{PageURL(st.Host, p)}, st.Page...)
			}
		}
	}
	return st
}

// SetPageIP tells the monitor the one address its page is bound to (an
// unspecified or invalid one: every address), for Status.
func (m *Monitor) SetPageIP(ip netip.Addr) {
	if !ip.IsValid() || ip.IsUnspecified() {
		m.pageIP.Store(nil)
		return
	}
	ip = ip.Unmap()
	m.pageIP.Store(&ip)
}

// SetPagePort tells the monitor the TCP port its phones' page (HTTPS,
// package page, started by cradled after Open) serves on, for Status; 0:
// no page. It may be called from any goroutine.
func (m *Monitor) SetPagePort(port int) {
	if port < 0 || port > 65535 {
		port = 0
	}
	m.pagePort.Store(int32(port))
}

// PageURL is the address of the page on port at host (a name, or an IPv4
// or IPv6 address), as a parent types it: https://host/, with the port
// unless it is 443.
func PageURL(host string, port int) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	if port != 443 {
		host += ":" + strconv.Itoa(port)
	}
	return "https://" + host + "/"
}

// pageURLs is Status's Page: the page by host name first, then by
// each address.
func pageURLs(host string, addrs []string, port int) []string {
	var urls []string
	if host != "" {
		urls = append(urls, PageURL(host, port))
	}
	for _, a := range addrs {
		urls = append(urls, PageURL(a, port))
	}
	return urls
}

// hostStatus is the .local host name and addresses adv answers for, if
// it is advertising: "" and nil otherwise.
func hostStatus(adv advertiser) (string, []string) {
	h, ok := adv.(hostAdvertiser)
	if !ok {
		return "", nil
	}
	var addrs []string
	for _, ip := range h.Addrs() {
		addrs = append(addrs, ip.String())
	}
	return h.HostName(), addrs
}

// info is the control card a trusted listener asks for (info_request):
// the status, with times relative to now. It runs on the core's owner
// (SendInfo).
func (m *Monitor) info(asker *peer) control.Info {
	st := m.statusOnOwner()
	now := m.now()
	info := control.Info{Name: st.Name, Port: st.Port, PairingOpen: st.Pairing.Open, Connections: []control.InfoConnection{}}
	for _, c := range st.Connections {
		fp, _ := identity.ParseFingerprint(c.Fingerprint)
		id := fp.DeviceID()
		if p := m.peers[c.ID]; p != nil && p.local != nil {
			id = pageName(p.local.Device) // a web device's id, or "page"
		}
		ic := control.InfoConnection{
			DeviceID: id, Name: c.Name, Trusted: c.Trusted, You: c.ID == asker.conn.ID(),
			ConnectedMillis: now.Sub(c.Since).Milliseconds(), RTTMicros: c.RTTMicros,
		}
		if !c.LastSeen.IsZero() {
			ic.HeartbeatMillis = max(now.Sub(c.LastSeen).Milliseconds(), 0)
		}
		info.Connections = append(info.Connections, ic)
	}
	return info
}

// Listeners lists the trusted listeners, oldest pairing first.
func (m *Monitor) Listeners() []ListenerInfo {
	online := map[identity.Fingerprint]bool{}
	_ = m.owner.run(func() {
		for _, p := range m.peers {
			online[p.conn.Peer()] = true
		}
	})
	var out []ListenerInfo
	for fp, l := range m.st.State().Allowlist {
		out = append(out, ListenerInfo{Name: l.Name, Fingerprint: identity.Fingerprint(fp).String(), PairedAt: l.PairedAt, Online: online[fp],
			Kind: admin.KindListener})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PairedAt.Before(out[j].PairedAt) })
	for _, d := range m.Devices() {
		out = append(out, ListenerInfo{Name: d.Name, PairedAt: d.PairedAt, Kind: admin.KindDevice, ID: d.ID})
	}
	return out
}

// Revoke removes a listener from the allowlist (by fingerprint); its
// connections close with code revoked as soon as the event is read back.
// Given a trusted web device's id, it revokes that device (RevokeDevice).
func (m *Monitor) Revoke(ctx context.Context, fingerprint string) error {
	if id := strings.ToUpper(fingerprint); hasDevice(m.st.State(), id) {
		return m.RevokeDevice(ctx, id)
	}
	fp, err := identity.ParseFingerprint(fingerprint)
	if err != nil {
		if deviceIDShape(fingerprint) {
			return fmt.Errorf("%w (%s)", admin.ErrUnknownDevice, fingerprint)
		}
		return err
	}
	if !m.Trusted(fp) {
		return fmt.Errorf("%w (%s)", admin.ErrUnknownListener, fp)
	}
	_, err = m.st.Append(ctx, store.ListenerRevoked{Fingerprint: fp, Reason: "revoked by the administrator"})
	return err
}

// SetupInfo returns the setup code and payload.
func (m *Monitor) SetupInfo() (SetupInfo, error) {
	return setupInfo(m.id.Fingerprint, m.Addr().Port, m.SetupCode())
}

// OfflineSetupInfo is SetupInfo for a monitor that is not running: it
// reads (or, on a new state directory, creates) the identity and the setup
// code in cfg.StateDir, and takes the port from cfg.Listen.
func OfflineSetupInfo(cfg Config) (SetupInfo, error) {
	cfg = cfg.WithDefaults()
	if _, err := WipeIfRequested(cfg.StateDir, cfg.Logger); err != nil {
		return SetupInfo{}, err
	}
	id, _, err := identity.LoadOrCreate(filepath.Join(cfg.StateDir, "identity"), control.RoleMonitor, cfg.Name)
	if err != nil {
		return SetupInfo{}, err
	}
	code, _, err := pairing.LoadOrCreateCode(cfg.StateDir, cfg.SetupCode)
	if err != nil {
		return SetupInfo{}, err
	}
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return SetupInfo{}, fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return SetupInfo{}, fmt.Errorf("listen %q: the port is not a number", cfg.Listen)
	}
	return setupInfo(id.Fingerprint, int(pn), code)
}

func setupInfo(fp identity.Fingerprint, port int, code pairing.Code) (SetupInfo, error) {
	p := pairing.Payload{Version: pairing.PayloadVersion, Fingerprint: fp, Port: uint16(port), Code: code}
	if err := p.Validate(); err != nil {
		return SetupInfo{}, err
	}
	return SetupInfo{Code: code.String(), Payload: p.String()}, nil
}

func describe(p store.Payload) string {
	switch p := p.(type) {
	case store.IdentityCreated:
		return fmt.Sprintf("%s %q %s", p.Role, p.Name, identity.Fingerprint(p.Fingerprint))
	case store.SetupCodeSet:
		return "setup code set"
	case store.PairingWindowOpened:
		return fmt.Sprintf("for %v", p.Duration)
	case store.PairingWindowClosed:
		return string(p.Reason)
	case store.PairingAttemptFailed:
		return fmt.Sprintf("%s: %s", identity.Fingerprint(p.Peer), p.Reason)
	case store.ListenerTrusted:
		return fmt.Sprintf("%q %s", p.Name, identity.Fingerprint(p.Fingerprint))
	case store.ListenerRevoked:
		return fmt.Sprintf("%s: %s", identity.Fingerprint(p.Fingerprint), p.Reason)
	case store.TrustReset:
		return p.Reason
	case store.ConnectionOpened:
		return fmt.Sprintf("%s from %s (%s)", p.ConnID, p.Remote, identity.Fingerprint(p.Fingerprint).DeviceID())
	case store.ConnectionClosed:
		return fmt.Sprintf("%s from %s (%s) after %v: %s", p.ConnID, p.Remote, identity.Fingerprint(p.Fingerprint).DeviceID(), p.Duration.Round(time.Millisecond), p.Reason)
	case store.DeviceTrusted:
		return fmt.Sprintf("%q %s", p.Name, p.ID)
	case store.DeviceRenamed:
		return fmt.Sprintf("%s: now %q", p.ID, p.Name)
	case store.DeviceRevoked:
		return fmt.Sprintf("%s: %s", p.ID, p.Reason)
	case store.Unknown:
		return "unknown to this release: " + p.Reason
	}
	return fmt.Sprintf("%+v", p)
}
