package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cradle-monitor/cradle/appliance/admin"
	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

// Admin API results (JSON), shared with the cradled CLI.

// Status is the answer to "status".
type Status struct {
	Name        string           `json:"name"`
	DeviceID    string           `json:"device_id"`
	Fingerprint string           `json:"fingerprint"`
	Addr        string           `json:"addr"`
	Port        int              `json:"port"`
	Pairing     PairingStatus    `json:"pairing"`
	Connections []ConnectionInfo `json:"connections"`
}

// PairingStatus describes the pairing window.
type PairingStatus struct {
	Open             bool       `json:"open"`
	Until            *time.Time `json:"until,omitempty"`
	LifetimeFailures int        `json:"lifetime_failures"`
	Locked           bool       `json:"locked"`
}

// ConnectionInfo describes one live connection.
type ConnectionInfo struct {
	ID          uint64    `json:"id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Remote      string    `json:"remote"`
	Trusted     bool      `json:"trusted"`
	Since       time.Time `json:"since"`
	LastSeen    time.Time `json:"last_seen"`
	RTT         string    `json:"rtt"`
	RTTMicros   int64     `json:"rtt_us"`
}

// ListenerInfo is one trusted listener.
type ListenerInfo struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	PairedAt    time.Time `json:"paired_at"`
	Online      bool      `json:"online"`
}

// SetupInfo is the answer to "setup-code".
type SetupInfo struct {
	Code    string `json:"code"`
	Payload string `json:"payload"`
}

// EventInfo is one event of the audit trail.
type EventInfo struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Details string    `json:"details"`
}

func (m *Monitor) adminHandlers() map[string]admin.Handler {
	return map[string]admin.Handler{
		"pair": func(ctx context.Context, a json.RawMessage) (any, error) {
			var args struct {
				Duration time.Duration `json:"duration"`
			}
			if len(a) > 0 {
				if err := json.Unmarshal(a, &args); err != nil {
					return nil, err
				}
			}
			// With the simulated button, `cradled pair` presses it, so the
			// path is the same as a parent's finger on the real one.
			if p, ok := m.cfg.Device.(hw.Presser); ok && args.Duration == 0 {
				return m.pressAndWait(ctx, p.PressShort, 3*time.Second, store.TypePairingWindowOpened)
			}
			until, err := m.OpenPairing(args.Duration)
			if err != nil {
				return nil, err
			}
			return map[string]time.Time{"until": until}, nil
		},
		"close-pairing": func(context.Context, json.RawMessage) (any, error) {
			m.ClosePairing()
			return nil, nil
		},
		"status":     func(context.Context, json.RawMessage) (any, error) { return m.Status(), nil },
		"listeners":  func(context.Context, json.RawMessage) (any, error) { return m.Listeners(), nil },
		"setup-code": func(context.Context, json.RawMessage) (any, error) { return m.SetupInfo() },
		"revoke": func(ctx context.Context, a json.RawMessage) (any, error) {
			var args struct {
				Fingerprint string `json:"fingerprint"`
			}
			if err := json.Unmarshal(a, &args); err != nil {
				return nil, err
			}
			return nil, m.Revoke(ctx, args.Fingerprint)
		},
		"reset": func(ctx context.Context, _ json.RawMessage) (any, error) {
			if p, ok := m.cfg.Device.(hw.Presser); ok {
				long := m.cfg.HW.WithDefaults().LongPress
				return m.pressAndWait(ctx, p.PressLong, long+3*time.Second, store.TypeTrustReset)
			}
			return nil, m.FactoryReset(ctx)
		},
		"events": func(_ context.Context, a json.RawMessage) (any, error) {
			var args struct {
				Since uint64 `json:"since"`
			}
			if len(a) > 0 {
				if err := json.Unmarshal(a, &args); err != nil {
					return nil, err
				}
			}
			var out []EventInfo
			err := m.st.Events(args.Since, func(e store.Event) error {
				out = append(out, EventInfo{Seq: e.Seq, Time: e.Time, Type: e.Type.String(), Details: describe(e.Payload)})
				return nil
			})
			return out, err
		},
	}
}

// pressAndWait presses the simulated button and waits, on the event log,
// for the event the press should cause.
func (m *Monitor) pressAndWait(ctx context.Context, press func(), within time.Duration, want store.Type) (any, error) {
	sub := m.st.Subscribe(m.st.State().Seq)
	defer sub.Close()
	press()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("the simulated button press had no effect within %v (see the monitor's log)", within)
		}
		if ev.Type != want {
			continue
		}
		if p, ok := ev.Payload.(store.PairingWindowOpened); ok {
			return map[string]time.Time{"until": p.Until}, nil
		}
		return nil, nil
	}
}

// Status reports the monitor's state and its live connections.
func (m *Monitor) Status() Status {
	m.mu.Lock()
	ws := m.window.Status()
	conns := make([]ConnectionInfo, 0, len(m.peers))
	for _, p := range m.peers {
		c := p.conn
		hs := c.Stats()
		name := p.hello.Name
		if l, ok := m.st.State().Allowlist[c.Peer()]; ok {
			name = l.Name
		}
		conns = append(conns, ConnectionInfo{
			ID: c.ID(), Name: name, Fingerprint: c.Peer().String(), Remote: c.RemoteAddr().String(),
			Trusted: c.Trusted(), Since: p.since, LastSeen: hs.LastSeen,
			RTT: hs.SRTT.Round(time.Microsecond).String(), RTTMicros: hs.SRTT.Microseconds(),
		})
	}
	m.mu.Unlock()
	sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	ps := PairingStatus{Open: ws.Open, LifetimeFailures: ws.LifetimeFailures, Locked: ws.Locked}
	if ws.Open {
		u := ws.Until
		ps.Until = &u
	}
	return Status{
		Name: m.cfg.Name, DeviceID: m.id.Fingerprint.DeviceID(), Fingerprint: m.id.Fingerprint.String(),
		Addr: m.Addr().String(), Port: m.Addr().Port, Pairing: ps, Connections: conns,
	}
}

// info is the control card a trusted listener asks for (info_request):
// the status, with times relative to now.
func (m *Monitor) info(asker *peer) control.Info {
	st := m.Status()
	now := m.now()
	info := control.Info{Name: st.Name, Port: st.Port, PairingOpen: st.Pairing.Open, Connections: []control.InfoConnection{}}
	for _, c := range st.Connections {
		fp, _ := identity.ParseFingerprint(c.Fingerprint)
		ic := control.InfoConnection{
			DeviceID: fp.DeviceID(), Name: c.Name, Trusted: c.Trusted, You: c.ID == asker.conn.ID(),
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
	m.mu.Lock()
	for _, p := range m.peers {
		online[p.conn.Peer()] = true
	}
	m.mu.Unlock()
	var out []ListenerInfo
	for fp, l := range m.st.State().Allowlist {
		out = append(out, ListenerInfo{Name: l.Name, Fingerprint: identity.Fingerprint(fp).String(), PairedAt: l.PairedAt, Online: online[fp]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PairedAt.Before(out[j].PairedAt) })
	return out
}

// Revoke removes a listener from the allowlist; its connections close
// with code revoked as soon as the event is read back.
func (m *Monitor) Revoke(ctx context.Context, fingerprint string) error {
	fp, err := identity.ParseFingerprint(fingerprint)
	if err != nil {
		return err
	}
	if !m.Trusted(fp) {
		return fmt.Errorf("no trusted listener has fingerprint %s: see cradled listeners", fp)
	}
	_, err = m.st.Append(ctx, store.ListenerRevoked{Fingerprint: fp, Reason: "revoked by the administrator"})
	return err
}

// SetupInfo returns the setup code and payload.
func (m *Monitor) SetupInfo() (SetupInfo, error) {
	p := pairing.Payload{Version: pairing.PayloadVersion, Fingerprint: m.id.Fingerprint, Port: uint16(m.Addr().Port), Code: m.code}
	if err := p.Validate(); err != nil {
		return SetupInfo{}, err
	}
	return SetupInfo{Code: m.code.String(), Payload: p.String()}, nil
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
	case store.Unknown:
		return "unknown to this release: " + p.Reason
	}
	return fmt.Sprintf("%+v", p)
}
