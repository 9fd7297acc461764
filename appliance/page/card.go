package page

import (
	"context"
	"net/http"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// tabRequest is the body of listen, stop and offer.
type tabRequest struct {
	Tab   string `json:"tab"`
	Video bool   `json:"video"`
	SDP   string `json:"sdp"`
}

func (s *server) listen(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	if _, err := s.pool.tabListen(req.Tab, r.PathValue("id"), req.Video); err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"listening": true, "video": req.Video})
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.pool.tabStop(req.Tab, r.PathValue("id")); err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"listening": false})
}

// offer answers the tab's WebRTC offer through the relay; the tab must
// listen to the monitor first.
func (s *server) offer(w http.ResponseWriter, r *http.Request) {
	var req tabRequest
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	hd, err := s.pool.tabHold(req.Tab, id)
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	sess, err := s.pool.session(id)
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	if s.relay == nil {
		writeProblem(w, probNoRelay)
		return
	}
	dev, _ := s.access.device(r)
	answer, err := s.relay.Answer(hd.ctx, mediaRequest{Session: sess, SDP: req.SDP, Video: req.Video && hd.video, Device: dev.ID, Remote: remoteOf(r.RemoteAddr)})
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sdp": answer})
}

// ogg streams the monitor's audio as one continuous Ogg/Opus response
// (an <audio> element keeps playing it on a locked phone); the session
// streams while the response lasts.
func (s *server) ogg(w http.ResponseWriter, r *http.Request) { s.stream(w, r, s.oggStream, "audio") }

// nightMP3 serves the night stream: continuous MP3 (night.go).
func (s *server) nightMP3(w http.ResponseWriter, r *http.Request) { s.stream(w, r, s.night, "night") }

// stream serves one of the continuous streams with fn, holding a listen on
// the monitor (its session streams) while it runs.
func (s *server) stream(w http.ResponseWriter, r *http.Request, fn func(context.Context, http.ResponseWriter, mediaRequest) error, what string) {
	id := r.PathValue("id")
	var sess *listener.Session
	if s.watch == nil { // the dashboard's host: the monitor's session carries it
		var err error
		if sess, err = s.pool.session(id); err != nil {
			writeProblem(w, poolProblem(err))
			return
		}
	} else if _, err := s.pool.entry(id); err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	if fn == nil {
		writeProblem(w, probNoRelay)
		return
	}
	if !s.acquire(w) {
		return
	}
	defer s.release()
	if err := s.pool.listen(id); err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	defer s.pool.unlisten(id)
	dev, _ := s.access.device(r)
	if err := fn(r.Context(), w, mediaRequest{Session: sess, Device: dev.ID, Remote: remoteOf(r.RemoteAddr)}); err != nil && r.Context().Err() == nil {
		s.log.Info("page: stream ended", "stream", what, "monitor", id, "err", err)
	}
}

func (s *server) ack(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	if s.watch != nil { // the monitor's host: its night streams' alarm
		if _, err := s.pool.entry(r.PathValue("id")); err != nil {
			writeProblem(w, poolProblem(err))
			return
		}
		s.watch.ack()
		writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
		return
	}
	sess, err := s.pool.session(r.PathValue("id"))
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	sess.Ack()
	writeJSON(w, http.StatusOK, map[string]bool{"acknowledged": true})
}

func (s *server) forget(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.pool.session(id); err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	if _, err := s.opt.Listener.Forget(r.Context(), id); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	s.pool.remove(id)
	writeJSON(w, http.StatusOK, map[string]bool{"forgotten": true})
}

// sessionInfo asks the monitor over the control channel (info_request).
func sessionInfo(ctx context.Context, sess *listener.Session) (any, error) {
	return sess.MonitorInfo(ctx)
}

// info serves the card's "Monitor details" through Options.MonitorInfo.
func (s *server) info(w http.ResponseWriter, r *http.Request) {
	sess, err := s.pool.session(r.PathValue("id"))
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	if s.opt.MonitorInfo == nil {
		writeProblem(w, probNoInfo)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v, err := s.opt.MonitorInfo(ctx, sess)
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, v)
}
