package monitor

import (
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/rtc"
)

// peerStreams is one connection's WebRTC sessions.
type peerStreams struct {
	m   *Monitor
	p   *peer
	ans *rtc.Answerer

	mu       sync.Mutex
	kinds    map[string]string // session → kind, from stream_start
	acquired map[string]string // sessions holding a stream reference
}

func (m *Monitor) newPeerStreams(p *peer) *peerStreams {
	ps := &peerStreams{m: m, p: p, ans: m.streams.engine.NewAnswerer(), kinds: map[string]string{}, acquired: map[string]string{}}
	ps.ans.OnCandidate = func(c control.WebRTCICE) { _ = p.conn.Send(m.ctx, c) }
	ps.ans.OnState = func(session string, st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed {
			ps.release(session)
			_ = p.conn.Send(m.ctx, control.StreamStop{Session: session, Reason: st.String()})
		}
		if st == webrtc.PeerConnectionStateConnected {
			m.log.Info("stream connected", "conn", p.conn.ID(), "session", session)
		}
		m.mediaChanged()
	}
	return ps
}

func (ps *peerStreams) start(msg control.StreamStart) error {
	if msg.Kind != control.StreamAudio && msg.Kind != control.StreamAudioVideo {
		return control.Errorf(control.CodeBadRequest, "unknown stream kind %q", msg.Kind)
	}
	if msg.Session == "" || len(msg.Session) > rtc.MaxSessionID {
		return control.Errorf(control.CodeBadRequest, "bad session id")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.kinds) >= 8 {
		return control.Errorf(control.CodeBusy, "too many stream requests on this connection")
	}
	ps.kinds[msg.Session] = msg.Kind
	return nil
}

func (ps *peerStreams) offer(msg control.WebRTCOffer) error {
	ps.mu.Lock()
	kind, ok := ps.kinds[msg.Session]
	_, had := ps.acquired[msg.Session]
	ps.mu.Unlock()
	if !ok {
		return &control.Error{Code: control.CodeBadRequest, Message: "webrtc_offer for a session without stream_start"}
	}
	if had { // a new offer replaces the session: drop its old reference
		ps.release(msg.Session)
	}
	tracks, err := ps.m.streams.acquire(kind)
	if err != nil {
		return control.Errorf(control.CodeInternal, "capture: %v", err)
	}
	answer, err := ps.ans.HandleOffer(msg.Session, msg.SDP, tracks)
	if err != nil {
		ps.m.streams.release(kind)
		return err
	}
	ps.mu.Lock()
	ps.acquired[msg.Session] = kind
	ps.mu.Unlock()
	ps.m.mediaChanged()
	return ps.p.conn.Send(ps.m.ctx, control.WebRTCAnswer{Session: msg.Session, SDP: answer})
}

func (ps *peerStreams) ice(msg control.WebRTCICE) error {
	return ps.ans.AddCandidate(msg.Session, msg)
}

func (ps *peerStreams) stop(msg control.StreamStop) error {
	ps.mu.Lock()
	_, known := ps.kinds[msg.Session]
	delete(ps.kinds, msg.Session)
	ps.mu.Unlock()
	if !known {
		return &control.Error{Code: control.CodeBadRequest, Message: "stream_stop for an unknown session"}
	}
	_ = ps.ans.Stop(msg.Session)
	ps.release(msg.Session)
	ps.m.mediaChanged()
	return nil
}

// release drops a session's stream reference once.
func (ps *peerStreams) release(session string) {
	ps.mu.Lock()
	kind, ok := ps.acquired[session]
	delete(ps.acquired, session)
	ps.mu.Unlock()
	if ok {
		ps.m.streams.release(kind)
	}
}

// close ends every session of the connection.
func (ps *peerStreams) close() {
	ps.ans.Close()
	ps.mu.Lock()
	sessions := make([]string, 0, len(ps.acquired))
	for s := range ps.acquired {
		sessions = append(sessions, s)
	}
	ps.mu.Unlock()
	for _, s := range sessions {
		ps.release(s)
	}
	ps.m.mediaChanged()
}
