package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/presence"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/store"
)

// Config configures a listener. Zero values take defaults.
type Config struct {
	StateDir  string // required
	Name      string // shown on the monitor; default the host name
	Heartbeat presence.Config
	Logger    *slog.Logger
	// Discovery lets pairing find monitors by name over mDNS, and
	// reconnection fall back to it when the last address stops answering.
	Discovery bool
	// DiscoveryInterface limits mDNS to one interface; empty uses all.
	DiscoveryInterface string
}

// Listener is this device in the listener role.
type Listener struct {
	cfg Config
	log *slog.Logger
	id  *identity.Identity
}

// PairedMonitor is a monitor this listener has paired with: what it keeps
// of it (and dials) until the monitor is forgotten or revokes it.
type PairedMonitor struct {
	DeviceID    string               `json:"device_id"`
	Name        string               `json:"name"`
	Fingerprint identity.Fingerprint `json:"fingerprint"`
	Address     string               `json:"address"`
	PairedAt    time.Time            `json:"paired_at"`
}

// Errors of the listener role.
var (
	ErrUnknownMonitor = errors.New("listener: no paired monitor matches: see `cradle monitors`, or pair it first")
	ErrAmbiguous      = errors.New("listener: several paired monitors match: use the device id")
	ErrNoCode         = errors.New("listener: pairing needs the setup code (--code) or the setup payload (--payload)")
	ErrImpostor       = errors.New("listener: the monitor could not prove it knows the setup code: it may be an impostor; check the code and the monitor")
)

// Open loads (or creates) the listener's identity.
func Open(cfg Config) (*Listener, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("listener: a state directory is required (--state-dir)")
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
		if cfg.Name == "" {
			cfg.Name = "listener"
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Heartbeat.Validate(); err != nil {
		return nil, fmt.Errorf("listener: heartbeat: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("listener: create state directory: %w", err)
	}
	l := &Listener{cfg: cfg, log: cfg.Logger}
	id, created, err := identity.LoadOrCreate(filepath.Join(cfg.StateDir, "identity"), control.RoleListener, cfg.Name)
	if err != nil {
		return nil, err
	}
	l.id = id
	if created {
		err := l.withStore(func(st *store.Store) error {
			_, err := st.Append(context.Background(), store.IdentityCreated{Role: control.RoleListener, Fingerprint: id.Fingerprint, Name: cfg.Name})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Fingerprint is this listener's identity.
func (l *Listener) Fingerprint() identity.Fingerprint { return l.id.Fingerprint }

// Name is this listener's display name.
func (l *Listener) Name() string { return l.cfg.Name }

func (l *Listener) withStore(fn func(*store.Store) error) error {
	st, err := store.Open(filepath.Join(l.cfg.StateDir, "events.db"), store.Options{Logger: l.log})
	if err != nil {
		return err
	}
	ferr := fn(st)
	return errors.Join(ferr, st.Close())
}

// Monitors lists the paired monitors by name.
func (l *Listener) Monitors() ([]PairedMonitor, error) {
	var out []PairedMonitor
	err := l.withStore(func(st *store.Store) error {
		for _, pm := range st.State().Monitors {
			out = append(out, PairedMonitor{DeviceID: pm.DeviceID, Name: pm.Name, Fingerprint: pm.Fingerprint, Address: pm.Address, PairedAt: pm.PairedAt})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].DeviceID < out[j].DeviceID
	})
	return out, err
}

// Resolve finds a paired monitor by name (case-insensitive), device id,
// fingerprint or last address.
func (l *Listener) Resolve(target string) (PairedMonitor, error) {
	ms, err := l.Monitors()
	if err != nil {
		return PairedMonitor{}, err
	}
	fp, fpErr := identity.ParseFingerprint(target)
	var found []PairedMonitor
	for _, m := range ms {
		if strings.EqualFold(m.Name, target) || strings.EqualFold(m.DeviceID, target) || m.Address == target || (fpErr == nil && m.Fingerprint == fp) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return PairedMonitor{}, fmt.Errorf("%w: %q", ErrUnknownMonitor, target)
	case 1:
		return found[0], nil
	}
	return PairedMonitor{}, fmt.Errorf("%w: %q", ErrAmbiguous, target)
}

// Forget removes a paired monitor.
func (l *Listener) Forget(ctx context.Context, target string) (PairedMonitor, error) {
	m, err := l.Resolve(target)
	if err != nil {
		return m, err
	}
	return m, l.withStore(func(st *store.Store) error {
		_, err := st.Append(ctx, store.MonitorForgotten{Fingerprint: m.Fingerprint})
		return err
	})
}

func (l *Listener) hello() control.Hello {
	return control.Hello{Protocol: control.ProtocolVersion, Role: control.RoleListener, DeviceID: l.id.Fingerprint.DeviceID(), Name: l.cfg.Name}
}

func (l *Listener) transportConfig() transport.Config {
	return transport.Config{Heartbeat: l.cfg.Heartbeat, Logger: l.log}
}

// Dial connects to a paired monitor, pinning its fingerprint.
func (l *Listener) Dial(ctx context.Context, m PairedMonitor) (*transport.Conn, control.HelloAck, error) {
	c, ack, err := transport.Dial(ctx, m.Address, l.id, m.Fingerprint, l.hello(), l.transportConfig())
	if err != nil && (ack.Protocol == 0 || ack.Trusted) {
		return nil, ack, err
	}
	if !ack.Trusted {
		// Answered untrusted (and perhaps already closed: the monitor
		// closes a stranger at once while its pairing window is closed).
		if c != nil {
			c.Close(control.CodeNone, "not trusted")
		}
		return nil, ack, &control.Error{Code: control.CodeRevoked, Remote: true, Message: "the monitor no longer trusts this listener"}
	}
	return c, ack, nil
}

// RecordAddress remembers a monitor's latest address.
func (l *Listener) RecordAddress(ctx context.Context, m PairedMonitor, addr string) error {
	if m.Address == addr {
		return nil
	}
	return l.withStore(func(st *store.Store) error {
		_, err := st.Append(ctx, store.MonitorAddressSeen{Fingerprint: m.Fingerprint, Address: addr})
		return err
	})
}

// ErrUnreachable: the monitor did not answer at its address.
var ErrUnreachable = transport.ErrUnreachable

// Probe connects to m once and reports its presence with a measured round
// trip (for `cradle status`); the connection is closed before it returns.
func (l *Listener) Probe(ctx context.Context, m PairedMonitor) Change {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, _, err := l.Dial(ctx, m)
	if err != nil {
		return Change{Monitor: m, Presence: Offline, At: time.Now(), Address: m.Address, Err: err}
	}
	defer c.Close(control.CodeNone, "status probe")
	// The heartbeat pings at once: wait for its first round trip. The
	// transport offers no signal for it, so poll briefly.
	for c.Stats().SRTT == 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-c.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	st := c.Stats()
	return Change{Monitor: m, Presence: Online, At: time.Now(), Address: m.Address, RTT: st.SRTT, LastSeen: st.LastSeen}
}
