package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/discovery"
	"github.com/cradle-monitor/cradle/appliance/identity"
)

// ErrNotFound: discovery found no monitor by that name or id.
var ErrNotFound = errors.New("listener: no monitor by that name or id answered on the local network: check that it is on and on the same Wi-Fi, or give its HOST:PORT")

// Discover lists the monitors that answer on the local network.
func (l *Listener) Discover(ctx context.Context, timeout time.Duration) ([]discovery.Found, error) {
	if timeout <= 0 {
		timeout = discovery.DefaultBrowseTimeout
	}
	return discovery.Browse(ctx, discovery.BrowseConfig{Timeout: timeout, Interface: l.cfg.DiscoveryInterface, Logger: l.log})
}

// lookup finds one discovered monitor by name, device id or fingerprint.
// The advertised fingerprint is only a hint: callers pin what they paired.
func (l *Listener) lookup(ctx context.Context, match func(discovery.Found) bool) (discovery.Found, error) {
	ms, err := l.Discover(ctx, 0)
	if err != nil && len(ms) == 0 {
		return discovery.Found{}, err
	}
	var found []discovery.Found
	for _, m := range ms {
		if match(m) && len(m.Addrs) > 0 {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return discovery.Found{}, ErrNotFound
	case 1:
		return found[0], nil
	}
	return discovery.Found{}, fmt.Errorf("%w: %d monitors match", ErrAmbiguous, len(found))
}

// resolveTarget turns a pairing target into host:port: host:port as is,
// otherwise a discovered monitor's name or device id.
func (l *Listener) resolveTarget(ctx context.Context, target string, fp identity.Fingerprint, port uint16) (string, error) {
	if _, _, err := net.SplitHostPort(target); err == nil {
		return target, nil
	}
	if ip := net.ParseIP(target); ip != nil || strings.Contains(target, ".") {
		if port == 0 {
			port = control.DefaultPort
		}
		return net.JoinHostPort(target, fmt.Sprint(port)), nil
	}
	if !l.cfg.Discovery {
		return "", fmt.Errorf("listener: %q is not HOST:PORT, and discovery is off", target)
	}
	m, err := l.lookup(ctx, func(m discovery.Found) bool {
		if target == "" {
			return !fp.IsZero() && strings.EqualFold(m.Fingerprint, fp.String())
		}
		return strings.EqualFold(m.Name, target) || strings.EqualFold(m.DeviceID, target)
	})
	if err != nil {
		return "", err
	}
	return m.AddrPort().String(), nil
}

// rediscover looks a paired monitor up by its fingerprint, for when its
// last address stopped answering.
func (l *Listener) rediscover(ctx context.Context, mon PairedMonitor) (string, error) {
	m, err := l.lookup(ctx, func(m discovery.Found) bool {
		fp, err := identity.ParseFingerprint(m.Fingerprint)
		return err == nil && fp == mon.Fingerprint
	})
	if err != nil {
		return "", err
	}
	return m.AddrPort().String(), nil
}
