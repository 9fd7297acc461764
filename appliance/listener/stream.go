package listener

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// StreamOptions say what to stream and where its output goes.
type StreamOptions struct {
	Video bool // audio+video instead of audio
	// FollowAuto adds video when the monitor's auto-stream setting is
	// audio+video.
	FollowAuto bool
	Audio      io.Writer // the audio as Ogg/Opus; nil reads and drops it
	// VideoOut receives the video (IVF for VP8, Annex-B for H.264); nil drops it.
	VideoOut io.Writer
	// OnStatus receives the monitor's status reports (sound level).
	OnStatus func(control.Status)
	// OnEvent receives stream events for the user ("stream connected").
	OnEvent func(string)
	// OnFirstAudio is called once per session with the arrival time of
	// its first audio packet.
	OnFirstAudio func(time.Time)
	// OnAudioPacket, if set, sees every audio RTP packet as it arrives
	// (for latency measurements); it must not keep pkt.
	OnAudioPacket func(pkt *rtp.Packet, at time.Time)
	// Logger receives WebRTC's own logs; nil discards them.
	Logger *slog.Logger
	// AnswerTimeout bounds the wait for the monitor's answer (default 10 s).
	AnswerTimeout time.Duration
}

// StreamStats sum what a Stream received.
type StreamStats struct {
	Sessions     int
	AudioPackets uint64
	AudioBytes   uint64
	VideoPackets uint64
}

// Streamer runs streams over connections, restarting the WebRTC session
// when it fails, and writing every session's media to the same outputs.
type Streamer struct {
	opt StreamOptions

	mu       sync.Mutex // guards the recorders and stats
	audioRec *rtc.Recorder
	videoRec *rtc.Recorder
	stats    StreamStats
}

// NewStreamer prepares a Streamer; Close it to finish the recordings.
func NewStreamer(opt StreamOptions) *Streamer {
	if opt.AnswerTimeout == 0 {
		opt.AnswerTimeout = 10 * time.Second
	}
	return &Streamer{opt: opt}
}

// Stats returns what was received so far.
func (s *Streamer) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close finishes the recordings (the writers stay open: they are the
// caller's).
func (s *Streamer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, r := range []*rtc.Recorder{s.audioRec, s.videoRec} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	s.audioRec, s.videoRec = nil, nil
	return errors.Join(errs...)
}

var errRestart = errors.New("listener: stream ended: restarting it")

func (s *Streamer) event(format string, args ...any) {
	if s.opt.OnEvent != nil {
		s.opt.OnEvent(fmt.Sprintf(format, args...))
	}
}

// Run streams over c until ctx ends or c closes. It is the
// SessionOptions.OnConnected of a kept-up session, so a stream resumes
// after every reconnection.
func (s *Streamer) Run(ctx context.Context, c *transport.Conn, ack control.HelloAck) error {
	video := s.opt.Video || (s.opt.FollowAuto && ack.AutoStream == control.StreamAudioVideo)
	cfg := rtc.Config{Logger: s.opt.Logger}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if a, ok := c.RemoteAddr().(*net.UDPAddr); ok && a.IP.IsLoopback() {
		cfg.IncludeLoopback = true
	}
	eng, err := rtc.NewEngine(cfg)
	if err != nil {
		return err
	}
	msgs := make(chan control.Message, 16)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		defer close(msgs)
		for {
			m, err := c.Recv(rctx)
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-rctx.Done():
				return
			}
		}
	})
	for {
		err := s.session(rctx, c, eng, msgs, video)
		switch {
		case ctx.Err() != nil || c.Err() != nil:
			return nil
		case errors.Is(err, errRestart):
			s.event("stream interrupted: restarting it")
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
		default:
			return err
		}
	}
}

// session runs one WebRTC session; it returns errRestart when the
// session ended but the connection is fine.
func (s *Streamer) session(ctx context.Context, c *transport.Conn, eng *rtc.Engine, msgs <-chan control.Message, video bool) error {
	var idb [8]byte
	rand.Read(idb[:])
	session := hex.EncodeToString(idb[:])
	kind := control.StreamAudio
	if video {
		kind = control.StreamAudioVideo
	}
	off := eng.NewOfferer()
	states := make(chan webrtc.PeerConnectionState, 16)
	defer off.Close() // waits for the OnTrack readers too
	off.OnState = func(st webrtc.PeerConnectionState) {
		select {
		case states <- st:
		default:
		}
	}
	off.OnCandidate = func(cand control.WebRTCICE) { _ = c.Send(ctx, cand) }
	var firstOnce sync.Once
	off.OnTrack = func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		audio := tr.Kind() == webrtc.RTPCodecTypeAudio
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if audio && s.opt.OnAudioPacket != nil {
				s.opt.OnAudioPacket(pkt, time.Now())
			}
			if audio {
				firstOnce.Do(func() {
					if s.opt.OnFirstAudio != nil {
						s.opt.OnFirstAudio(time.Now())
					}
				})
			}
			s.write(tr, audio, pkt)
		}
	}
	if err := c.Send(ctx, control.StreamStart{Session: session, Kind: kind}); err != nil {
		return err
	}
	offer, err := off.Start(session, video)
	if err != nil {
		return err
	}
	if err := c.Send(ctx, control.WebRTCOffer{Session: session, SDP: offer}); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.Sessions++
	s.mu.Unlock()
	answered := false
	answerTimer := time.NewTimer(s.opt.AnswerTimeout)
	defer answerTimer.Stop()
	for {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_ = c.Send(stopCtx, control.StreamStop{Session: session, Reason: "listener stopped"})
			cancel()
			return nil
		case <-answerTimer.C:
			if !answered {
				return fmt.Errorf("listener: the monitor did not answer the stream request within %v", s.opt.AnswerTimeout)
			}
		case st := <-states:
			switch st {
			case webrtc.PeerConnectionStateConnected:
				s.event("stream connected (%s)", kind)
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				return errRestart
			}
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			switch m := m.(type) {
			case control.WebRTCAnswer:
				if m.Session == session {
					answered = true
					if err := off.SetAnswer(m.SDP); err != nil {
						return err
					}
				}
			case control.WebRTCICE:
				if m.Session == session {
					_ = off.AddCandidate(m)
				}
			case control.Status:
				if s.opt.OnStatus != nil {
					s.opt.OnStatus(m)
				}
			case control.StreamStop:
				if m.Session == session {
					return errRestart
				}
			case control.ErrorMsg:
				if m.Session == "" || m.Session == session {
					switch m.Ref {
					case control.TypeStreamStart, control.TypeWebRTCOffer:
						return m.ToError()
					}
				}
			}
		}
	}
}

func (s *Streamer) write(tr *webrtc.TrackRemote, audio bool, pkt *rtp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, rec := s.opt.VideoOut, &s.videoRec
	if audio {
		out, rec = s.opt.Audio, &s.audioRec
		s.stats.AudioPackets++
		s.stats.AudioBytes += uint64(len(pkt.Payload))
	} else {
		s.stats.VideoPackets++
	}
	if out == nil {
		return
	}
	if *rec == nil {
		r, err := rtc.NewRecorder(out, tr.Codec().RTPCodecCapability)
		if err != nil {
			s.event("cannot record %s: %v", strings.ToLower(tr.Kind().String()), err)
			return
		}
		*rec = r
	}
	_ = (*rec).WriteRTP(pkt)
}
