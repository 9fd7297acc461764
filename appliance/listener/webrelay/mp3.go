package webrelay

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// The night stream's format: MPEG-1 Layer III, 48 kHz mono, constant
// bitrate. Every phone engine plays an endless audio/mpeg stream with the
// screen locked (Ogg/Opus only iOS 18.4 on, and Safari stops at an Ogg
// chain boundary). The bitrate is high on purpose: Chromium's media stack
// reads a progressive stream in 32 KiB blocks, so it plays about 32 KiB
// behind what arrived (5.6 s at 48 kbit/s, 1.1 s at 320 kbit/s, measured;
// the page trims the rest of its buffer). 320 kbit/s is 40 kB/s, 1.15 GB
// over an 8-hour night: nothing for a LAN.
const (
	NightSampleRate = 48000
	NightBitrate    = 320 // kbit/s
)

// ServeMP3 writes the night stream of sess's audio to w until ctx ends:
// one endless audio/mpeg response that a phone plays in a plain <audio>
// element all night, screen locked. The monitor's Opus packets are decoded
// and encoded again as MP3 (media.MP3Encoder); pacing, gap filling and the
// alarm are the Ogg stream's (ServeOgg): a gap of OggGap is filled with
// silence in real time, and while the session's alarm sounds the stream
// carries the alarm sound alone. Headers, deadlines and errors are as for
// ServeOgg, with Content-Type audio/mpeg. The caller keeps the session
// streaming while the page listens.
func ServeMP3(ctx context.Context, w http.ResponseWriter, sess *listener.Session) error {
	sub := sess.Subscribe(listener.SubscribeOptions{Audio: true})
	defer sub.Close()
	return ServeMP3From(ctx, w, sub.Next)
}

// ServeMP3From is ServeMP3 fed by next instead of a session: MediaEvents
// carrying Opus packets, and AlarmEvents (the monitor's own page feeds it
// the monitor's frames and an alarm of its own).
func ServeMP3From(ctx context.Context, w http.ResponseWriter, next func(context.Context) (listener.Event, error)) error {
	enc, err := media.NewMP3Encoder(media.MP3Config{SampleRate: NightSampleRate, Bitrate: NightBitrate})
	if err != nil {
		return fmt.Errorf("webrelay: night stream: %w", err)
	}
	defer enc.Close()
	dec, err := media.NewOpusDecoder()
	if err != nil {
		return fmt.Errorf("webrelay: night stream: %w", err)
	}
	defer dec.Close()
	h := w.Header()
	h.Set("Content-Type", "audio/mpeg")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	s := &mp3Stream{w: w, rc: http.NewResponseController(w), enc: enc, dec: dec,
		pcm: make([]int16, media.MaxFrameSamples), gen: make([]int16, int(OggFrame*media.SampleRate/time.Second))}
	s.alarm.Stop() // the zero AlarmSound sounds; ours waits for the alarm
	return runPaced(ctx, next, &s.pace, s)
}

// mp3Stream is ServeMP3's state; one goroutine uses it.
type mp3Stream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	enc   *media.MP3Encoder
	dec   *media.OpusDecoder
	pcm   []int16 // a decoded packet
	gen   []int16 // a generated OggFrame
	out   []byte  // MP3 bytes not yet written
	pace  pacer
	alarm play.AlarmSound
	stats oggStats
}

func (s *mp3Stream) event(ev listener.Event, now time.Time) error {
	m, d := admit(ev, now, &s.alarm, &s.pace, &s.stats)
	if m == nil {
		return nil
	}
	n, err := s.dec.Decode(m.Packet.Payload, s.pcm)
	if err != nil {
		// A packet that does not decode: its time is filled with
		// silence, the stream goes on.
		n = int(d * media.SampleRate / time.Second)
		clear(s.pcm[:n])
	}
	if s.out, err = s.enc.Encode(s.out, s.pcm[:n]); err != nil {
		return err
	}
	s.stats.Passed++
	return nil
}

func (s *mp3Stream) fill(now time.Time) error {
	for range s.pace.due(now) {
		if s.alarm.Sounding() {
			s.alarm.Fill(s.gen)
			s.stats.Alarm++
		} else {
			clear(s.gen)
		}
		var err error
		if s.out, err = s.enc.Encode(s.out, s.gen); err != nil {
			return err
		}
		s.stats.Generated++
	}
	return nil
}

func (s *mp3Stream) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(oggWriteTimeout))
	if _, err := s.w.Write(s.out); err != nil {
		return err
	}
	s.out = s.out[:0]
	return flushResponse(s.rc)
}
