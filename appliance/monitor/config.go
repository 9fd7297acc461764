package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/presence"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/soothe"
)

// Config is the monitor's configuration. Zero values take defaults.
type Config struct {
	StateDir      string          // identity, setup code, event log; required
	Listen        string          // UDP address of the control channel; default ":48080"
	AdminSocket   string          // default StateDir/cradled.sock
	Name          string          // room name shown to listeners; default "Nursery"
	SetupCode     string          // provisioned setup code, used at first start only
	PairingWindow time.Duration   // default 3 min, at most 15 min
	Heartbeat     presence.Config // ping interval and misses
	AutoStream    string          // "off", "audio" or "audio+video"; default "audio"
	Logger        *slog.Logger

	// Media selects the capture sources: "auto", "devices" or "test"
	// (the default here; the daemon's default is auto).
	Media       media.Mode
	MediaConfig media.Config
	// Sources, when set, are the capture sources instead of those Media
	// selects (tests: a microphone that can be pulled out); Media still
	// says whether the tone is a test (ModeTest) or a missing microphone.
	Sources *media.Sources
	// RTC tunes WebRTC; loopback candidates are added when Listen is a
	// loopback address.
	RTC rtc.Config
	// Device is the button and LED; nil means none.
	Device hw.Device
	// HW is the button's timing (used to wait for a simulated press).
	HW hw.Config
	// Advertise announces the monitor over mDNS (_cradle._udp).
	Advertise bool
	// AdvertiseInterface pins mDNS to one interface; empty uses all.
	AdvertiseInterface string
	// PairWhenNew opens the pairing window at start, for the longest
	// window allowed (15 min), when no listener is trusted: a factory-new
	// monitor can be paired without its button, as an uncommissioned
	// Matter device can. The setup code and the attempt limits still
	// apply. Off here; the daemon's default (pair_when_new) is on.
	PairWhenNew bool
	// History is the sound history kept in StateDir/history.db.
	History HistoryConfig

	// Speaker plays the soothing sounds: "" or "none" (the default here)
	// for no speaker, "auto" for the system's default output if there is
	// one (the daemon's default), or an output device's name (as `cradle
	// outputs` lists them). SpeakerOutput, when set, is the speaker
	// instead (tests: a play.TestSink, or PulseAudio's null sink).
	Speaker       string
	SpeakerOutput play.Output
	// SpeakerVolume is the speaker's ceiling, a linear volume from 0 to
	// 1 that nothing it plays exceeds; 0 takes soothe.DefaultCeiling
	// (0.25).
	SpeakerVolume float64
	// SoundFade is how long a sound with a timer fades out (default
	// 10 s); SoundMinute the length of a timer's minute (tests shorten
	// it; default a minute).
	SoundFade   time.Duration
	SoundMinute time.Duration

	// limits overrides the pairing limits (how long an attempt may take, failure
	// counts); tests shorten them.
	limits pairing.WindowConfig
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = fmt.Sprintf(":%d", control.DefaultPort)
	}
	if c.AdminSocket == "" && c.StateDir != "" {
		c.AdminSocket = filepath.Join(c.StateDir, "cradled.sock")
	}
	if c.Name == "" {
		c.Name = "Nursery"
	}
	if c.PairingWindow == 0 {
		c.PairingWindow = 3 * time.Minute
	}
	if c.AutoStream == "" {
		c.AutoStream = control.StreamAudio
	}
	if c.Media == "" {
		c.Media = media.ModeTest
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SpeakerVolume == 0 {
		c.SpeakerVolume = soothe.DefaultCeiling
	}
	return c
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir: required"))
	}
	if c.PairingWindow < 0 || c.PairingWindow > 15*time.Minute {
		errs = append(errs, fmt.Errorf("pairing_window: %v is out of range (at most 15m)", c.PairingWindow))
	}
	switch c.AutoStream {
	case "off", control.StreamAudio, control.StreamAudioVideo:
	default:
		errs = append(errs, fmt.Errorf("auto_stream: %q is not off, audio or audio+video", c.AutoStream))
	}
	if len(c.Name) > 64 {
		errs = append(errs, errors.New("name: longer than 64 bytes"))
	}
	switch c.Media {
	case media.ModeAuto, media.ModeDevices, media.ModeTest:
	default:
		errs = append(errs, fmt.Errorf("media: %q is not auto, devices or test", c.Media))
	}
	if err := c.MediaConfig.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("media: %w", err))
	}
	if !c.History.Off {
		if err := c.History.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if !(c.SpeakerVolume > 0 && c.SpeakerVolume <= 1) {
		errs = append(errs, fmt.Errorf("speaker_volume: %v is out of range (more than 0, at most 1)", c.SpeakerVolume))
	}
	if c.SoundFade < 0 || c.SoundMinute < 0 {
		errs = append(errs, errors.New("sound timers: negative"))
	}
	if err := c.Heartbeat.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("heartbeat: %w", err))
	}
	return errors.Join(errs...)
}
