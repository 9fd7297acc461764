package page

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// Push-to-talk from the page: while a parent holds a card's talk button,
// the page sends its microphone to the monitor over WebRTC (a sendonly
// offer) and the monitor plays it on its speaker. The server hands the
// offer to the monitor as a stream of kind talk (control.StreamTalk)
// over a control connection of its own (connRelay): on the monitor's
// host an in-process one of the phone's device, on the dashboard one the
// dashboard's listener dials. The connection, and with it the talk,
// lasts until the tab releases the button (talk/stop), leaves (its event
// stream ends), or talks again. The monitor lets one talker at a time
// and tells every listener who talks (talk_state); the card shows it.

// talkView is who talks to the nursery, on a card. You is left out: the
// card's session is never the talker's connection (each talk has its
// own), and the talking page knows itself.
type talkView struct {
	Talking bool      `json:"talking"`
	By      string    `json:"by,omitempty"`
	Speaker bool      `json:"speaker"`
	At      time.Time `json:"at"` // when this listener heard of it
}

func talkFrom(st control.TalkState, at time.Time) talkView {
	return talkView{Talking: st.Talking, By: st.By, Speaker: st.Speaker, At: at}
}

// tabTalk starts tab's talk on monitor id, ending the tab's earlier one
// there, and returns its context.
func (sp *sessionPool) tabTalk(tab, id string) (context.Context, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	c, ok := sp.clients[tab]
	if !ok {
		return nil, errTabGone
	}
	if _, ok := sp.mons[id]; !ok {
		return nil, errUnknownMonitor
	}
	if stop, ok := c.talks[id]; ok {
		stop()
	}
	ctx, cancel := context.WithCancel(sp.ctx)
	c.talks[id] = cancel
	return ctx, nil
}

// tabTalkEnd ends tab's talk on monitor id, if it talks.
func (sp *sessionPool) tabTalkEnd(tab, id string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	c, ok := sp.clients[tab]
	if !ok {
		return
	}
	if stop, ok := c.talks[id]; ok {
		stop()
		delete(c.talks, id)
	}
}

// talk serves POST /api/monitors/{id}/talk: the tab's sendonly offer,
// answered by the monitor.
func (s *server) talk(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if s.talkRelay == nil {
		writeProblem(w, probNoTalk)
		return
	}
	o := mediaRequest{SDP: req.SDP, Talk: true, Remote: remoteOf(r.RemoteAddr)}
	if s.opt.Monitor == nil {
		sess, err := s.pool.session(id)
		if err != nil {
			writeProblem(w, poolProblem(err))
			return
		}
		o.Session = sess
	}
	dev, _ := s.access.device(r)
	o.Device = dev.ID
	ctx, err := s.pool.tabTalk(req.Tab, id)
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	answer, err := s.talkRelay.Answer(ctx, o)
	if err != nil {
		s.pool.tabTalkEnd(req.Tab, id)
		s.log.Info("page: talk refused", "monitor", id, "err", err)
		writeProblem(w, talkProblem(err))
		return
	}
	s.log.Info("page: talking to the monitor", "monitor", id, "device", dev.ID, "from", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"sdp": answer})
}

// talkStop serves POST /api/monitors/{id}/talk/stop: the tab released
// the button.
func (s *server) talkStop(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.pool.entry(id); err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	s.pool.tabTalkEnd(req.Tab, id)
	writeJSON(w, http.StatusOK, map[string]bool{"talking": false})
}

// talkProblem words a refused talk: who talks already (the monitor's
// message names them), or the monitor has no speaker.
func talkProblem(err error) Problem {
	var ce *control.Error
	switch {
	case errors.Is(err, control.ErrBusy):
		p := probTalkBusy
		if errors.As(err, &ce) && ce.Message != "" {
			p.Message = strings.TrimSuffix(control.Truncate(ce.Message, 120), ".") + "."
		}
		p.Detail = err.Error()
		return p
	case errors.Is(err, control.ErrUnavailable):
		p := probTalkNoSpeaker
		p.Detail = err.Error()
		return p
	}
	return problemFor(err)
}
