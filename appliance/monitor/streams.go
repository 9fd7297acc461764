package monitor

import (
	"github.com/cradle-monitor/cradle/appliance/control"
)

// streams decides who streams: which WebRTC sessions a connection asked
// for (stream_start) and which run (an offer accepted), within the
// limits, and so whether the shared tracks' pumps run. It is a pure
// machine in the shape of pairing.Window: methods return the effects to
// carry out, it reads no clock, and it is not safe for concurrent use.
// Core owns one.
//
// A session here is one listener's WebRTC peer connection, counted per
// connection and carried out by the connection's rtc.Answerer; the
// shared tracks (sharedTracks, tracks.go) are the one audio and one
// video track every session sends, each fed by one pump from the hub.
//
// Rules:
//   - Only a connection allowed (trusted: allow) may stream; stream_start
//     from any other is a protocol error.
//   - stream_start records a session (kind and id checked: bad_request;
//     at most Requests per connection, started or not: busy); a known
//     one takes the new kind for its next offer.
//   - webrtc_offer for a recorded session runs it, within PerConn running
//     sessions per connection and Total in all (busy); an offer for a
//     running session replaces it within its slot. Without stream_start
//     it is a bad_request.
//   - stream_stop for an unknown session is a bad_request; a known one
//     is stopped and forgotten.
//   - A session whose peer connection ends on its own (pion) is told to
//     the listener (stream_stop); one whose answer failed no longer runs;
//     a closed connection's sessions end with it (drop).
//   - A talk (kind talk, coretalk.go) is a session of its own that
//     receives the listener's voice: it counts in the limits but needs
//     no pump; a session id keeps its side (talk or not).
//   - The pumps run while a session needs them: a Pumps effect carries
//     the wanted state, only when it changes; a session that joins the
//     running video asks for a key frame.
type streams struct {
	cfg     streamsConfig
	conns   map[uint64]map[string]*session // the connections that may stream, and their sessions
	pumping Pumps                          // the pumps last asked for
}

// streamsConfig holds the limits (see streams). The shell passes the
// WebRTC engine's own (rtc.DefaultMaxSessions, ...); zero takes the
// defaults below, which a test keeps equal to rtc's.
type streamsConfig struct {
	PerConn      int // running sessions per connection
	Total        int // running sessions in all
	Requests     int // sessions recorded per connection
	MaxSessionID int // the longest session id, in bytes
}

const (
	defaultMaxStreamsPerConn = 2  // rtc.DefaultMaxSessionsPerConn
	defaultMaxStreams        = 8  // rtc.DefaultMaxSessions
	defaultMaxSessionID      = 64 // rtc.MaxSessionID
	// maxStreamRequests bounds the stream_start sessions one connection
	// may hold (started or not): past it, stream_start is answered busy.
	maxStreamRequests = 8
)

type session struct {
	kind    string // from stream_start
	running string // the kind it runs with ("" when not): an offer was accepted
}

func newStreams(cfg streamsConfig) *streams {
	if cfg.PerConn <= 0 {
		cfg.PerConn = defaultMaxStreamsPerConn
	}
	if cfg.Total <= 0 {
		cfg.Total = defaultMaxStreams
	}
	if cfg.Requests <= 0 {
		cfg.Requests = maxStreamRequests
	}
	if cfg.MaxSessionID <= 0 {
		cfg.MaxSessionID = defaultMaxSessionID
	}
	return &streams{cfg: cfg, conns: map[uint64]map[string]*session{}}
}

// allow lets conn stream (it is trusted).
func (s *streams) allow(conn uint64) {
	if _, ok := s.conns[conn]; !ok {
		s.conns[conn] = map[string]*session{}
	}
}

// drop forgets conn (it closed): its sessions end with it.
func (s *streams) drop(conn uint64) []Effect {
	delete(s.conns, conn)
	return s.pumps(nil)
}

func (s *streams) start(conn uint64, id, kind string) error {
	if kind != control.StreamAudio && kind != control.StreamAudioVideo && kind != control.StreamTalk {
		return control.Errorf(control.CodeBadRequest, "unknown stream kind %q", kind)
	}
	if id == "" || len(id) > s.cfg.MaxSessionID {
		return control.Errorf(control.CodeBadRequest, "bad session id")
	}
	ss, ok := s.conns[conn]
	if !ok {
		return control.Errorf(control.CodeProtocol, "stream_start on a connection that may not stream (closed, or not paired)")
	}
	if se, ok := ss[id]; ok {
		if (se.kind == control.StreamTalk) != (kind == control.StreamTalk) {
			return control.Errorf(control.CodeBadRequest, "a talk is a session of its own: use a new session id")
		}
		se.kind = kind // the next offer runs with it
		return nil
	}
	if len(ss) >= s.cfg.Requests {
		return control.Errorf(control.CodeBusy, "too many stream requests on this connection")
	}
	ss[id] = &session{kind: kind}
	return nil
}

// offer runs the session: the effects (Pumps, KeyFrame), then the Answer
// to hand to the engine.
func (s *streams) offer(conn uint64, id, sdp string) ([]Effect, Answer, error) {
	se, ok := s.conns[conn][id]
	if !ok {
		return nil, Answer{}, control.Errorf(control.CodeBadRequest, "webrtc_offer for a session without stream_start")
	}
	if se.running == "" { // a new session, not one replaced by a new offer
		switch n := s.runningOn(conn); {
		case n >= s.cfg.PerConn:
			return nil, Answer{}, control.Errorf(control.CodeBusy, "this listener already has %d streams open: stop one first", n)
		case s.running() >= s.cfg.Total:
			return nil, Answer{}, control.Errorf(control.CodeBusy, "the monitor is already streaming to %d listeners", s.cfg.Total)
		}
	}
	videoBefore := s.pumping.Video
	se.running = se.kind
	eff := s.pumps(nil)
	if se.kind == control.StreamAudioVideo && videoBefore {
		eff = append(eff, KeyFrame{}) // the newcomer needs a key frame
	}
	return eff, Answer{Conn: conn, Session: id, Kind: se.kind, SDP: sdp}, nil
}

// stop stops a known session and forgets it.
func (s *streams) stop(conn uint64, id string) ([]Effect, error) {
	if _, ok := s.conns[conn][id]; !ok {
		return nil, control.Errorf(control.CodeBadRequest, "stream_stop for an unknown session")
	}
	eff := s.end(conn, id, []Effect{StopSession{Conn: conn, Session: id}})
	delete(s.conns[conn], id)
	return eff, nil
}

// ended: the session's peer connection ended on its own; the listener is
// told, unless its connection is gone.
func (s *streams) ended(conn uint64, id, reason string) ([]Effect, bool) {
	if _, ok := s.conns[conn]; !ok {
		return nil, false
	}
	return s.end(conn, id, []Effect{Send{Conn: conn, Msg: control.StreamStop{Session: id, Reason: reason}}}), true
}

// end marks a session as not running, after the effects in eff.
func (s *streams) end(conn uint64, id string, eff []Effect) []Effect {
	if se, ok := s.conns[conn][id]; ok && se.running != "" {
		se.running = ""
		eff = s.pumps(eff)
	}
	return eff
}

// pumps appends a Pumps effect when the wanted pumps changed.
func (s *streams) pumps(eff []Effect) []Effect {
	var want Pumps
	for _, ss := range s.conns {
		for _, se := range ss {
			switch se.running {
			case control.StreamAudioVideo:
				want.Audio, want.Video = true, true
			case control.StreamAudio:
				want.Audio = true
			}
		}
	}
	if want == s.pumping {
		return eff
	}
	s.pumping = want
	return append(eff, want)
}

// runningOn counts conn's running sessions.
func (s *streams) runningOn(conn uint64) int {
	n := 0
	for _, se := range s.conns[conn] {
		if se.running != "" {
			n++
		}
	}
	return n
}

// running counts the running sessions (each receives audio).
func (s *streams) running() int {
	n := 0
	for conn := range s.conns {
		n += s.runningOn(conn)
	}
	return n
}
