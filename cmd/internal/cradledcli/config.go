package cradledcli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/cradle-monitor/cradle/cmd/internal/clitool"
	"github.com/cradle-monitor/cradle/media"
)

// DefaultConfigFile is read when it exists and --config is not given.
const DefaultConfigFile = "/etc/cradle/cradled.toml"

// fileConfig is the TOML file's shape. Every key is documented in
// docs/CONFIG.md; a key this release does not know is an error.
type fileConfig struct {
	StateDir        *string   `toml:"state_dir"`
	Listen          *string   `toml:"listen"`
	AdminSocket     *string   `toml:"admin_socket"`
	Name            *string   `toml:"name"`
	SetupCode       *string   `toml:"setup_code"`
	PairingWindow   *duration `toml:"pairing_window"`
	HeartbeatEvery  *duration `toml:"heartbeat_interval"`
	HeartbeatMisses *int      `toml:"heartbeat_misses"`
	AutoStream      *string   `toml:"auto_stream"`
	LogLevel        *string   `toml:"log_level"`
	Media           *string   `toml:"media"`
	Microphone      *string   `toml:"microphone"`
	Camera          *string   `toml:"camera"`
	TestAudio       *string   `toml:"test_audio"`
	VoxThreshold    *float64  `toml:"vox_threshold_dbfs"`
	VoxAttack       *duration `toml:"vox_attack"`
	VoxHold         *duration `toml:"vox_hold"`
	HistoryDays     *int      `toml:"history_days"`
	HistoryFlush    *duration `toml:"history_flush"`
	HistoryGap      *duration `toml:"history_gap"`
	HistoryStep     *duration `toml:"history_step"`
	Speaker         *string   `toml:"speaker"`
	SpeakerVolume   *float64  `toml:"speaker_volume"`
	HW              *string   `toml:"hw"`
	LEDPin          *string   `toml:"led_pin"`
	ButtonPin       *string   `toml:"button_pin"`
	GPIOChip        *string   `toml:"gpio_chip"`
	LEDLine         *int      `toml:"led_line"`
	ButtonLine      *int      `toml:"button_line"`
	Debounce        *duration `toml:"debounce"`
	ShortMax        *duration `toml:"short_max"`
	LongPress       *duration `toml:"long_press"`
	MDNS            *bool     `toml:"mdns"`
	MDNSInterface   *string   `toml:"mdns_interface"`
	PairWhenNew     *bool     `toml:"pair_when_new"`
	PageListen      *string   `toml:"page_listen"`
	PageHTTP        *string   `toml:"page_http"`
}

// duration is a TOML string such as "3m" or "500ms".
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 3m or 500ms)", b)
	}
	d.Duration = v
	return nil
}

// dropInDir is where the files that amend a configuration file live:
// /etc/cradle/cradled.d for /etc/cradle/cradled.toml. The image's first
// boot writes the room name from the boot partition there, so that the
// packaged cradled.toml stays as shipped and upgrades never ask about it.
func dropInDir(path string) string { return strings.TrimSuffix(path, ".toml") + ".d" }

// loadConfigs reads path, then every *.toml in its drop-in directory in
// name order (a later file's key wins over an earlier one's).
func (e *env) loadConfigs(path string, explicit bool, set map[string]bool) error {
	if err := e.loadConfig(path, explicit, set); err != nil {
		return err
	}
	more, err := filepath.Glob(filepath.Join(dropInDir(path), "*.toml"))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	sort.Strings(more)
	for _, p := range more {
		if err := e.loadConfig(p, true, set); err != nil {
			return err
		}
	}
	return nil
}

// loadConfig reads path into e.cfg, except for the settings given as
// flags (set), which win. A missing default file is fine; a missing file
// named with --config is an error.
func (e *env) loadConfig(path string, explicit bool, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var fc fileConfig
	md, err := toml.Decode(string(b), &fc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("config %s: line %d: %v", path, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("config %s: unknown key %q (see docs/CONFIG.md)", path, und[0].String())
	}
	str := func(flagName string, dst *string, v *string) {
		if v != nil && !set[flagName] {
			*dst = *v
		}
	}
	str("state-dir", &e.cfg.StateDir, fc.StateDir)
	str("listen", &e.cfg.Listen, fc.Listen)
	str("admin-socket", &e.cfg.AdminSocket, fc.AdminSocket)
	str("name", &e.cfg.Name, fc.Name)
	str("setup-code", &e.cfg.SetupCode, fc.SetupCode)
	str("auto-stream", &e.cfg.AutoStream, fc.AutoStream)
	str("log-level", &e.logLevel, fc.LogLevel)
	str("hw", &e.hwMode, fc.HW)
	str("microphone", &e.cfg.MediaConfig.Microphone, fc.Microphone)
	str("camera", &e.cfg.MediaConfig.Camera, fc.Camera)
	str("test-audio", &e.cfg.MediaConfig.TestAudio, fc.TestAudio)
	str("speaker", &e.cfg.Speaker, fc.Speaker)
	if fc.SpeakerVolume != nil {
		e.cfg.SpeakerVolume = *fc.SpeakerVolume
		if *fc.SpeakerVolume == 0 {
			e.cfg.SpeakerVolume = -1 // refused by validate, naming the key (0 would take the default)
		}
	}
	if fc.VoxThreshold != nil {
		e.cfg.MediaConfig.Vox.ThresholdDBFS = *fc.VoxThreshold
	}
	if fc.VoxAttack != nil {
		e.cfg.MediaConfig.Vox.Attack = fc.VoxAttack.Duration
	}
	if fc.VoxHold != nil {
		e.cfg.MediaConfig.Vox.Hold = fc.VoxHold.Duration
	}
	if fc.HistoryDays != nil && !set["history-days"] {
		e.historyDays = *fc.HistoryDays
	}

	if fc.HistoryFlush != nil {
		e.cfg.History.Flush = fc.HistoryFlush.Duration
	}
	if fc.HistoryGap != nil {
		e.cfg.History.Gap = fc.HistoryGap.Duration
	}
	if fc.HistoryStep != nil {
		e.cfg.History.Step = fc.HistoryStep.Duration
	}
	str("led-pin", &e.cfg.HW.LEDPin, fc.LEDPin)
	str("button-pin", &e.cfg.HW.ButtonPin, fc.ButtonPin)
	str("gpio-chip", &e.cfg.HW.GPIOChip, fc.GPIOChip)
	for _, k := range []struct {
		flag string
		dst  *int
		v    *int
	}{{"led-line", &e.cfg.HW.LEDLine, fc.LEDLine}, {"button-line", &e.cfg.HW.ButtonLine, fc.ButtonLine}} {
		if k.v != nil && !set[k.flag] {
			*k.dst = *k.v
		}
	}
	for key, given := range map[string]bool{"led-pin": fc.LEDPin != nil, "button-pin": fc.ButtonPin != nil,
		"led-line": fc.LEDLine != nil, "button-line": fc.ButtonLine != nil} {
		if given {
			e.hwKeys[key] = true
		}
	}
	str("mdns-interface", &e.cfg.AdvertiseInterface, fc.MDNSInterface)
	str("page-listen", &e.pageListen, fc.PageListen)
	str("page-http", &e.pageHTTP, fc.PageHTTP)
	if fc.Debounce != nil && !set["debounce"] {
		e.cfg.HW.Debounce = fc.Debounce.Duration
	}
	if fc.ShortMax != nil && !set["short-max"] {
		e.cfg.HW.ShortMax = fc.ShortMax.Duration
	}
	if fc.LongPress != nil && !set["long-press"] {
		e.cfg.HW.LongPress = fc.LongPress.Duration
	}
	if fc.MDNS != nil && !set["mdns"] {
		e.cfg.Advertise = *fc.MDNS
	}
	if fc.PairWhenNew != nil && !set["pair-when-new"] {
		e.cfg.PairWhenNew = *fc.PairWhenNew
	}
	if fc.Media != nil && !set["media"] {
		e.cfg.Media = media.Mode(*fc.Media)
	}
	if fc.PairingWindow != nil && !set["pairing-window"] {
		e.cfg.PairingWindow = fc.PairingWindow.Duration
	}
	if fc.HeartbeatEvery != nil && !set["heartbeat"] {
		e.cfg.Heartbeat.Interval = fc.HeartbeatEvery.Duration
	}
	if fc.HeartbeatMisses != nil && !set["heartbeat-misses"] {
		e.cfg.Heartbeat.Misses = *fc.HeartbeatMisses
	}
	return nil
}

// validate checks the merged configuration; errors name the key.
func (e *env) validate() error {
	var errs []error
	e.cfg.History.Days, e.cfg.History.Off = e.historyDays, e.historyDays == 0
	if e.historyDays < 0 {
		e.cfg.History.Days = -1 // refused by Validate, naming the key
	}
	if err := e.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch e.hwMode {
	case "auto", "pi", "sim":
	default:
		errs = append(errs, fmt.Errorf("hw: %q is not auto, pi or sim", e.hwMode))
	}
	if err := e.cfg.HW.Validate(); err != nil {
		errs = append(errs, err) // it names the keys: led_pin, button_pin, led_line, button_line, debounce, short_max, long_press
	}
	if e.cfg.HW.GPIOChip != "" {
		// The pins by offset on a chip: both offsets given (0 is a line),
		// no pin names that would be ignored.
		if !e.hwKeys["led-line"] || !e.hwKeys["button-line"] {
			errs = append(errs, fmt.Errorf("gpio_chip %q: set led_line and button_line too, the lines' offsets on it (gpioinfo lists them)", e.cfg.HW.GPIOChip))
		}
		if e.hwKeys["led-pin"] || e.hwKeys["button-pin"] {
			errs = append(errs, fmt.Errorf("gpio_chip %q: led_pin and button_pin name pins, led_line and button_line number them on gpio_chip: use one or the other", e.cfg.HW.GPIOChip))
		}
	}
	if _, err := clitool.ParseLogLevel(e.logLevel); err != nil {
		errs = append(errs, fmt.Errorf("log_level: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}

func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
