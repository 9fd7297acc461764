package page

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// Soothing sounds from the page: a card starts one of the monitor's
// sounds (control.Sounds) with a timer (control.SoundMinutes) and stops
// it. The card shows the monitor's speaker as every listener hears of it
// (sound_state, through the card's session): which sound plays, who
// started it, the time left, or that the monitor has no speaker.
//
// Who starts it: on the dashboard, the dashboard's listener (its
// session asks); on the monitor's host, the phone itself (the request
// goes over an in-process connection of the phone's device, so every
// page names the phone).

// soundView is the monitor's speaker on a card.
type soundView struct {
	Playing bool   `json:"playing"`
	Sound   string `json:"sound,omitempty"`
	By      string `json:"by,omitempty"`
	// RemainingMillis is how long it still plays, as of when the message
	// was sent (the page counts down from its own clock); 0 while
	// Playing: until stopped.
	RemainingMillis int64     `json:"remaining_ms,omitempty"`
	Fading          bool      `json:"fading,omitempty"`
	Speaker         bool      `json:"speaker"`
	At              time.Time `json:"at"` // when this listener heard of it

	until time.Time // the sound's end, on this listener's clock (zero: until stopped)
}

// soundFrom builds the view of a speaker state heard at at.
func soundFrom(st control.SoundState, at time.Time) soundView {
	v := soundView{Playing: st.Playing, Sound: st.Sound, By: st.By, Fading: st.Fading, Speaker: st.Speaker, At: at}
	if st.Playing && st.RemainingMillis > 0 {
		v.until = at.Add(time.Duration(st.RemainingMillis) * time.Millisecond)
	}
	return v
}

// at is a copy of the view with its remaining time as of now.
func (v *soundView) at(now time.Time) *soundView {
	c := *v
	c.RemainingMillis = 0
	if c.Playing && !c.until.IsZero() {
		c.RemainingMillis = max(c.until.Sub(now).Milliseconds(), 1)
	}
	return &c
}

// soundTimeout bounds the monitor's answer to sound_start or sound_stop.
const soundTimeout = 10 * time.Second

// soundRequest is the body of .../sound/start.
type soundRequest struct {
	Sound   string `json:"sound"`
	Minutes int    `json:"minutes"`
}

// soundStart serves POST /api/monitors/{id}/sound/start.
func (s *server) soundStart(w http.ResponseWriter, r *http.Request) {
	var req soundRequest
	if !readJSON(w, r, &req) {
		return
	}
	if !slices.Contains(control.Sounds, req.Sound) || !slices.Contains(control.SoundMinutes, req.Minutes) {
		writeProblem(w, probBadSound)
		return
	}
	s.askSound(w, r, control.SoundStart{Sound: req.Sound, Minutes: req.Minutes})
}

// soundStop serves POST /api/monitors/{id}/sound/stop.
func (s *server) soundStop(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	s.askSound(w, r, control.SoundStop{})
}

// askSound sends msg (sound_start or sound_stop) to the monitor for the
// page's user and answers with the speaker's state.
func (s *server) askSound(w http.ResponseWriter, r *http.Request, msg control.Message) {
	id := r.PathValue("id")
	ctx, cancel := context.WithTimeout(r.Context(), soundTimeout)
	defer cancel()
	var st control.SoundState
	var err error
	if h := s.opt.Monitor; h != nil {
		if _, err := s.pool.entry(id); err != nil {
			writeProblem(w, poolProblem(err))
			return
		}
		dev, ok := s.access.device(r)
		if !ok {
			writeProblem(w, probNotPaired)
			return
		}
		var m control.Message
		m, err = askDevice(ctx, h, dev.ID, remoteOf(r.RemoteAddr), msg, func(m control.Message) bool {
			ss, ok := m.(control.SoundState)
			return ok && ss.Ref == msg.MessageType()
		})
		if err == nil {
			st = m.(control.SoundState)
		}
	} else {
		sess, perr := s.pool.session(id)
		if perr != nil {
			writeProblem(w, poolProblem(perr))
			return
		}
		if start, ok := msg.(control.SoundStart); ok {
			st, err = sess.StartSound(ctx, start.Sound, start.Minutes)
		} else {
			st, err = sess.StopSound(ctx)
		}
	}
	if err != nil {
		s.log.Info("page: the soothing sound was not changed", "monitor", id, "request", msg.MessageType(), "err", err)
		writeProblem(w, soundProblem(err))
		return
	}
	v := soundFrom(st, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"sound": v.at(v.At)})
}

// soundProblem words a refused sound_start or sound_stop.
func soundProblem(err error) Problem {
	switch {
	case errors.Is(err, control.ErrUnavailable):
		p := probNoSpeaker
		p.Detail = err.Error()
		return p
	case errors.Is(err, control.ErrBusy):
		p := probSoundBusy
		p.Detail = err.Error()
		return p
	}
	return problemFor(err)
}

// askDevice sends msg over a new in-process connection of the phone's
// device (so that the monitor knows who asks) and returns the monitor's
// answer: the first message answer accepts, or the error that refers to
// msg. The connection is closed before it returns.
func askDevice(ctx context.Context, h MonitorHost, device string, remote netip.AddrPort, msg control.Message, answer func(control.Message) bool) (control.Message, error) {
	c, _, err := h.Connect(ctx, device, remote)
	if err != nil {
		return nil, err
	}
	defer c.Close(control.CodeNone, "")
	if err := c.Send(ctx, msg); err != nil {
		return nil, err
	}
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return nil, err
		}
		if e, ok := m.(control.ErrorMsg); ok && e.Ref == msg.MessageType() {
			return nil, e.ToError()
		}
		if answer(m) {
			return m, nil
		}
	}
}
