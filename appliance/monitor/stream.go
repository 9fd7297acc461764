package monitor

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/media"
)

// streams is the monitor's media side: one capture (the hub), one shared
// audio track and one shared video track that every listener's peer
// connection sends, and pumps that feed the tracks while anyone streams.
type streams struct {
	hub    *media.Hub
	engine *rtc.Engine
	audio  *webrtc.TrackLocalStaticSample
	video  *webrtc.TrackLocalStaticSample

	mu      sync.Mutex
	nAudio  int    // sessions receiving audio
	nVideo  int    // sessions receiving video
	stopA   func() // stops the audio pump
	stopV   func() // stops the video pump
	wg      sync.WaitGroup
	onWrite atomic.Pointer[func(media.Sample)] // benchmark hook: every audio sample written
}

func newStreams(hub *media.Hub, engine *rtc.Engine, videoMime string) (*streams, error) {
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "cradle")
	if err != nil {
		return nil, err
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: videoMime, ClockRate: 90000}, "video", "cradle")
	if err != nil {
		return nil, err
	}
	return &streams{hub: hub, engine: engine, audio: a, video: v}, nil
}

// acquire counts a session in; the first audio (video) session starts
// the audio (video) pump. It returns the tracks the session sends.
func (s *streams) acquire(kind string) ([]webrtc.TrackLocal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tracks := []webrtc.TrackLocal{s.audio}
	if s.nAudio == 0 {
		sub, err := s.hub.SubscribeAudio()
		if err != nil {
			return nil, err
		}
		s.stopA = s.pump(sub, s.audio, true)
	}
	s.nAudio++
	if kind == control.StreamAudioVideo {
		if s.nVideo == 0 {
			sub, err := s.hub.SubscribeVideo()
			if err != nil {
				s.releaseLocked(control.StreamAudio)
				return nil, err
			}
			s.stopV = s.pump(sub, s.video, false)
		} else {
			s.hub.RequestKeyFrame() // the newcomer needs a key frame
		}
		s.nVideo++
		tracks = append(tracks, s.video)
	}
	return tracks, nil
}

func (s *streams) release(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(kind)
}

func (s *streams) releaseLocked(kind string) {
	s.nAudio--
	if s.nAudio == 0 && s.stopA != nil {
		s.stopA()
		s.stopA = nil
	}
	if kind == control.StreamAudioVideo {
		s.nVideo--
		if s.nVideo == 0 && s.stopV != nil {
			s.stopV()
			s.stopV = nil
		}
	}
}

// streaming reports the number of sessions receiving audio.
func (s *streams) streaming() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nAudio
}

// pump writes a subscription's samples to a track until stopped.
func (s *streams) pump(sub *media.Subscription[media.Sample], track *webrtc.TrackLocalStaticSample, audio bool) func() {
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case smp, ok := <-sub.C():
				if !ok {
					return
				}
				_ = track.WriteSample(pmedia.Sample{Data: smp.Data, Duration: smp.Duration})
				if f := s.onWrite.Load(); audio && f != nil {
					(*f)(smp)
				}
			}
		}
	}()
	return cancel
}

func (s *streams) close() {
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
