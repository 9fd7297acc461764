package listener

import (
	"context"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// SoundEvent: the monitor's speaker changed (a soothing sound started,
// began to fade, or stopped), or the monitor told its state after
// hello_ack. State.Speaker false: the monitor has no speaker. Every
// subscription gets it; a front end shows it as a notice (who started
// which sound, until when).
type SoundEvent struct {
	Monitor PairedMonitor
	State   control.SoundState
	At      time.Time
}

func (SoundEvent) isEvent() {}

// StartSound asks the monitor to play a soothing sound (control.Sounds)
// on its speaker for minutes (one of control.SoundMinutes; 0: until
// stopped), replacing the one playing. Only a paired listener may. It
// returns the speaker's state; a monitor without a speaker answers
// control.ErrUnavailable, one asked too fast control.ErrBusy.
func (s *Session) StartSound(ctx context.Context, sound string, minutes int) (control.SoundState, error) {
	return s.askSound(ctx, control.SoundStart{Sound: sound, Minutes: minutes})
}

// StopSound asks the monitor to stop its soothing sound (stopping none is
// not an error).
func (s *Session) StopSound(ctx context.Context) (control.SoundState, error) {
	return s.askSound(ctx, control.SoundStop{})
}

func (s *Session) askSound(ctx context.Context, req control.Message) (control.SoundState, error) {
	r, err := s.ask(ctx, req)
	if err != nil {
		return control.SoundState{}, err
	}
	if r.Err != nil {
		return control.SoundState{}, r.Err
	}
	st, _ := r.Msg.(control.SoundState)
	return st, nil
}
