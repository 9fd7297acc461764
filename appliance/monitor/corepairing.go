package monitor

import (
	"errors"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// The pairing side of Core: pairing.Window's effects turned into the
// monitor's, the requests that drive it, and trust changes from the
// store.

func (c *Core) pairStart(ev PairStart) ([]Effect, error) {
	if err := checkListenerName(ev.Name); err != nil {
		return nil, err // refused before the window: not a guess, not counted
	}
	cc, ok := c.conns[ev.Conn]
	if !ok {
		return nil, control.Errorf(control.CodeProtocol, "pair_start on a closed connection")
	}
	if cc.pairing {
		return nil, control.Errorf(control.CodeProtocol, "a pairing attempt is already running on this connection")
	}
	eff, err := c.window.Begin(ev.At, ev.Conn, cc.source)
	if err != nil {
		return c.windowEffects(ev.At, eff), pairingError(err)
	}
	cc.pairing, cc.pairName = true, ev.Name
	c.admitted.began(ev.At, ev.Conn)
	return c.windowEffects(ev.At, eff), nil
}

func (c *Core) pairConfirmed(ev PairConfirmed) ([]Effect, error) {
	cc, ok := c.conns[ev.Conn]
	if !ok || !cc.pairing {
		// Out of order (no pair_start, or its attempt already ended): a
		// protocol error, answered; not a guess at the code, not counted.
		return nil, control.Errorf(control.CodeProtocol, "pair_confirm without a pairing attempt on this connection: send pair_start first")
	}
	// Its answer is still to be sent: it is the last idle stranger to be
	// evicted for a newcomer.
	cc.pairing = false
	c.admitted.answered(ev.At, ev.Conn)
	end := EndPairing{Conn: ev.Conn}
	if !ev.OK {
		// Answered first: the window's effects may close this connection
		// (the window closed after too many wrong codes).
		perr := control.Errorf(control.CodePairingFailed, "")
		eff := []Effect{end, Send{Conn: ev.Conn, Msg: control.ErrorMessage(perr, control.TypePairConfirm)}}
		eff = append(eff, c.windowEffects(ev.At, c.window.Fail(ev.At, ev.Conn, "wrong setup code or relayed session"))...)
		return eff, Answered{perr}
	}
	weff, err := c.window.Succeed(ev.At, ev.Conn)
	if err != nil { // the attempt expired in the meantime (SessionExpired ends it)
		return c.windowEffects(ev.At, weff), control.Errorf(control.CodePairingFailed, "the pairing attempt timed out")
	}
	// Durable before the listener hears of it.
	c.trust(ev.Conn, cc)
	eff := []Effect{end,
		Append{Payload: store.ListenerTrusted{Fingerprint: cc.peer, Name: cc.pairName, At: ev.At}, Must: true},
		c.record(ev.Conn, cc), Trust{Conn: ev.Conn}, Send{Conn: ev.Conn, Msg: ev.Done},
		Send{Conn: ev.Conn, Msg: c.SoundState(ev.At)}, // what a trusted one hears after hello_ack
		Send{Conn: ev.Conn, Msg: c.TalkState(ev.Conn)},
		StartStatus{Conn: ev.Conn}}
	return append(eff, c.windowEffects(ev.At, weff)...), nil
}

func (c *Core) storeAppended(ev StoreAppended) []Effect {
	var eff []Effect
	switch p := ev.Payload.(type) {
	case store.ListenerTrusted:
		for _, id := range c.connsOf(p.Fingerprint, false) {
			if cc := c.conns[id]; !cc.trusted {
				c.trust(id, cc)
				eff = append(eff, c.record(id, cc), Trust{Conn: id}, StartStatus{Conn: id})
			}
		}
	case store.ListenerRevoked:
		for _, id := range c.connsOf(p.Fingerprint, false) {
			eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "revoked"})
		}
	case store.TrustReset:
		eff = append(c.windowEffects(ev.At, c.window.Reset()), RenewCode{})
		for _, id := range c.connsOf(identity.Fingerprint{}, true) {
			eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "factory reset"})
		}
	case store.DeviceRevoked:
		for _, id := range c.connsOf(identity.Fingerprint{}, true) {
			if d := c.conns[id].device; d != "" && d == p.ID {
				eff = append(eff, Close{Conn: id, Code: control.CodeRevoked, Reason: "this phone was removed"})
			}
		}
	}
	return append(eff, deviceGone(ev.Payload)...)
}

// windowEffects turns the window's effects into the monitor's.
func (c *Core) windowEffects(now time.Time, effs []pairing.Effect) []Effect {
	var out []Effect
	notify := false
	for _, e := range effs {
		switch e := e.(type) {
		case pairing.WindowOpened:
			notify = true
			out = append(out, Advertise{PairingOpen: true},
				Append{Payload: store.PairingWindowOpened{Duration: e.Until.Sub(now).Round(time.Second), Until: e.Until}})
		case pairing.WindowClosed:
			notify = true
			out = append(out, Advertise{PairingOpen: false},
				Append{Payload: store.PairingWindowClosed{Reason: store.CloseReason(e.Reason.String())}})
			for _, id := range c.admitted.windowClosed() {
				out = append(out, Close{Conn: id, Code: control.CodePairingClosed, Reason: "pairing closed"})
			}
		case pairing.AttemptFailed:
			notify = true
			var peer identity.Fingerprint
			if cc, ok := c.conns[e.Conn]; ok {
				peer = cc.peer
			}
			// At most MaxWindowFailures per window the parent opened:
			// bounded writes, kept for the parent's history.
			out = append(out, Append{Payload: store.PairingAttemptFailed{Peer: peer, Reason: e.Reason}},
				Alert{Msg: fmt.Sprintf("a wrong setup code was tried from %s (%d in this pairing window; it closes at %d)", e.Source, e.WindowFailures, c.window.Config().MaxWindowFailures)})
		case pairing.SessionExpired, pairing.SessionCancelled:
			conn := attemptConn(e)
			if cc, ok := c.conns[conn]; ok {
				cc.pairing = false
				c.admitted.ended(conn)
				out = append(out, EndPairing{Conn: conn}, Send{Conn: conn, Msg: control.ErrorMessage(
					control.Errorf(control.CodePairingFailed, "the pairing attempt ended"), control.TypePairConfirm)})
			}
		}
	}
	if notify {
		out = c.notifyPairing(now, out, 0)
	}
	return c.showLED(out)
}

// notifyPairing sends the window's state to every trusted connection,
// and to conn (which asked) even if nothing changed.
func (c *Core) notifyPairing(now time.Time, eff []Effect, conn uint64) []Effect {
	st := c.PairingState(now)
	sent := false
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		if c.conns[id].trusted {
			eff = append(eff, Send{Conn: id, Msg: st})
			sent = sent || id == conn
		}
	}
	if conn != 0 && !sent {
		eff = append(eff, Send{Conn: conn, Msg: st})
	}
	return eff
}

// Answered is a request's error that the effects already carry (a Send
// ahead of effects that may close the connection): the shell must not
// answer it again.
type Answered struct{ Err error }

func (a Answered) Error() string { return a.Err.Error() }
func (a Answered) Unwrap() error { return a.Err }

// PairingState is the window as trusted listeners see it at now.
func (c *Core) PairingState(now time.Time) control.PairingState {
	ws := c.window.Status()
	st := control.PairingState{Open: ws.Open, FailedAttempts: ws.FailuresThisWindow}
	if ws.Open {
		st.RemainingMillis = max(ws.Until.Sub(now).Milliseconds(), 0)
	} else if ws.LastClose != 0 {
		st.Closed = ws.LastClose.String()
	}
	return st
}

// pairOpen carries out a trusted listener's pair_open or pair_close (ref):
// the window's effects, the notice to every trusted listener, and the
// answer (the notice with ref set) to the one that asked.
func (c *Core) pairOpen(now time.Time, conn uint64, ref control.Type, do func() ([]pairing.Effect, error)) ([]Effect, error) {
	cc, ok := c.conns[conn]
	if !ok || !cc.trusted {
		return nil, control.Errorf(control.CodeUntrusted, "only a paired listener may open or close pairing")
	}
	weff, err := do()
	eff := c.windowEffects(now, weff)
	if err != nil {
		return eff, control.Errorf(control.CodeBadRequest, "%v", err)
	}
	for i, e := range eff {
		if s, ok := e.(Send); ok && s.Conn == conn {
			if st, ok := s.Msg.(control.PairingState); ok {
				st.Ref = ref // its notice answers it
				eff[i] = Send{Conn: conn, Msg: st}
				return eff, nil
			}
		}
	}
	st := c.PairingState(now) // nothing changed: only it is told
	st.Ref = ref
	return append(eff, Send{Conn: conn, Msg: st}), nil
}

// attemptConn is the connection of a pairing attempt's end.
func attemptConn(e pairing.Effect) uint64 {
	switch e := e.(type) {
	case pairing.SessionExpired:
		return e.Conn
	case pairing.SessionCancelled:
		return e.Conn
	}
	return 0
}

// pairingError maps the window's refusals to wire errors.
func pairingError(err error) error {
	switch {
	case errors.Is(err, pairing.ErrWindowClosed):
		return control.Errorf(control.CodePairingClosed, "")
	case errors.Is(err, pairing.ErrBusy):
		return control.Errorf(control.CodeBusy, "")
	case errors.Is(err, pairing.ErrSourceLocked):
		return control.Errorf(control.CodePairingLocked, "")
	}
	return control.Errorf(control.CodePairingFailed, "")
}
