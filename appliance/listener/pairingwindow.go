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
	Monitor PairedMonitor
	State   control.PairingState
	At      time.Time
}

func (PairingEvent) isEvent() {}

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
	r, err := s.ask(ctx, req)
	if err != nil {
		return control.PairingState{}, err
	}
	if r.Err != nil {
		return control.PairingState{}, r.Err
	}
	st, _ := r.Msg.(control.PairingState)
	return st, nil
}
