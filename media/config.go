package media

import (
	"errors"
	"fmt"
	"time"
)

// Fixed audio format: every source delivers, and the Opus encoder takes, mono
// 16-bit PCM at 48 kHz (the Opus and WebRTC native rate, so nothing resamples).
const (
	SampleRate = 48000
)

// Config holds the capture and encoding settings. The zero value of a field
// means its default; Validate fills the defaults in.
type Config struct {
	// AudioFrame is the Opus frame length: 10ms (default) or 20ms. The
	// microphone delivers chunks of the same length. 10 ms keeps capture to
	// packet under 15 ms; 20 ms halves the packet rate.
	AudioFrame time.Duration
	// AudioBitrate is the Opus bit rate in bits per second (default 32000).
	AudioBitrate int
	// ToneHz and ToneAmplitude shape the test tone (default 440 Hz at 0.25
	// of full scale, -15 dBFS RMS: above the default VOX threshold).
	ToneHz        float64
	ToneAmplitude float64
	// TestAudio scripts the test tone in ModeTest, for tests that need a
	// microphone to go quiet or hang on cue: comma-separated steps
	// tone:DURATION, silence:DURATION or stall:DURATION (Go durations),
	// repeated from the start; a last step without a duration lasts
	// forever ("tone:3s,stall"). Empty is the steady tone. See script.go.
	// Other modes ignore it (the fallback tone of ModeAuto stays steady).
	TestAudio string

	// Microphone picks an ALSA capture device by exact name ("plughw:CARD=Device,DEV=0")
	// or by a substring of its name or description; empty picks the best one.
	Microphone string
	// Camera picks a V4L2 device by a substring of its path, label or name
	// ("video0", "usb-"); empty picks the first that can capture.
	Camera string

	// Width, Height and FPS of the video (default 640x480 at 15 fps).
	Width, Height, FPS int
	// VideoBitrate in bits per second (default 500000).
	VideoBitrate int
	// KeyFrameInterval is the longest time between key frames (default 10s).
	// New video subscribers and RequestKeyFrame get one at once anyway.
	KeyFrameInterval time.Duration

	// LevelInterval is how often the sound level is computed (default 200ms).
	LevelInterval time.Duration
	// Vox configures noise detection from the sound level.
	Vox VoxConfig

	// AudioQueue, VideoQueue and LevelQueue bound each subscriber's queue
	// (defaults 8 audio frames, 4 video frames, 4 levels). A slow audio or
	// level subscriber loses its oldest items; a slow video subscriber skips
	// to the next key frame.
	AudioQueue, VideoQueue, LevelQueue int
}

// VoxConfig configures the noise (VOX) detector.
type VoxConfig struct {
	// ThresholdDBFS is the RMS level that counts as noise (default -30).
	ThresholdDBFS float64
	// Attack is how long the level must stay at or above the threshold
	// before a noise event starts (default 1s).
	Attack time.Duration
	// Hold is how long the level must stay below the threshold before the
	// noise event ends (default 3s).
	Hold time.Duration
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("media: invalid configuration")

// Validate fills defaults for zero values and checks the rest.
func (c *Config) Validate() error {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	defD(&c.AudioFrame, 10*time.Millisecond)
	def(&c.AudioBitrate, 32000)
	if c.ToneHz == 0 {
		c.ToneHz = 440
	}
	if c.ToneAmplitude == 0 {
		c.ToneAmplitude = 0.25
	}
	def(&c.Width, 640)
	def(&c.Height, 480)
	def(&c.FPS, 15)
	def(&c.VideoBitrate, 500_000)
	defD(&c.KeyFrameInterval, 10*time.Second)
	defD(&c.LevelInterval, 200*time.Millisecond)
	if err := c.Vox.Validate(); err != nil {
		return err
	}
	def(&c.AudioQueue, 8)
	def(&c.VideoQueue, 4)
	def(&c.LevelQueue, 4)

	switch {
	case c.AudioFrame != 10*time.Millisecond && c.AudioFrame != 20*time.Millisecond:
		return fmt.Errorf("%w: audio frame %v: use 10ms or 20ms", ErrInvalidConfig, c.AudioFrame)
	case c.AudioBitrate < 6000 || c.AudioBitrate > 510000:
		return fmt.Errorf("%w: audio bit rate %d: use 6000 to 510000", ErrInvalidConfig, c.AudioBitrate)
	case c.ToneHz < 0 || c.ToneHz >= SampleRate/2:
		return fmt.Errorf("%w: tone %v Hz: use 1 to 23999", ErrInvalidConfig, c.ToneHz)
	case c.ToneAmplitude < 0 || c.ToneAmplitude > 1:
		return fmt.Errorf("%w: tone amplitude %v: use 0 to 1", ErrInvalidConfig, c.ToneAmplitude)
	case c.Width < 16 || c.Height < 16 || c.Width%2 != 0 || c.Height%2 != 0 || c.Width > 4096 || c.Height > 4096:
		return fmt.Errorf("%w: video size %dx%d: use even sizes from 16 to 4096", ErrInvalidConfig, c.Width, c.Height)
	case c.FPS < 1 || c.FPS > 60:
		return fmt.Errorf("%w: %d fps: use 1 to 60", ErrInvalidConfig, c.FPS)
	case c.VideoBitrate < 50_000:
		return fmt.Errorf("%w: video bit rate %d: use at least 50000", ErrInvalidConfig, c.VideoBitrate)
	case c.KeyFrameInterval < 0:
		return fmt.Errorf("%w: negative key frame interval", ErrInvalidConfig)
	case c.LevelInterval < 10*time.Millisecond || c.LevelInterval > 10*time.Second:
		return fmt.Errorf("%w: level interval %v: use 10ms to 10s", ErrInvalidConfig, c.LevelInterval)
	case c.AudioQueue < 1 || c.VideoQueue < 1 || c.LevelQueue < 1:
		return fmt.Errorf("%w: subscriber queues need room for at least one item", ErrInvalidConfig)
	}
	if _, err := parseAudioScript(c.TestAudio); err != nil {
		return err
	}
	return nil
}

// Validate fills defaults for zero values and checks the rest.
func (v *VoxConfig) Validate() error {
	if v.ThresholdDBFS == 0 {
		v.ThresholdDBFS = -30
	}
	if v.Attack == 0 {
		v.Attack = time.Second
	}
	if v.Hold == 0 {
		v.Hold = 3 * time.Second
	}
	switch {
	case v.ThresholdDBFS < MinDBFS || v.ThresholdDBFS > 0:
		return fmt.Errorf("%w: VOX threshold %v dBFS: use %v to 0", ErrInvalidConfig, v.ThresholdDBFS, MinDBFS)
	case v.Attack < 0 || v.Hold < 0:
		return fmt.Errorf("%w: negative VOX attack or hold time", ErrInvalidConfig)
	}
	return nil
}
