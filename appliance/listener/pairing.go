package listener

import (
	"context"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// PairingEvent: the monitor's pairing window opened or closed, or a wrong
// setup code was tried while it was open (State.FailedAttempts grew): if
// the parents did not try it, someone on their network may be guessing
// the code. Every subscription gets it.
type PairingEvent struct {
	Monitor Monitor
	State   control.PairingState
	At      time.Time
}

func (PairingEvent) isEvent() {}

type pairingReply struct {
	st  control.PairingState
	err error
}

// OpenPairing asks the monitor to open (or extend) its pairing window for
// d (0: the monitor's default, 3 minutes; at most 15), so that a new phone
// can pair with the setup code without anyone pressing the button. Only a
// paired listener may. It returns the window's state.
func (s *Session) OpenPairing(ctx context.Context, d time.Duration) (control.PairingState, error) {
	return s.askPairing(ctx, control.PairOpen{DurationMillis: d.Milliseconds()})
}

// ClosePairing asks the monitor to close its pairing window.
func (s *Session) ClosePairing(ctx context.Context) (control.PairingState, error) {
	return s.askPairing(ctx, control.PairClose{})
}

func (s *Session) askPairing(ctx context.Context, req control.Message) (control.PairingState, error) {
	waiting := &s.openWait
	if req.MessageType() == control.TypePairClose {
		waiting = &s.closeWait
	}
	r, err := ask(ctx, s, waiting, req)
	if err != nil {
		return control.PairingState{}, err
	}
	return r.st, r.err
}

// onPairing publishes the monitor's pairing state and answers the
// OpenPairing or ClosePairing calls waiting for it (ref names which; a
// notice, ref empty, answers none).
func (s *Session) onPairing(r pairingReply, ref control.Type) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ref {
	case control.TypePairOpen:
		answer(&s.openWait, r)
	case control.TypePairClose:
		answer(&s.closeWait, r)
	}
	if r.err == nil {
		ev := PairingEvent{Monitor: s.mon, State: r.st, At: time.Now()}
		s.pairing = &ev
		s.publish(ev)
	}
}
