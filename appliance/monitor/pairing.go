package monitor

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/store"
)

// pairingError maps the window's refusals to wire errors.
func pairingError(err error) error {
	switch {
	case errors.Is(err, pairing.ErrWindowClosed):
		return control.Errorf(control.CodePairingClosed, "")
	case errors.Is(err, pairing.ErrBusy):
		return control.Errorf(control.CodeBusy, "")
	case errors.Is(err, pairing.ErrLocked):
		return control.Errorf(control.CodePairingLocked, "")
	}
	return control.Errorf(control.CodePairingFailed, "")
}

// MaxListenerName is the longest listener name pair_start may carry, in
// bytes of UTF-8 (the X.509 CommonName limit, as for device names).
const MaxListenerName = identity.MaxNameLen

// checkListenerName enforces the name rules of pair_start: at most
// MaxListenerName bytes of valid UTF-8 without control characters (the
// name is stored and shown to the parent).
func checkListenerName(name string) error {
	switch {
	case len(name) > MaxListenerName:
		return control.Errorf(control.CodeBadRequest, "listener name of %d bytes: at most %d allowed", len(name), MaxListenerName)
	case !utf8.ValidString(name):
		return control.Errorf(control.CodeBadRequest, "listener name is not valid UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return control.Errorf(control.CodeBadRequest, "listener name contains a control character")
	}
	return nil
}

func (m *Monitor) pairStart(p *peer, msg control.PairStart) error {
	c := p.conn
	if err := checkListenerName(msg.Name); err != nil {
		return err // refused before the window: not a guess, not counted
	}
	binding, err := c.Exporter()
	if err != nil {
		return control.Errorf(control.CodeInternal, "channel binding: %v", err)
	}
	m.mu.Lock()
	if p.pake != nil {
		m.mu.Unlock()
		return control.Errorf(control.CodeProtocol, "a pairing session is already running on this connection")
	}
	eff, err := m.window.Begin(m.now(), c.ID())
	if err != nil {
		m.mu.Unlock()
		m.apply(eff, c.Peer())
		return pairingError(err)
	}
	sess, err := pake.NewMonitor(pake.Params{Code: string(m.code), ListenerID: c.Peer(), MonitorID: m.id.Fingerprint, Binding: binding}, rand.Reader)
	var pB []byte
	if err == nil {
		pB, err = sess.Respond(msg.PA)
	}
	if err != nil {
		eff = append(eff, m.window.Fail(m.now(), c.ID(), "bad pairing message")...)
		m.mu.Unlock()
		m.apply(eff, c.Peer())
		return control.Errorf(control.CodePairingFailed, "")
	}
	p.pake, p.name = sess, msg.Name
	m.mu.Unlock()
	m.apply(eff, c.Peer())
	return c.Send(m.ctx, control.PairReply{PB: pB})
}

func (m *Monitor) pairConfirm(p *peer, msg control.PairConfirm) error {
	c := p.conn
	m.mu.Lock()
	sess, name := p.pake, p.name
	p.pake = nil
	if sess == nil {
		m.mu.Unlock()
		// Out of order (no pair_start, or its session already ended): a
		// protocol error, answered; not a guess at the code, not counted.
		return control.Errorf(control.CodeProtocol, "pair_confirm without a pairing session on this connection: send pair_start first")
	}
	cB, _, err := sess.Confirm(msg.CA)
	if err != nil {
		eff := m.window.Fail(m.now(), c.ID(), "wrong setup code or relayed session")
		m.mu.Unlock()
		m.apply(eff, c.Peer())
		m.log.Warn("pairing attempt failed", "conn", c.ID(), "peer", c.Peer())
		return control.Errorf(control.CodePairingFailed, "")
	}
	eff, err := m.window.Succeed(m.now(), c.ID())
	m.mu.Unlock()
	if err != nil { // the session expired in the meantime
		m.apply(eff, c.Peer())
		return control.Errorf(control.CodePairingFailed, "the pairing session timed out")
	}
	// Durable before the listener hears of it.
	if _, err := m.st.Append(context.Background(), store.ListenerTrusted{Fingerprint: c.Peer(), Name: name, At: m.now()}); err != nil {
		return control.Errorf(control.CodeInternal, "cannot record the pairing: %v", err)
	}
	c.SetTrusted(true)
	m.startStatus(p)
	m.apply(eff, c.Peer())
	m.log.Info("listener paired", "conn", c.ID(), "peer", c.Peer(), "name", name)
	return c.Send(m.ctx, control.PairDone{CB: cB, DeviceID: m.id.Fingerprint.DeviceID(), Name: m.cfg.Name})
}

// apply turns the window's effects into events and actions. Call it
// without mu held.
func (m *Monitor) apply(effects []pairing.Effect, fp identity.Fingerprint) {
	windowChanged := false
	for _, e := range effects {
		switch e := e.(type) {
		case pairing.WindowOpened:
			windowChanged = true
			m.setAdvertisedPairing(true)
			m.record(store.PairingWindowOpened{Duration: time.Until(e.Until).Round(time.Second), Until: e.Until})
			m.log.Info("pairing window open", "until", e.Until.Format(time.TimeOnly))
		case pairing.WindowClosed:
			windowChanged = true
			m.setAdvertisedPairing(false)
			m.record(store.PairingWindowClosed{Reason: store.CloseReason(e.Reason.String())})
			m.log.Info("pairing window closed", "reason", e.Reason.String())
		case pairing.AttemptFailed:
			m.record(store.PairingAttemptFailed{Peer: m.peerFingerprint(e.Conn, fp), Reason: e.Reason})
		case pairing.SessionExpired:
			m.endSession(e.Conn)
		case pairing.SessionCancelled:
			m.endSession(e.Conn)
		case pairing.Locked:
			m.log.Error("pairing locked after too many failed attempts: a factory reset is needed", "failures", e.LifetimeFailures)
		}
	}
	if windowChanged {
		m.updateLED()
	}
	m.poke()
}

// endSession drops a connection's pairing session that the window ended
// (expired or cancelled) and tells the listener.
func (m *Monitor) endSession(conn uint64) {
	m.mu.Lock()
	p := m.peers[conn]
	if p != nil {
		p.pake = nil
	}
	m.mu.Unlock()
	if p != nil {
		_ = p.conn.Send(m.ctx, control.ErrorMessage(control.Errorf(control.CodePairingFailed, "the pairing session ended"), control.TypePairConfirm))
	}
}

func (m *Monitor) setAdvertisedPairing(open bool) {
	if m.adv == nil {
		return
	}
	if err := m.adv.SetPairingOpen(open); err != nil {
		m.log.Warn("mDNS: cannot update the pairing flag", "err", err)
	}
}

func (m *Monitor) peerFingerprint(conn uint64, fallback identity.Fingerprint) identity.Fingerprint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.peers[conn]; ok {
		return p.conn.Peer()
	}
	return fallback
}

func (m *Monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// OpenPairing opens (or extends) the pairing window for d (0 = default).
func (m *Monitor) OpenPairing(d time.Duration) (time.Time, error) {
	m.mu.Lock()
	eff, err := m.window.Open(m.now(), d)
	st := m.window.Status()
	m.mu.Unlock()
	m.apply(eff, identity.Fingerprint{})
	if err != nil {
		return time.Time{}, err
	}
	return st.Until, nil
}

// ClosePairing closes the pairing window by hand.
func (m *Monitor) ClosePairing() {
	m.mu.Lock()
	eff := m.window.Close(m.now(), pairing.CloseManual)
	m.mu.Unlock()
	m.apply(eff, identity.Fingerprint{})
}

// tickWindow drives the window's timeouts.
func (m *Monitor) tickWindow() {
	defer m.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		m.mu.Lock()
		next, ok := m.window.NextDeadline()
		m.mu.Unlock()
		d := time.Hour
		if ok {
			d = max(time.Until(next), time.Millisecond)
		}
		t.Reset(d)
		select {
		case <-m.ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
			m.mu.Lock()
			eff := m.window.Tick(m.now())
			m.mu.Unlock()
			m.apply(eff, identity.Fingerprint{})
		}
	}
}

// followStore applies trust changes from the log to live connections.
func (m *Monitor) followStore(sub *store.Subscription) {
	defer m.wg.Done()
	defer sub.Close()
	for {
		ev, err := sub.Next(m.ctx)
		if err != nil {
			return
		}
		switch p := ev.Payload.(type) {
		case store.ListenerTrusted:
			for _, peer := range m.peersOf(p.Fingerprint, false) {
				peer.conn.SetTrusted(true)
				m.startStatus(peer)
			}
		case store.ListenerRevoked:
			for _, peer := range m.peersOf(p.Fingerprint, false) {
				peer.conn.Close(control.CodeRevoked, "revoked")
			}
		case store.TrustReset:
			m.mu.Lock()
			eff := m.window.Reset()
			m.mu.Unlock()
			m.apply(eff, identity.Fingerprint{})
			for _, peer := range m.peersOf(identity.Fingerprint{}, true) {
				peer.conn.Close(control.CodeRevoked, "factory reset")
			}
		}
	}
}

func (m *Monitor) peersOf(fp identity.Fingerprint, all bool) []*peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*peer
	for _, p := range m.peers {
		if all || p.conn.Peer() == fp {
			out = append(out, p)
		}
	}
	return out
}
