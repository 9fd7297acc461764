package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cradle-monitor/cradle/media/fanout"
)

// Hub owns the capture: one microphone, one camera, one encoder each,
// shared by every subscriber. Devices run only while someone uses them:
//
//   - the microphone while there is a level or an audio subscriber;
//   - the Opus encoder while there is an audio subscriber;
//   - the camera and the VP8 encoder while there is a video subscriber.
//
// A subscriber joining later shares what runs; the last one leaving turns
// the device off. The Hub is safe for concurrent use.
type Hub struct {
	src Sources
	cfg Config
	log *slog.Logger
	enc encoders

	// op serialises starting and stopping devices, which may block (a
	// device close waits for its goroutine). The goroutines never take it.
	op sync.Mutex
	// reapers counts the goroutines that stop devices after a failure.
	reapers sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	closed    bool
	levels    *fanout.Fanout[Level]
	audio     *fanout.Fanout[Sample] // replaced after an encoder failure ends its subscribers
	videoSubs map[*Subscription[Sample]]struct{}
	mic, cam  *pipe
	stats     Stats
	micWatch  micWatch
	faultCh   chan struct{} // closed and replaced when micWatch.fault changes

	// noiseGate: the monitor's own speaker plays (SetNoiseGate).
	noiseGate atomic.Bool
	// overSound: the monitor's speaker plays a steady sound
	// (SetNoiseOverSound).
	overSound atomic.Bool
}

// Stats counts what the Hub started and stopped, for tests and metrics.
type Stats struct {
	MicStarts, MicStops                   int
	CameraStarts, CameraStops             int
	AudioEncoderStarts, AudioEncoderStops int
	VideoEncoderStarts, VideoEncoderStops int
	MicOn, CameraOn                       bool
	AudioEncoding, VideoEncoding          bool
	LevelSubscribers, AudioSubscribers    int
	VideoSubscribers                      int
	AudioFrames, VideoFrames, KeyFrames   uint64
	SourceErrors, EncoderErrors           int
	NoiseEvents                           int
	// MicFault is Hub.MicrophoneFault; MicFaults counts its raises.
	MicFault  bool
	MicFaults int
}

// NewHub returns a Hub over src. Nothing captures until a subscriber asks.
func NewHub(src Sources, cfg Config, log *slog.Logger) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src.Audio == nil {
		return nil, fmt.Errorf("%w: no audio source", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		src:       src,
		cfg:       cfg,
		log:       log,
		enc:       defaultEncoders,
		levels:    fanout.New[Level](nil),
		audio:     fanout.New[Sample](nil),
		videoSubs: make(map[*Subscription[Sample]]struct{}),
		micWatch:  micWatch{stallAfter: MicFaultAfter},
		faultCh:   make(chan struct{}),
	}, nil
}

// MicrophoneFault reports whether the microphone is at fault: while it
// captures, it has delivered nothing for MicFaultAfter (unplugged, its
// reads failing or hung, or not plugged in yet). The fault clears at the
// first audio after that. While nobody uses the microphone it is off, and
// the fault stays as it was when it last ran. The channel is closed at
// the next change.
func (h *Hub) MicrophoneFault() (bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.micWatch.fault, h.faultCh
}

// notifyLocked wakes the MicrophoneFault waiters. The caller holds mu.
func (h *Hub) notifyLocked() {
	close(h.faultCh)
	h.faultCh = make(chan struct{})
}

// faultChangedLocked wakes the MicrophoneFault waiters after a change of
// the fault, and logs it. The caller holds mu.
func (h *Hub) faultChangedLocked() {
	h.notifyLocked()
	if h.micWatch.fault {
		h.stats.MicFaults++
		h.log.Warn("media: microphone fault: nothing captured", "for", h.micWatch.stallAfter, "source", h.src.Audio.String())
	} else {
		h.log.Info("media: microphone back", "source", h.src.Audio.String())
	}
}

// SetNoiseGate gates the noise detector (the VOX) while the monitor's
// own speaker plays: levels are still measured and delivered, but none
// reports Noise, so neither the status, the listeners' noise alarm nor
// the sound history's episodes fire on the monitor's own playback. An
// event in progress ends when the gate closes; after it opens, noise
// must last the VOX's attack time again. Safe on any goroutine.
func (h *Hub) SetNoiseGate(on bool) { h.noiseGate.Store(on) }

// SetNoiseOverSound tells the noise detector that the monitor's own
// speaker plays a steady sound (a soothing sound): while on, noise is
// what rises above the sound at the microphone (OverSound: it learns the
// sound's level for 10 s, then needs 6 dB more), so a cry over white
// noise still counts and the white noise does not. SetNoiseGate wins
// over it. Safe on any goroutine.
func (h *Hub) SetNoiseOverSound(on bool) { h.overSound.Store(on) }

// NoiseGated reports whether SetNoiseGate(true) is in force.
func (h *Hub) NoiseGated() bool { return h.noiseGate.Load() }

// Config returns the validated configuration the Hub runs with.
func (h *Hub) Config() Config { return h.cfg }

// SyntheticAudio reports whether the audio comes from the test tone rather
// than a microphone (the test mode, or auto mode until a microphone is
// plugged in). A change wakes MicrophoneFault's channel.
func (h *Hub) SyntheticAudio() bool {
	switch s := h.src.Audio.(type) {
	case *ToneSource:
		return true
	case interface{ synthetic() bool }:
		return s.synthetic()
	}
	return false
}

// AudioSource describes the audio source: the microphone's ALSA name, or
// the test tone.
func (h *Hub) AudioSource() string { return h.src.Audio.String() }

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	s.MicOn, s.CameraOn = h.mic != nil, h.cam != nil
	s.MicFault = h.micWatch.fault
	s.AudioEncoding = s.AudioEncoderStarts > s.AudioEncoderStops
	s.VideoEncoding = s.VideoEncoderStarts > s.VideoEncoderStops
	s.LevelSubscribers, s.AudioSubscribers, s.VideoSubscribers = h.levels.Len(), h.audio.Len(), len(h.videoSubs)
	return s
}

// SubscribeLevels delivers the sound level every Config.LevelInterval,
// turning the microphone on if it is off.
func (h *Hub) SubscribeLevels() (*Subscription[Level], error) {
	h.op.Lock()
	defer h.op.Unlock()
	if err := h.startMic(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	s := &Subscription[Level]{fs: h.levels.Subscribe(h.cfg.LevelQueue)}
	h.mu.Unlock()
	s.unsub = func() { h.unsubscribe(s.fs.Close) }
	return s, nil
}

// SubscribeAudio delivers Opus packets (48 kHz mono, Config.AudioFrame
// each), turning the microphone and the encoder on if they are off. The
// first packet comes within a frame of the encoder starting.
func (h *Hub) SubscribeAudio() (*Subscription[Sample], error) {
	if h.enc.audio == nil {
		return nil, ErrNoEncoder
	}
	h.op.Lock()
	defer h.op.Unlock()
	if err := h.startMic(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	s := &Subscription[Sample]{fs: h.audio.Subscribe(h.cfg.AudioQueue)}
	h.mu.Unlock()
	s.unsub = func() { h.unsubscribe(s.fs.Close) }
	return s, nil
}

// SubscribeVideo delivers VP8 frames, starting with a key frame, turning
// the camera and the encoder on if they are off.
func (h *Hub) SubscribeVideo() (*Subscription[Sample], error) {
	if h.src.Video == nil {
		return nil, ErrNoVideo
	}
	if h.enc.video == nil {
		return nil, ErrNoEncoder
	}
	h.op.Lock()
	defer h.op.Unlock()
	if err := h.startCamera(); err != nil {
		return nil, err
	}
	own := fanout.New[Sample](nil)
	s := &Subscription[Sample]{fs: own.Subscribe(h.cfg.VideoQueue), own: own, size: h.cfg.VideoQueue, waitKey: true}
	s.unsub = func() { h.unsubscribe(func() { delete(h.videoSubs, s); s.fs.Close() }) }
	h.mu.Lock()
	h.videoSubs[s] = struct{}{}
	h.cam.forceKey.Store(true)
	h.mu.Unlock()
	return s, nil
}

// RequestKeyFrame asks the video encoder for a key frame (a receiver's
// PLI or FIR). It does nothing while the camera is off.
func (h *Hub) RequestKeyFrame() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cam != nil {
		h.cam.forceKey.Store(true)
	}
}

// Close ends every subscription (Err reports ErrClosed) and turns the
// devices off. It is idempotent.
func (h *Hub) Close() error {
	h.op.Lock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.op.Unlock()
		return nil
	}
	h.closed = true
	h.levels.Close(ErrClosed)
	h.audio.Close(ErrClosed)
	for s := range h.videoSubs {
		s.own.Close(ErrClosed)
	}
	clear(h.videoSubs)
	h.mu.Unlock()
	h.stopIdle()
	h.op.Unlock()
	h.reapers.Wait()
	return nil
}

// unsubscribe removes a subscription and turns off what nobody uses.
func (h *Hub) unsubscribe(remove func()) {
	h.op.Lock()
	defer h.op.Unlock()
	h.mu.Lock()
	remove()
	h.mu.Unlock()
	h.stopIdle()
}

// stopIdle stops the devices nobody uses. The caller holds op.
func (h *Hub) stopIdle() {
	h.mu.Lock()
	var stop []*pipe
	if h.mic != nil && h.levels.Len()+h.audio.Len() == 0 {
		stop = append(stop, h.mic)
		h.mic = nil
		h.stats.MicStops++
	}
	if h.cam != nil && len(h.videoSubs) == 0 {
		stop = append(stop, h.cam)
		h.cam = nil
		h.stats.CameraStops++
	}
	h.mu.Unlock()
	for _, p := range stop {
		p.stop()
		h.log.Info("media: " + p.name + " off")
	}
}

// startMic turns the microphone on unless it is. The caller holds op.
func (h *Hub) startMic() error {
	if h.isClosed() {
		return ErrClosed
	}
	if h.mic != nil { // only op holders write mic
		return nil
	}
	open := func() (io.Closer, error) {
		synthetic := h.SyntheticAudio()
		st, err := h.src.Audio.OpenAudio(AudioFormat{Chunk: h.cfg.AudioFrame})
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		h.micWatch.open(time.Now())
		if h.SyntheticAudio() != synthetic { // auto mode found a microphone
			h.log.Info("media: microphone plugged in: using it instead of the test tone", "source", h.src.Audio.String())
			h.notifyLocked()
		}
		h.mu.Unlock()
		return st, nil
	}
	h.mu.Lock()
	h.micWatch.start(time.Now())
	h.mu.Unlock()
	// A microphone that will not open is started all the same: its
	// goroutine keeps trying, and the fault shows until it answers.
	p, err := startPipe("microphone", h.src.Audio.String(), open, h.runMic, true)
	if err != nil {
		h.log.Warn("media: the microphone will not open: trying again every second", "source", h.src.Audio.String(), "err", err)
	}
	h.mu.Lock()
	h.mic = p
	h.stats.MicStarts++
	h.mu.Unlock()
	h.log.Info("media: microphone on", "source", h.src.Audio.String())
	return nil
}

// startCamera turns the camera on unless it is. The caller holds op.
func (h *Hub) startCamera() error {
	if h.isClosed() {
		return ErrClosed
	}
	if h.cam != nil {
		return nil
	}
	f := VideoFormat{Width: h.cfg.Width, Height: h.cfg.Height, FPS: h.cfg.FPS}
	open := func() (io.Closer, error) { return h.src.Video.OpenVideo(f) }
	p, err := startPipe("camera", h.src.Video.String(), open, h.runCamera, false)
	if err != nil {
		return fmt.Errorf("media: opening %s: %w", h.src.Video, err)
	}
	h.mu.Lock()
	h.cam = p
	h.stats.CameraStarts++
	h.mu.Unlock()
	h.log.Info("media: camera on", "source", h.src.Video.String(), "format", fmt.Sprintf("%dx%d@%d", f.Width, f.Height, f.FPS))
	return nil
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// runMic is the microphone's goroutine: level meter, VOX, and, while an
// audio subscriber exists, the Opus encoder and the fan-out.
func (h *Hub) runMic(p *pipe) {
	meter := NewMeter(SampleRate, h.cfg.LevelInterval)
	vox := NewVox(h.cfg.Vox)
	frameLen := int(int64(SampleRate) * int64(h.cfg.AudioFrame) / int64(time.Second))
	frame := make([]int16, 0, frameLen)
	var frameAt time.Time
	var enc audioEncoder
	defer func() { h.closeAudioEncoder(enc) }()

	stopWatch := h.watchMic(p)
	defer stopWatch()

	var over *OverSound // while the speaker plays a steady sound
	emit := func(l Level) {
		if h.overSound.Load() && !h.noiseGate.Load() {
			if over == nil {
				if vox.Noise() {
					h.log.Info("media: noise", "noise", false, "over_sound", true)
				}
				over = NewOverSound(h.cfg.Vox)
			}
			noise, changed := over.Update(l.RMSDBFS, l.At)
			l.Noise = noise
			if changed {
				h.log.Info("media: noise", "noise", noise, "rms_dbfs", int(l.RMSDBFS), "over_sound_dbfs", int(over.Threshold()))
			}
			h.publishLevel(l, changed && noise)
			return
		}
		if over != nil {
			// The sound stopped: the VOX starts over, quiet.
			over, vox = nil, NewVox(h.cfg.Vox)
		}
		if h.noiseGate.Load() {
			// The monitor's own speaker plays: what the microphone hears
			// is not the baby. The level is still measured and sent; the
			// VOX starts over, quiet, when the gate opens.
			if vox.Noise() {
				h.log.Info("media: noise", "noise", false, "gated", true)
			}
			vox = NewVox(h.cfg.Vox)
			h.publishLevel(l, false)
			return
		}
		noise, changed := vox.Update(l.RMSDBFS, l.At)
		l.Noise = noise
		if changed {
			h.log.Info("media: noise", "noise", noise, "rms_dbfs", int(l.RMSDBFS))
		}
		h.publishLevel(l, changed && noise)
	}
	for {
		var pcm PCM
		err := errNotOpen
		if st, ok := p.stream.(AudioStream); ok { // only this goroutine writes p.stream
			pcm, err = st.Read()
		}
		if err != nil {
			h.mu.Lock()
			h.micWatch.lost()
			h.mu.Unlock()
			if !h.reopen(p, err, micRetryFirst, micRetryMax) {
				return
			}
			frame = frame[:0]
			continue
		}
		h.heardMic()
		meter.Add(pcm.Samples, pcm.Captured, emit)

		want := h.wantAudio()
		if want && enc == nil {
			if enc, err = h.enc.audio(h.cfg); err != nil {
				h.failAudio(fmt.Errorf("media: starting the audio encoder: %w", err))
				enc = nil
				continue
			}
			frame = frame[:0]
			h.noteEncoder(&h.stats.AudioEncoderStarts)
		}
		if !want && enc != nil {
			h.closeAudioEncoder(enc)
			enc = nil
		}
		if enc == nil {
			continue
		}
		for i := 0; i < len(pcm.Samples); {
			if len(frame) == 0 {
				frameAt = pcm.Captured.Add(time.Duration(i) * time.Second / SampleRate)
			}
			n := min(frameLen-len(frame), len(pcm.Samples)-i)
			frame = append(frame, pcm.Samples[i:i+n]...)
			i += n
			if len(frame) < frameLen {
				break
			}
			data, err := enc.Encode(frame)
			frame = frame[:0]
			if err != nil {
				h.failAudio(fmt.Errorf("media: encoding audio: %w", err))
				h.closeAudioEncoder(enc)
				enc = nil
				break
			}
			h.publishAudio(Sample{Data: data, Duration: h.cfg.AudioFrame, Captured: frameAt, KeyFrame: true})
		}
	}
}

// runCamera is the camera's goroutine: the VP8 encoder and the fan-out.
func (h *Hub) runCamera(p *pipe) {
	var enc videoEncoder
	var w, ht int
	var t0, last, lastKey time.Time
	period := time.Second / time.Duration(h.cfg.FPS)
	defer func() { h.closeVideoEncoder(enc) }()
	for {
		fr, err := p.stream.(VideoStream).Read()
		if err != nil {
			if !h.reopen(p, err, 500*time.Millisecond, 10*time.Second) {
				return
			}
			p.forceKey.Store(true)
			continue
		}
		// A camera may run faster than asked: keep to the frame rate.
		if !last.IsZero() && fr.Captured.Sub(last) < period*3/4 {
			continue
		}
		size := fr.Image.Rect.Size()
		if enc == nil || size.X != w || size.Y != ht {
			h.closeVideoEncoder(enc)
			if enc, err = h.enc.video(h.cfg, size.X, size.Y); err != nil {
				enc = nil
				h.failVideo(fmt.Errorf("media: starting the video encoder: %w", err))
				continue
			}
			w, ht, t0 = size.X, size.Y, fr.Captured
			h.noteEncoder(&h.stats.VideoEncoderStarts)
			p.forceKey.Store(true)
		}
		// Forced key frames are big: at most one per minKeyFrameGap, however
		// many receivers ask.
		force := p.forceKey.Load() && (lastKey.IsZero() || fr.Captured.Sub(lastKey) >= minKeyFrameGap)
		if force {
			p.forceKey.Store(false)
			lastKey = fr.Captured
		}
		data, key, err := enc.Encode(fr.Image, fr.Captured.Sub(t0), force)
		if err != nil {
			h.failVideo(fmt.Errorf("media: encoding video: %w", err))
			h.closeVideoEncoder(enc)
			enc = nil
			continue
		}
		if len(data) == 0 { // dropped by rate control
			if force {
				p.forceKey.Store(true)
			}
			continue
		}
		d := period
		if !last.IsZero() {
			d = fr.Captured.Sub(last)
		}
		last = fr.Captured
		if h.publishVideo(Sample{Data: data, Duration: d, Captured: fr.Captured, KeyFrame: key}) {
			p.forceKey.Store(true)
		}
	}
}

// errNotOpen: the microphone's first open failed; its goroutine reopens it.
var errNotOpen = errors.New("media: not open")

// heardMic tells the watch that audio arrived.
func (h *Hub) heardMic() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.micWatch.chunk(time.Now()) {
		h.faultChangedLocked()
	}
}

// watchMic starts the microphone's watchdog, which raises the fault and
// closes a stalled stream (see micWatch), except the test tone's: its
// stalls are a script's steps, meant to last. The returned func stops the
// watchdog and waits. The microphone's goroutine owns it.
func (h *Hub) watchMic(p *pipe) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(h.micWatch.stallAfter / 4)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			// p.mu first: the stream the watch judged is the one closed,
			// not one opened meanwhile.
			p.mu.Lock()
			h.mu.Lock()
			stalled, changed := h.micWatch.check(time.Now())
			if changed {
				h.faultChangedLocked()
			}
			h.mu.Unlock()
			if stalled && !h.SyntheticAudio() { // a script's stall is meant
				h.log.Warn("media: the microphone delivers nothing: reopening it", "source", p.desc, "after", h.micWatch.stallAfter)
				p.closeStreamLocked()
			}
			p.mu.Unlock()
		}
	}()
	return func() { close(quit); <-done }
}

func (h *Hub) wantAudio() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.audio.Len() > 0
}

func (h *Hub) noteEncoder(counter *int) {
	h.mu.Lock()
	*counter++
	h.mu.Unlock()
}

func (h *Hub) closeAudioEncoder(enc audioEncoder) {
	if enc == nil {
		return
	}
	if err := enc.Close(); err != nil {
		h.log.Warn("media: closing the audio encoder", "err", err)
	}
	h.noteEncoder(&h.stats.AudioEncoderStops)
}

func (h *Hub) closeVideoEncoder(enc videoEncoder) {
	if enc == nil {
		return
	}
	if err := enc.Close(); err != nil {
		h.log.Warn("media: closing the video encoder", "err", err)
	}
	h.noteEncoder(&h.stats.VideoEncoderStops)
}

func (h *Hub) publishLevel(l Level, noiseStarted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if noiseStarted {
		h.stats.NoiseEvents++
	}
	h.levels.Publish(l)
}

func (h *Hub) publishAudio(smp Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.AudioFrames++
	h.audio.Publish(smp)
}

// publishVideo fans a frame out and reports whether a subscriber waits
// for a key frame. A subscriber whose queue is full skips to the next key
// frame (a VP8 decoder cannot use frames after a gap); it asks for one only
// once it has emptied its queue, so a stuck subscriber does not make the
// encoder send key frames to everyone.
func (h *Hub) publishVideo(smp Sample) (needKey bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.VideoFrames++
	if smp.KeyFrame {
		h.stats.KeyFrames++
	}
	for s := range h.videoSubs {
		full := s.fs.Len() >= s.size
		if s.waitKey {
			if !smp.KeyFrame {
				needKey = needKey || s.fs.Len() == 0
				continue
			}
			if full {
				s.fs.Clear()
			}
			s.own.Publish(smp)
			s.waitKey = false
			continue
		}
		if full {
			s.skipped.Add(1)
			s.waitKey = true
			continue
		}
		s.own.Publish(smp)
	}
	return needKey
}

// failAudio ends the audio subscriptions after an encoder failure (their
// Err reports it); the microphone keeps running for level subscribers.
func (h *Hub) failAudio(err error) {
	h.log.Error("media: audio stream failed", "err", err)
	h.mu.Lock()
	h.stats.EncoderErrors++
	h.audio.Close(err)
	h.audio = fanout.New[Sample](nil)
	h.mu.Unlock()
	h.reapLater()
}

// failVideo ends the video subscriptions after an encoder failure.
func (h *Hub) failVideo(err error) {
	h.log.Error("media: video stream failed", "err", err)
	h.mu.Lock()
	h.stats.EncoderErrors++
	for s := range h.videoSubs {
		s.own.Close(err)
		delete(h.videoSubs, s)
	}
	h.mu.Unlock()
	h.reapLater()
}

// reapLater stops the devices nobody uses from another goroutine: a
// device's goroutine cannot stop itself (stop waits for it). Close waits
// for these goroutines; they start only from device goroutines, which
// Close has stopped before it waits.
func (h *Hub) reapLater() {
	h.reapers.Add(1)
	go func() {
		defer h.reapers.Done()
		h.op.Lock()
		defer h.op.Unlock()
		h.stopIdle()
	}()
}

// reopen handles a failed Read: it closes the stream and opens it again,
// waiting first, then twice as long after each failure up to most, until
// it works (true) or the pipe is stopped (false). It logs the first
// failure as a warning, the next ones at debug level.
func (h *Hub) reopen(p *pipe, cause error, first, most time.Duration) bool {
	if p.stopping() {
		return false
	}
	h.mu.Lock()
	h.stats.SourceErrors++
	h.mu.Unlock()
	delay := first
	for attempt := 0; ; attempt++ {
		level := slog.LevelWarn
		if attempt > 0 || errors.Is(cause, errNotOpen) { // startMic warned of that one
			level = slog.LevelDebug
		}
		h.log.Log(context.Background(), level, "media: "+p.name+" failed: reopening", "source", p.desc, "err", cause, "after", delay)
		p.closeStream()
		t := time.NewTimer(delay)
		select {
		case <-p.quit:
			t.Stop()
			return false
		case <-t.C:
		}
		ok, err := p.openStream()
		if !ok {
			return false
		}
		if err == nil {
			h.log.Info("media: "+p.name+" reopened", "source", p.desc)
			return true
		}
		cause, delay = err, min(2*delay, most)
	}
}

// minKeyFrameGap bounds how often receivers can force a key frame.
const minKeyFrameGap = 500 * time.Millisecond

// pipe is one device's goroutine and its stream.
type pipe struct {
	name, desc string
	open       func() (io.Closer, error)
	quit       chan struct{} // closed by stop
	done       chan struct{} // closed when the goroutine returns
	forceKey   atomic.Bool

	mu     sync.Mutex // guards stream against stop
	stream io.Closer  // read only by the goroutine
	closed bool
}

// startPipe opens the stream and starts run on it. When the open fails,
// it returns the error and no pipe, unless mayFail: then it starts run
// without a stream (nil), and returns the pipe and the error.
func startPipe(name, desc string, open func() (io.Closer, error), run func(*pipe), mayFail bool) (*pipe, error) {
	stream, err := open()
	if err != nil && !mayFail {
		return nil, err
	}
	p := &pipe{name: name, desc: desc, open: open, stream: stream, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		run(p)
	}()
	return p, err
}

func (p *pipe) stopping() bool {
	select {
	case <-p.quit:
		return true
	default:
		return false
	}
}

// stop closes the stream, which unblocks the goroutine's Read, and waits
// for the goroutine.
func (p *pipe) stop() {
	close(p.quit)
	p.mu.Lock()
	p.closed = true
	p.closeStreamLocked()
	p.mu.Unlock()
	<-p.done
}

func (p *pipe) closeStream() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeStreamLocked()
}

func (p *pipe) closeStreamLocked() {
	if p.stream != nil {
		_ = p.stream.Close()
	}
}

// openStream replaces the stream unless the pipe was stopped (false).
func (p *pipe) openStream() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false, nil
	}
	s, err := p.open()
	if err != nil {
		return true, err
	}
	p.stream = s
	return true, nil
}
