package listener

import (
	"context"
	"slices"
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
	ch := make(chan pairingReply, 1)
	s.mu.Lock()
	c := s.conn
	if c != nil {
		s.pairWait = append(s.pairWait, ch)
	}
	s.mu.Unlock()
	if c == nil {
		return control.PairingState{}, ErrOffline
	}
	defer func() {
		s.mu.Lock()
		s.pairWait = slices.DeleteFunc(s.pairWait, func(x chan pairingReply) bool { return x == ch })
		s.mu.Unlock()
	}()
	if err := c.Send(ctx, req); err != nil {
		return control.PairingState{}, err
	}
	select {
	case r := <-ch:
		return r.st, r.err
	case <-c.Done():
		return control.PairingState{}, ErrOffline
	case <-ctx.Done():
		return control.PairingState{}, ctx.Err()
	}
}

// onPairing publishes the monitor's pairing state and answers the
// OpenPairing and ClosePairing calls waiting for it.
func (s *Session) onPairing(r pairingReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.pairWait {
		select {
		case ch <- r:
		default:
		}
	}
	s.pairWait = nil
	if r.err == nil {
		ev := PairingEvent{Monitor: s.mon, State: r.st, At: time.Now()}
		s.pairing = &ev
		s.publish(ev)
	}
}
