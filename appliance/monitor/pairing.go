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

// The shell of pairing: the core decides (window, attempts, trust); this
// file runs the PAKE, whose randomness, key derivation and channel
// binding are I/O, on the connection's goroutine, and drives the window's
// clock and the store's trust changes into the core.

func (m *Monitor) pairStart(p *peer, msg control.PairStart) error {
	c := p.conn
	// A share that is not a point is refused before an attempt begins:
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
	// outside the core's owner.
	sess, err := pake.NewResponder(pake.Params{Code: string(m.SetupCode()), ListenerID: c.Peer(), MonitorID: m.id.Fingerprint, Binding: binding}, rand.Reader)
	var pB []byte
	if err == nil {
		pB, err = sess.Respond(msg.PA)
	}
	if err != nil {
		_ = m.step(PairAborted{At: m.now(), Conn: c.ID()})
		return control.Errorf(control.CodePairingFailed, "")
	}
	p.pake.Store(sess)
	m.deliver(c, control.PairReply{PB: pB})
	return nil
}

func (m *Monitor) pairConfirm(p *peer, msg control.PairConfirm) error {
	c := p.conn
	sess := p.pake.Swap(nil)
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
