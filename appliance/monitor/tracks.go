package monitor

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/media"
)

// sharedTracks is the monitor's media side: one capture (the hub), one
// audio track and one video track that every session's peer connection
// sends, and a pump per track that feeds it from the hub while the core
// wants it (the Pumps effect). It counts nothing: the core counts the
// sessions, the hub its subscribers. Not to be confused with a session
// (one listener's peer connection, held by its connection's answerer).
type sharedTracks struct {
	hub    *media.Hub
	engine *rtc.Engine
	audio  *webrtc.TrackLocalStaticSample
	video  *webrtc.TrackLocalStaticSample

	mu      sync.Mutex // guards the pumps' stop functions (set, close, tests)
	stopA   func()     // stops the audio pump; nil when it does not run
	stopV   func()     // stops the video pump
	wg      sync.WaitGroup
	onWrite atomic.Pointer[func(media.Sample)] // benchmark hook: every audio sample written
}

func newSharedTracks(hub *media.Hub, engine *rtc.Engine, videoMime string) (*sharedTracks, error) {
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "cradle")
	if err != nil {
		return nil, err
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: videoMime, ClockRate: 90000}, "video", "cradle")
	if err != nil {
		return nil, err
	}
	return &sharedTracks{hub: hub, engine: engine, audio: a, video: v}, nil
}

// tracks returns the tracks a session of kind sends (a talk sends
// none: it receives the listener's voice).
func (s *sharedTracks) tracks(kind string) []webrtc.TrackLocal {
	switch kind {
	case control.StreamAudioVideo:
		return []webrtc.TrackLocal{s.audio, s.video}
	case control.StreamTalk:
		return nil
	}
	return []webrtc.TrackLocal{s.audio}
}

// set starts and stops the pumps as p wants. The media worker calls it
// in the order the core asked. A pump that cannot start is an error; it
// is tried again at the next Pumps that wants it.
func (s *sharedTracks) set(p Pumps) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if p.Audio && s.stopA == nil {
		var sub *media.Subscription[media.Sample]
		if sub, err = s.hub.SubscribeAudio(); err == nil {
			s.stopA = s.pump(sub, s.audio, true)
		}
	}
	if !p.Audio && s.stopA != nil {
		s.stopA()
		s.stopA = nil
	}
	if p.Video && s.stopV == nil && err == nil {
		var sub *media.Subscription[media.Sample]
		if sub, err = s.hub.SubscribeVideo(); err == nil {
			s.stopV = s.pump(sub, s.video, false)
		}
	}
	if !p.Video && s.stopV != nil {
		s.stopV()
		s.stopV = nil
	}
	return err
}

// pump writes a subscription's samples to a track until stopped.
func (s *sharedTracks) pump(sub *media.Subscription[media.Sample], track *webrtc.TrackLocalStaticSample, audio bool) func() {
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer sub.Close()
		var last time.Time // the previous audio frame's capture time
		for {
			select {
			case <-ctx.Done():
				return
			case smp, ok := <-sub.C():
				if !ok {
					return
				}
				ps := pmedia.Sample{Data: smp.Data, Duration: smp.Duration}
				if audio {
					ps.PrevDroppedPackets = droppedFrames(last, smp)
					last = smp.Captured
				}
				_ = track.WriteSample(ps)
				if f := s.onWrite.Load(); audio && f != nil {
					(*f)(smp)
				}
			}
		}
	}()
	return cancel
}

func (s *sharedTracks) close() {
	s.mu.Lock()
	if s.stopA != nil {
		s.stopA()
	}
	if s.stopV != nil {
		s.stopV()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// newAnswerer returns the answerer of p's sessions: pion's state changes
// and candidates go to the core and the listener, without waiting;
// neither reads the store nor the network interfaces.
func (m *Monitor) newAnswerer(p *peer) *rtc.Answerer {
	ans := m.tracks.engine.NewAnswerer()
	ans.OnCandidate = func(c control.WebRTCICE) { m.deliver(p.conn, c) }
	ans.OnTrack = func(session string, t *webrtc.TrackRemote) { m.speaker.receive(p.conn.ID(), session, t) }
	ans.OnState = func(session string, st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed:
			m.post(StreamEnded{At: m.now(), Conn: p.conn.ID(), Session: session, Reason: st.String()})
		case webrtc.PeerConnectionStateConnected:
			m.log.Info("stream connected", "conn", p.conn.ID(), "session", session)
		}
	}
	return ans
}

// answer carries out an Answer on the media worker: the shared tracks of
// its kind, answered on the connection's answerer, the answer queued on
// its outbox. The error (the capture's, pumpErr, or the engine's) is the
// offer's answer.
func (m *Monitor) answer(p *peer, a Answer, pumpErr error) error {
	if p == nil {
		return control.Errorf(control.CodeGoingAway, "the connection closed")
	}
	if pumpErr != nil {
		return control.Errorf(control.CodeInternal, "capture: %v", pumpErr)
	}
	sdp, err := p.ans.HandleOffer(a.Session, a.SDP, m.tracks.tracks(a.Kind))
	if err != nil {
		return err
	}
	m.deliver(p.conn, control.WebRTCAnswer{Session: a.Session, SDP: sdp})
	return nil
}

// sessionLimits are the engine's limits on sessions, per connection and
// in all, as cfg sets them or by default: the core enforces the same.
func sessionLimits(cfg rtc.Config) (perConn, total int) {
	perConn, total = cfg.MaxSessionsPerConn, cfg.MaxSessions
	if perConn <= 0 {
		perConn = rtc.DefaultMaxSessionsPerConn
	}
	if total <= 0 {
		total = rtc.DefaultMaxSessions
	}
	return perConn, total
}

// maxDroppedFrames bounds the frames one gap may account for (about 10 s
// of 10 ms frames): a longer stall is a new start, not a gap to conceal.
const maxDroppedFrames = 1000

// droppedFrames is how many audio frames went missing between the frame
// captured at last and smp (a full queue in the media hub, a capture that
// skipped ahead): the track advances its RTP timestamps and sequence
// numbers by as much, so the listener keeps its clock and conceals the gap
// instead of playing the audio out of time.
func droppedFrames(last time.Time, smp media.Sample) uint16 {
	if last.IsZero() || smp.Duration <= 0 {
		return 0
	}
	n := (smp.Captured.Sub(last)+smp.Duration/2)/smp.Duration - 1
	return uint16(min(max(n, 0), maxDroppedFrames))
}
