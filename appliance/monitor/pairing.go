package monitor

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/store"
)

// The shell of pairing: the core decides (window, sessions, trust); this
// file runs the PAKE, whose randomness and channel binding are I/O.

func (m *Monitor) pairStart(p *peer, msg control.PairStart) error {
	c := p.conn
	// A share that is not a point is refused before a session begins:
	// it is no guess at the code, and must cost neither a key
	// derivation nor a pairing slot.
	if err := pake.CheckShare(msg.PA); err != nil {
		return control.Errorf(control.CodeBadRequest, "pa: %v", err)
	}
	binding, err := c.Exporter()
	if err != nil {
		return control.Errorf(control.CodeInternal, "channel binding: %v", err)
	}
	if err := m.step(PairStart{At: m.now(), Conn: c.ID(), Name: msg.Name}); err != nil {
		return err // the core checks the name (bad_request), then the window
	}
	// The key derivation runs here, on the connection's goroutine:
	// outside the monitor's lock and the core.
	sess, err := pake.NewResponder(pake.Params{Code: string(m.SetupCode()), ListenerID: c.Peer(), MonitorID: m.id.Fingerprint, Binding: binding}, rand.Reader)
	var pB []byte
	if err == nil {
		pB, err = sess.Respond(msg.PA)
	}
	if err != nil {
		_ = m.step(PairAborted{At: m.now(), Conn: c.ID()})
		return control.Errorf(control.CodePairingFailed, "")
	}
	m.mu.Lock()
	p.pake = sess
	m.mu.Unlock()
	return c.Send(m.ctx, control.PairReply{PB: pB})
}

func (m *Monitor) pairConfirm(p *peer, msg control.PairConfirm) error {
	c := p.conn
	m.mu.Lock()
	sess := p.pake
	p.pake = nil
	m.mu.Unlock()
	var cB []byte
	ok := false
	if sess != nil {
		var err error
		cB, _, err = sess.Confirm(msg.CA)
		ok = err == nil
	}
	done := control.PairDone{CB: cB, DeviceID: m.id.Fingerprint.DeviceID(), Name: m.cfg.Name}
	if err := m.step(PairConfirmed{At: m.now(), Conn: c.ID(), OK: ok, Done: done}); err != nil {
		return err // a wrong code is logged by the core's Alert
	}
	m.log.Info("listener paired", "conn", c.ID(), "peer", c.Peer())
	return nil
}

// step feeds the core one event, on its owner, and carries out its
// effects here, in order.
func (m *Monitor) step(ev Event) error {
	var eff []Effect
	var err error
	if oerr := m.owner.run(func() { eff, err = m.core.Step(ev) }); oerr != nil {
		return control.Errorf(control.CodeGoingAway, "%v", oerr)
	}
	if ferr := m.do(eff); ferr != nil {
		return ferr
	}
	m.poke()
	return err
}

// do carries out the core's effects in order. A failed Must append stops
// them and is returned, as is a failed Answer (the last effect of its
// step).
func (m *Monitor) do(effects []Effect) error {
	var pumpErr error
	for _, e := range effects {
		switch e := e.(type) {
		case Pumps:
			if err := m.tracks.set(e); err != nil {
				m.log.Error("the capture cannot start", "err", err)
				pumpErr = err
			}
		case KeyFrame:
			m.hub.RequestKeyFrame()
		case Answer:
			return m.answer(e, pumpErr)
		case StopSession:
			if p := m.peer(e.Conn); p != nil {
				_ = p.ans.Stop(e.Session)
			}
		case Send:
			if p := m.peer(e.Conn); p != nil {
				_ = p.conn.Send(m.ctx, e.Msg)
			}
		case Close:
			if p := m.peer(e.Conn); p != nil {
				p.conn.Close(e.Code, e.Reason)
			}
		case Append:
			if _, err := m.events.Append(context.Background(), e.Payload); err != nil {
				if e.Must {
					return control.Errorf(control.CodeInternal, "cannot record %s: %v", e.Payload.EventType(), err)
				}
				// Losing a connection record must not take the nursery offline.
				m.log.Error("cannot record event", "type", e.Payload.EventType(), "err", err)
			}
			m.logAppend(e.Payload)
		case Compact:
			if n, err := m.events.Compact(e.Keep); err != nil {
				m.log.Warn("compacting connection history", "err", err)
			} else {
				m.log.Info("compacted connection history", "removed", n)
			}
		case Trust:
			if p := m.peer(e.Conn); p != nil {
				p.conn.SetTrusted(true)
				m.known.addConn(p.conn.RemoteAddr(), m.now())
			}
		case StartStatus:
			if p := m.peer(e.Conn); p != nil {
				m.startStatus(p)
			}
		case EndPairing:
			m.mu.Lock()
			if p := m.peers[e.Conn]; p != nil {
				p.pake = nil
			}
			m.mu.Unlock()
		case Advertise:
			m.applyNewest(&m.advGen, e.Gen, func() { m.setAdvertisedPairing(e.PairingOpen) })
		case LED:
			if m.cfg.Device != nil {
				m.applyNewest(&m.ledGen, e.Gen, func() { m.cfg.Device.SetState(e.State) })
			}
		case Alert:
			m.log.Warn(e.Msg)
		case RenewCode:
			m.renewCode()
		}
	}
	return nil
}

// renewCode makes a new setup code after a factory reset: the old one,
// printed on the card, may have been seen by anyone. A code pinned in the
// configuration (setup_code) is the parent's choice and is kept. On a card
// made from the image, cradle-setup-card.path writes the new code to the
// boot partition (deploy/image).
func (m *Monitor) renewCode() {
	if m.cfg.SetupCode != "" {
		m.log.Warn("factory reset: the setup code stays the one set in the configuration (setup_code)")
		return
	}
	code, err := pairing.RenewCode(m.cfg.StateDir, rand.Reader)
	if err != nil {
		m.log.Error("factory reset: cannot make a new setup code; the old one stays", "err", err)
		return
	}
	m.codeMu.Lock()
	m.code = code
	m.codeMu.Unlock()
	if gen, err := pairing.NewCodeID(rand.Reader); err == nil {
		// Only a random generation id: the event log never holds the code.
		if _, err := m.events.Append(context.Background(), store.SetupCodeSet{Scheme: "generation-id", Salt: gen[:]}); err != nil {
			m.log.Error("cannot record the new setup code's generation", "err", err)
		}
	}
	m.log.Warn("factory reset: a new setup code was made; read it with `cradled setup-code` (or from cradle-setup.txt on the card's boot partition)")
}

// applyNewest runs apply for a state effect of generation gen only if
// it is newer than the last applied (*last). Steps on different
// goroutines carry out their effects concurrently: an LED or mDNS state
// the core computed earlier must not overwrite a later one. genMu makes
// the check and the apply one.
func (m *Monitor) applyNewest(last *uint64, gen uint64, apply func()) {
	m.genMu.Lock()
	defer m.genMu.Unlock()
	if gen > *last {
		*last = gen
		apply()
	}
}

// logAppend logs the appends a parent reads in the journal.
func (m *Monitor) logAppend(p store.Payload) {
	switch p := p.(type) {
	case store.PairingWindowOpened:
		m.log.Info("pairing window open", "until", p.Until.Format(time.TimeOnly))
	case store.PairingWindowClosed:
		m.log.Info("pairing window closed", "reason", string(p.Reason))
	}
}

func (m *Monitor) peer(conn uint64) *peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers[conn]
}

func (m *Monitor) setAdvertisedPairing(open bool) {
	if m.adv == nil {
		return
	}
	if err := m.adv.SetPairingOpen(open); err != nil {
		m.log.Warn("mDNS: cannot update the pairing flag", "err", err)
	}
}

func (m *Monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// OpenPairing opens (or extends) the pairing window for d (0 = default).
func (m *Monitor) OpenPairing(d time.Duration) (time.Time, error) {
	if err := m.step(OpenPairing{At: m.now(), D: d}); err != nil {
		return time.Time{}, err
	}
	return m.window().Until, nil
}

// window reads the pairing window's state from the core.
func (m *Monitor) window() pairing.WindowStatus {
	var ws pairing.WindowStatus
	_ = m.owner.run(func() { ws = m.core.Window() })
	return ws
}

// ClosePairing closes the pairing window by hand.
func (m *Monitor) ClosePairing() { _ = m.step(ClosePairing{At: m.now()}) }

// serveTicks drives the window's timeouts: a Tick at the core's next
// deadline, read again after every step (poke).
func (m *Monitor) serveTicks(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var next time.Time
		var ok bool
		if err := m.owner.run(func() { next, ok = m.core.NextDeadline() }); err != nil {
			return nil
		}
		d := time.Hour
		if ok {
			d = max(next.Sub(m.now()), time.Millisecond)
		}
		t.Reset(d)
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-t.C:
			_ = m.step(Tick{At: m.now()})
		}
	}
}

// serveStore hands the log's events to the core (trust changes reach
// live connections).
func (m *Monitor) serveStore(ctx context.Context, sub *store.Subscription) error {
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return nil
		}
		_ = m.step(StoreAppended{At: m.now(), Payload: ev.Payload})
	}
}
