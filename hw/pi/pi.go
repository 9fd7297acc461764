// Package pi opens the monitor's front panel for --hw auto|pi|sim. It is
// the only package of Cradle outside cmd/ that imports periph's host
// drivers (periph.io/x/host/v3); everything else in hw/ and appliance/
// works without them.
package pi

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/hw/sim"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/rpi"
)

// Modes for Open.
const (
	ModeAuto = "auto" // the Pi's GPIO when present, else the simulator
	ModePi   = "pi"   // the Pi's GPIO, or an error
	ModeSim  = "sim"  // the simulator
)

var (
	// ErrNoGPIO: --hw pi on a machine where the configured pins do not
	// exist (not a Raspberry Pi, or the GPIO driver is missing).
	ErrNoGPIO = errors.New("pi: no GPIO")
	// ErrMode: an unknown --hw value.
	ErrMode = errors.New("pi: unknown hardware mode")
)

// Open returns the front panel for mode ("" means auto):
//
//   - sim: the simulator (*sim.Sim, which also implements hw.Presser).
//   - pi: the LED and button on cfg's GPIO pins, lines of the kernel's
//     GPIO chips by name, or by gpio_chip and offsets (see findPins); an
//     error wrapping ErrNoGPIO when they do not exist, or the driver's
//     error when they cannot be used (permissions on /dev/gpiochip*).
//   - auto: as pi when the pins exist, otherwise the simulator, with one
//     info line saying so. If the pins exist but cannot be used it also
//     falls back, with one warning carrying the error: a faulty panel must
//     not keep the baby monitor from listening.
//
// log may be nil. The caller closes the device.
func Open(mode string, cfg hw.Config, log *slog.Logger) (hw.Device, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	switch mode {
	case ModeSim:
		return sim.New(cfg, log)
	case ModePi, ModeAuto, "":
	default:
		return nil, fmt.Errorf("%w %q: use auto, pi or sim", ErrMode, mode)
	}
	d, err := openGPIO(cfg, log)
	if err == nil {
		return d, nil
	}
	if mode == ModePi {
		return nil, err
	}
	if errors.Is(err, ErrNoGPIO) {
		pins := []any{"led_pin", cfg.LEDPin, "button_pin", cfg.ButtonPin}
		if cfg.GPIOChip != "" {
			pins = []any{"gpio_chip", cfg.GPIOChip, "led_line", cfg.LEDLine, "button_line", cfg.ButtonLine}
		}
		log.Info("no GPIO on this machine: using the simulated button and LED (cradled pair / cradled reset press it)",
			append([]any{"raspberry_pi", rpi.Present(), "err", err}, pins...)...)
	} else {
		log.Warn("GPIO present but unusable: using the simulated button and LED instead", "err", err)
	}
	return sim.New(cfg, log)
}

// openGPIO loads periph's host drivers and opens the panel on cfg's pins
// (findPins).
func openGPIO(cfg hw.Config, log *slog.Logger) (*hw.Panel, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("%w: periph host drivers failed to load: %w", ErrNoGPIO, err)
	}
	chips := ioctlChips()
	p, err := openPanel(cfg, chips, registered, log)
	if errors.Is(err, ErrNoGPIO) && len(chips) == 0 {
		// Chips that exist but cannot be opened are not "no GPIO": say
		// why (a missing udev rule or group), so that auto warns.
		if err := chipsUnusable("/dev/gpiochip*"); err != nil {
			return nil, err
		}
	}
	return p, err
}

// chipsUnusable returns the error of opening the first GPIO chip matching
// pattern that cannot be opened, or nil.
func chipsUnusable(pattern string) error {
	paths, _ := filepath.Glob(pattern)
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("pi: GPIO chip %s cannot be opened (cradled needs group gpio, and the chip must be group gpio's: the package's 60-cradle-gpio.rules): %w", path, err)
		}
		f.Close()
	}
	return nil
}

// registered is periph's registry as findPins's byName, without a typed nil.
func registered(name string) gpio.PinIO {
	if p := gpioreg.ByName(name); p != nil {
		return p
	}
	return nil
}

// openPanel finds cfg's pins on chips (or by byName) and opens the panel
// on them, logging which lines it uses.
func openPanel(cfg hw.Config, chips []chip, byName func(string) gpio.PinIO, log *slog.Logger) (*hw.Panel, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	led, button, err := findPins(cfg.WithDefaults(), chips, byName)
	if err != nil {
		return nil, err
	}
	log.Info("front panel on GPIO", "led", led.where, "button", button.where)
	return hw.New(led.pin, button.pin, cfg, log)
}
