package listener

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/media/play"
)

// Pauses between stream attempts on one connection.
const (
	restartPause = 200 * time.Millisecond // after a stream broke
	failedPause  = 2 * time.Second        // after the monitor refused (busy) or did not answer
)

var (
	errRestart     = errors.New("listener: stream ended: restarting it")
	errModeChanged = errors.New("listener: stream mode changed")
)

// streamFunc runs one stream attempt over c (Session.stream, or a fake in
// tests); its errors mean what Session.stream's do.
type streamFunc func(s *Session, ctx context.Context, c Conn, inbox <-chan control.Message, mode StreamMode, video bool) error

// engineError: WebRTC cannot run at all; the streamer gives up on this
// connection.
type engineError struct{ err error }

func (e engineError) Error() string { return "listener: WebRTC: " + e.err.Error() }
func (e engineError) Unwrap() error { return e.err }

// streamer streams over c while the parent listens, restarting the stream
// when it breaks and following SetStream. It returns when ctx ends (the
// connection closed or the Session ends).
func (s *Session) streamer(ctx context.Context, c Conn, ack control.HelloAck, inbox <-chan control.Message) {
	attempt := s.opt.stream
	if attempt == nil {
		var eng *rtc.Engine // one per connection
		attempt = func(s *Session, ctx context.Context, c Conn, inbox <-chan control.Message, mode StreamMode, video bool) error {
			if eng == nil {
				e, err := s.engine(c)
				if err != nil {
					return engineError{err}
				}
				eng = e
			}
			return s.stream(ctx, c, eng, inbox, mode, video)
		}
	}
	for {
		mode := s.Stream()
		if mode == StreamOff {
			select {
			case <-ctx.Done():
				return
			case <-s.modeWake:
			case <-inbox: // signalling for a stream already stopped
			}
			continue
		}
		video := mode == StreamAudioVideo || mode == StreamAuto && ack.AutoStream == control.StreamAudioVideo
		err := attempt(s, ctx, c, inbox, mode, video)
		s.note(streamEnded{})
		pause := time.Duration(0)
		var engErr engineError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &engErr):
			s.streamEvent(StreamFailed, "", engErr.err)
			return
		case errors.Is(err, errModeChanged):
			if s.Stream() == StreamOff {
				s.streamEvent(StreamStopped, "", nil)
			}
			continue
		case errors.Is(err, errRestart):
			s.streamEvent(StreamInterrupted, "", nil)
			pause = restartPause
		default:
			s.streamEvent(StreamFailed, "", err)
			pause = failedPause
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.modeWake:
		case <-t.C:
		}
		t.Stop()
	}
}

// note steps ev, an event with no effects for the caller.
func (s *Session) note(ev any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step(ev)
}

func (s *Session) engine(c Conn) (*rtc.Engine, error) {
	cfg := rtc.Config{Logger: s.log}
	if a, ok := c.RemoteAddr().(*net.UDPAddr); ok && a.IP.IsLoopback() {
		cfg.IncludeLoopback = true
	}
	return rtc.NewEngine(cfg)
}

func (s *Session) streamEvent(st StreamState, kind string, err error) {
	s.note(streamChanged{At: time.Now(), State: st, Kind: kind, Err: err})
}

// stream runs one stream attempt: a WebRTC peer connection, named on the
// wire by its stream id (the messages' "session" field). It returns
// errRestart when the stream broke but the connection is fine, errModeChanged when the parent
// changed what to stream, an engineError when WebRTC cannot run, or the
// monitor's error.
func (s *Session) stream(ctx context.Context, c Conn, eng *rtc.Engine, inbox <-chan control.Message, mode StreamMode, video bool) error {
	var idb [8]byte
	rand.Read(idb[:])
	streamID := hex.EncodeToString(idb[:])
	kind := control.StreamAudio
	if video {
		kind = control.StreamAudioVideo
	}
	off := eng.NewOfferer()
	defer off.Close() // waits for the track readers too
	states := make(chan webrtc.PeerConnectionState, 16)
	off.OnState = func(st webrtc.PeerConnectionState) {
		select {
		case states <- st:
		default:
		}
	}
	off.OnCandidate = func(cand control.WebRTCICE) { _ = c.Send(ctx, cand) }
	off.OnTrack = func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { s.readTrack(tr) }
	stop := func(reason string) {
		sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_ = c.Send(sctx, control.StreamStop{Session: streamID, Reason: reason})
		cancel()
	}
	if err := c.Send(ctx, control.StreamStart{Session: streamID, Kind: kind}); err != nil {
		return err
	}
	offer, err := off.Start(streamID, video)
	if err != nil {
		return err
	}
	if err := c.Send(ctx, control.WebRTCOffer{Session: streamID, SDP: offer}); err != nil {
		return err
	}
	s.streamEvent(StreamStarting, kind, nil)
	answered := false
	answerTimer := time.NewTimer(s.opt.AnswerTimeout)
	defer answerTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			stop("listener stopped")
			return nil
		case <-s.modeWake:
			if s.Stream() != mode {
				stop("listener changed the stream")
				return errModeChanged
			}
		case <-answerTimer.C:
			if !answered {
				stop("no answer")
				return fmt.Errorf("listener: the monitor did not answer the stream request within %v", s.opt.AnswerTimeout)
			}
		case st := <-states:
			switch st {
			case webrtc.PeerConnectionStateConnected:
				s.streamEvent(StreamConnected, kind, nil)
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				stop("stream failed")
				return errRestart
			}
		case m := <-inbox:
			switch m := m.(type) {
			case control.WebRTCAnswer:
				if m.Session == streamID {
					answered = true
					if err := off.SetAnswer(m.SDP); err != nil {
						stop("bad answer")
						return err
					}
				}
			case control.WebRTCICE:
				if m.Session == streamID {
					_ = off.AddCandidate(m)
				}
			case control.StreamStop:
				if m.Session == streamID {
					return errRestart
				}
			case control.ErrorMsg:
				if m.Session == "" || m.Session == streamID {
					switch m.Ref {
					case control.TypeStreamStart, control.TypeWebRTCOffer:
						return m.ToError()
					}
				}
			}
		}
	}
}

// readTrack reads one remote track until it ends (pion's goroutine, which
// the Offerer's Close waits for).
func (s *Session) readTrack(tr *webrtc.TrackRemote) {
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	mime := strings.ToLower(tr.Codec().MimeType)
	var dep *play.Depacketizer
	defer func() {
		if dep != nil {
			dep.Close()
		}
	}()
	first := true
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		if video {
			s.onVideo(pkt, mime, now)
			continue
		}
		if s.onAudio(pkt, mime, now, first) {
			if dep == nil {
				if dep, err = play.NewDepacketizer(); err != nil {
					s.log.Error("cannot decode the audio", "err", err)
					dep = nil
				}
			}
			if dep != nil {
				frames, err := dep.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload)
				if err != nil {
					s.log.Debug("audio packet not decoded", "err", err)
				}
				s.onPCM(frames, now)
			}
		}
		first = false
	}
}

// onAudio counts and publishes one audio packet, feeds the alarm, and
// reports whether anyone wants it decoded.
func (s *Session) onAudio(pkt *rtp.Packet, mime string, now time.Time, first bool) (decode bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step(audioSeen{At: now, Bytes: len(pkt.Payload)})
	s.fan.Publish(MediaEvent{Mime: mime, Packet: pkt, Arrived: now, First: first})
	return s.pcmSubs.Load() > 0
}

func (s *Session) onPCM(frames []play.Frame, now time.Time) {
	if len(frames) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mute := s.talking(now) // walkie-talkie: the parent does not hear their own voice back
	for _, f := range frames {
		if mute {
			f.PCM = make([]int16, len(f.PCM))
		}
		s.fan.Publish(PCMEvent{Frame: f, Arrived: now})
	}
}

func (s *Session) onVideo(pkt *rtp.Packet, mime string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step(videoSeen{})
	s.fan.Publish(MediaEvent{Video: true, Mime: mime, Packet: pkt, Arrived: now})
}
