package media

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"time"
)

// Errors returned by sources and by the Hub.
var (
	// ErrClosed: the stream, subscription or Hub was closed.
	ErrClosed = errors.New("media: closed")
	// ErrNoMicrophone: no usable ALSA capture device was found.
	ErrNoMicrophone = errors.New("media: no microphone found: plug one in, or run with --media test")
	// ErrNoCamera: no usable V4L2 capture device was found.
	ErrNoCamera = errors.New("media: no camera found: plug one in, or run with --media test")
	// ErrNoVideo: the Hub has no video source (an audio-only monitor).
	ErrNoVideo = errors.New("media: this monitor has no camera")
	// ErrNoEncoder: the program was built without cgo, so there is no Opus
	// or VP8 encoder; levels still work.
	ErrNoEncoder = errors.New("media: built without cgo: no audio or video encoder")
	// ErrBadMode: Open got a mode other than auto, devices or test.
	ErrBadMode = errors.New("media: unknown media mode: use auto, devices or test")
)

// PCM is a chunk of mono 16-bit audio at SampleRate.
type PCM struct {
	Samples []int16
	// Captured is when the first sample was captured.
	Captured time.Time
}

// Frame is one video picture.
type Frame struct {
	// Image is 4:2:0 (I420). It is valid until the next Read.
	Image *image.YCbCr
	// Captured is when the picture was taken.
	Captured time.Time
}

// AudioFormat is what the Hub asks of an audio source: mono 16-bit PCM at
// SampleRate, in chunks of about Chunk.
type AudioFormat struct {
	Chunk time.Duration
}

// VideoFormat is what the Hub asks of a video source; a camera delivers the
// nearest size it supports.
type VideoFormat struct {
	Width, Height, FPS int
}

// AudioSource opens a microphone or the test tone.
type AudioSource interface {
	OpenAudio(AudioFormat) (AudioStream, error)
	String() string
}

// VideoSource opens a camera or the test pattern.
type VideoSource interface {
	OpenVideo(VideoFormat) (VideoStream, error)
	String() string
}

// AudioStream is an open audio source. Read blocks until the next chunk
// (sources are paced in real time). Close stops the capture, unblocks a
// pending Read (which then returns ErrClosed or io.EOF) and is idempotent.
// Read is called from one goroutine at a time; Close from any.
type AudioStream interface {
	Read() (PCM, error)
	Close() error
}

// VideoStream is an open video source, with AudioStream's rules.
type VideoStream interface {
	Read() (Frame, error)
	Close() error
}

// Sources are the capture sources a Hub uses. Video may be nil: the Hub
// then refuses video subscriptions with ErrNoVideo.
type Sources struct {
	Audio AudioSource
	Video VideoSource
}

// Mode selects the sources: the monitor's --media flag.
type Mode string

// Modes.
const (
	// ModeAuto uses the devices that exist and the test sources for the
	// rest, saying so in the log. A microphone plugged in later replaces
	// the test tone.
	ModeAuto Mode = "auto"
	// ModeDevices uses a microphone, waiting for one to be plugged in if
	// there is none yet; the camera is optional.
	ModeDevices Mode = "devices"
	// ModeTest uses the test tone and the test pattern.
	ModeTest Mode = "test"
)

// ParseMode checks a --media flag value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeDevices, ModeTest:
		return m, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadMode, s)
}

// OpenSources selects the sources for mode. It only finds devices; nothing
// captures until a Hub subscriber asks.
func OpenSources(mode Mode, cfg Config, log *slog.Logger) (Sources, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return Sources{}, err
	}
	tone := NewToneSource(cfg.ToneHz, cfg.ToneAmplitude)
	pattern := NewPatternSource()
	switch mode {
	case ModeTest:
		scripted, err := NewScriptedToneSource(cfg.ToneHz, cfg.ToneAmplitude, cfg.TestAudio)
		if err != nil {
			return Sources{}, err
		}
		log.Info("media: using test sources", "audio", scripted.String(), "video", pattern.String())
		return Sources{Audio: scripted, Video: pattern}, nil
	case ModeDevices, ModeAuto:
	default:
		return Sources{}, fmt.Errorf("%w: %q", ErrBadMode, mode)
	}
	if cfg.TestAudio != "" {
		log.Warn("media: test audio script ignored: it only applies with --media test", "test_audio", cfg.TestAudio)
	}

	var src Sources
	mic, err := findMicrophone(cfg.Microphone)
	switch {
	case err == nil:
		src.Audio = mic
		log.Info("media: microphone found", "device", mic.String())
	case mode == ModeDevices && mic != nil:
		// Not plugged in yet: the Hub keeps looking while it captures,
		// and its microphone fault shows until one answers.
		src.Audio = mic
		log.Warn("media: no microphone yet: listening for one to be plugged in", "reason", err)
	case mode == ModeDevices:
		return Sources{}, err
	case mic != nil:
		src.Audio = &autoAudio{mic: mic, present: micPresent(cfg.Microphone), tone: tone}
		log.Warn("media: no microphone: using the test tone until one is plugged in (the monitor shows the microphone fault)", "reason", err, "tone", tone.String())
	default:
		src.Audio = tone
		log.Warn("media: no microphone: using the test tone instead (the monitor shows the microphone fault)", "reason", err, "tone", tone.String())
	}
	cam, err := findCamera(cfg.Camera)
	switch {
	case err == nil:
		src.Video = cam
		log.Info("media: camera found", "device", cam.String())
	case mode == ModeDevices:
		log.Warn("media: no camera: audio only", "reason", err)
	default:
		src.Video = pattern
		log.Warn("media: no camera: using the test pattern instead", "reason", err, "pattern", pattern.String())
	}
	return src, nil
}

// Open selects the sources for mode and returns a Hub over them. Nothing
// captures until the first subscriber; Close the Hub when done.
func Open(mode Mode, cfg Config, log *slog.Logger) (*Hub, error) {
	src, err := OpenSources(mode, cfg, log)
	if err != nil {
		return nil, err
	}
	return NewHub(src, cfg, log)
}
