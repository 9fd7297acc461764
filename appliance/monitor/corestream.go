package monitor

import (
	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/rtc"
)

// The stream side of Core: which WebRTC sessions a connection asked for
// (stream_start) and which run (an offer accepted), within the limits,
// and so whether the shared tracks' pumps run.
//
// There are two kinds of thing called a stream, kept apart by name:
//   - a session: one listener's WebRTC peer connection, counted here
//     (coreStream, per connection) and carried out by the connection's
//     rtc.Answerer;
//   - the shared tracks (sharedTracks, stream.go): one audio and one video
//     track that every session sends, each fed by one pump from the hub.
//
// The core's session table is the only count of sessions on the
// monitor's side: the pumps run while a session needs them (the Pumps
// effect carries the wanted state, not a count), and the hub counts its
// own subscribers (the pumps and the status pumps).

// maxStreamRequests bounds the stream_start sessions one connection may
// hold (started or not): past it, stream_start is answered busy.
const maxStreamRequests = 8

type coreStream struct {
	kind    string // from stream_start
	running string // the kind it runs with ("" when not): an offer was accepted
}

// StreamStart: stream_start from Conn. Kind and Session are checked here
// (bad_request); past maxStreamRequests, busy.
type StreamStart struct {
	Conn    uint64
	Session string
	Kind    string
}

// StreamOffer: webrtc_offer from Conn. Accepted, the core answers with
// Pumps (when the shared tracks must start) and Answer; refused, it
// returns bad_request (no stream_start) or busy (a limit).
type StreamOffer struct {
	Conn    uint64
	Session string
	SDP     string
}

// AnswerFailed: the owner could not answer Conn's offer for Session (bad
// SDP, the engine's own limits, the capture): the session does not run.
type AnswerFailed struct {
	Conn    uint64
	Session string
}

// StreamStop: stream_stop from Conn; an unknown session is a
// bad_request.
type StreamStop struct {
	Conn    uint64
	Session string
}

// StreamEnded: the session's peer connection closed or failed on its own
// (pion's state): the listener is told with stream_stop.
type StreamEnded struct {
	Conn    uint64
	Session string
	Reason  string
}

func (StreamStart) coreEvent()  {}
func (StreamOffer) coreEvent()  {}
func (AnswerFailed) coreEvent() {}
func (StreamStop) coreEvent()   {}
func (StreamEnded) coreEvent()  {}

// Answer: answer Conn's offer for Session, sending the shared tracks of
// Kind; on failure step AnswerFailed and answer the request with the
// error. It comes after the Pumps it needs.
type Answer struct {
	Conn    uint64
	Session string
	Kind    string
	SDP     string
}

// StopSession: close Conn's peer connection for Session.
type StopSession struct {
	Conn    uint64
	Session string
}

// Pumps: the shared tracks' pumps that must run. Gen grows with each
// Pumps effect: an owner that carries out effects from more than one
// goroutine applies only the newest.
type Pumps struct {
	Audio, Video bool
	Gen          uint64
}

// KeyFrame: a session joined the running video: ask the camera's encoder
// for a key frame.
type KeyFrame struct{}

func (Answer) coreEffect()      {}
func (StopSession) coreEffect() {}
func (Pumps) coreEffect()       {}
func (KeyFrame) coreEffect()    {}

func (c *Core) streamStep(ev Event) ([]Effect, error, bool) {
	switch ev := ev.(type) {
	case StreamStart:
		return nil, c.streamStart(ev), true
	case StreamOffer:
		eff, err := c.streamOffer(ev)
		return eff, err, true
	case AnswerFailed:
		return c.endSession(ev.Conn, ev.Session, nil), nil, true
	case StreamStop:
		cc, ok := c.conns[ev.Conn]
		if _, known := cc.streamsOf()[ev.Session]; !ok || !known {
			return nil, control.Errorf(control.CodeBadRequest, "stream_stop for an unknown session"), true
		}
		eff := c.endSession(ev.Conn, ev.Session, []Effect{StopSession(ev)})
		delete(cc.streams, ev.Session)
		return eff, nil, true
	case StreamEnded:
		if _, ok := c.conns[ev.Conn]; !ok {
			return nil, nil, true // its connection is gone: so is the listener
		}
		send := Send{Conn: ev.Conn, Msg: control.StreamStop{Session: ev.Session, Reason: ev.Reason}}
		return c.endSession(ev.Conn, ev.Session, []Effect{send}), nil, true
	}
	return nil, nil, false
}

func (cc *coreConn) streamsOf() map[string]*coreStream {
	if cc == nil {
		return nil
	}
	return cc.streams
}

func (c *Core) streamStart(ev StreamStart) error {
	if ev.Kind != control.StreamAudio && ev.Kind != control.StreamAudioVideo {
		return control.Errorf(control.CodeBadRequest, "unknown stream kind %q", ev.Kind)
	}
	if ev.Session == "" || len(ev.Session) > rtc.MaxSessionID {
		return control.Errorf(control.CodeBadRequest, "bad session id")
	}
	cc, ok := c.conns[ev.Conn]
	if !ok {
		return control.Errorf(control.CodeProtocol, "stream_start on a closed connection")
	}
	if s, ok := cc.streams[ev.Session]; ok {
		s.kind = ev.Kind // the next offer runs with it
		return nil
	}
	if len(cc.streams) >= maxStreamRequests {
		return control.Errorf(control.CodeBusy, "too many stream requests on this connection")
	}
	if cc.streams == nil {
		cc.streams = map[string]*coreStream{}
	}
	cc.streams[ev.Session] = &coreStream{kind: ev.Kind}
	return nil
}

func (c *Core) streamOffer(ev StreamOffer) ([]Effect, error) {
	cc := c.conns[ev.Conn]
	s, ok := cc.streamsOf()[ev.Session]
	if !ok {
		return nil, control.Errorf(control.CodeBadRequest, "webrtc_offer for a session without stream_start")
	}
	if s.running == "" { // a new session, not one replaced by a new offer
		switch {
		case cc.running() >= c.cfg.MaxStreamsPerConn:
			return nil, control.Errorf(control.CodeBusy, "this listener already has %d streams open: stop one first", cc.running())
		case c.running() >= c.cfg.MaxStreams:
			return nil, control.Errorf(control.CodeBusy, "the monitor is already streaming to %d listeners", c.cfg.MaxStreams)
		}
	}
	videoBefore := c.pumping.Video
	s.running = s.kind
	eff := c.pumps(nil)
	if s.kind == control.StreamAudioVideo && videoBefore {
		eff = append(eff, KeyFrame{}) // the newcomer needs a key frame
	}
	// Answer last: its owner answers the request with its outcome.
	return append(c.showLED(eff), Answer{Conn: ev.Conn, Session: ev.Session, Kind: s.kind, SDP: ev.SDP}), nil
}

// endSession marks a session as not running, after the effects in eff.
func (c *Core) endSession(conn uint64, session string, eff []Effect) []Effect {
	if s, ok := c.conns[conn].streamsOf()[session]; ok && s.running != "" {
		s.running = ""
		eff = c.pumps(eff)
	}
	return c.showLED(eff)
}

// pumps appends a Pumps effect when the wanted pumps changed.
func (c *Core) pumps(eff []Effect) []Effect {
	want := Pumps{Audio: c.running() > 0}
	for _, cc := range c.conns {
		for _, s := range cc.streams {
			if s.running == control.StreamAudioVideo {
				want.Video = true
			}
		}
	}
	if want.Audio == c.pumping.Audio && want.Video == c.pumping.Video {
		return eff
	}
	want.Gen = c.pumping.Gen + 1
	c.pumping = want
	return append(eff, want)
}

// running counts the connection's running sessions.
func (cc *coreConn) running() int {
	n := 0
	for _, s := range cc.streams {
		if s.running != "" {
			n++
		}
	}
	return n
}

// running counts the running sessions (each receives audio).
func (c *Core) running() int {
	n := 0
	for _, cc := range c.conns {
		n += cc.running()
	}
	return n
}
