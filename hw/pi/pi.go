// Package pi opens the monitor's front panel for --hw auto|pi|sim. It is
// the only package of Cradle outside cmd/ that imports periph's host
// drivers (periph.io/x/host/v3); everything else in hw/ and appliance/
// works without them.
package pi

import (
	"errors"
	"fmt"
	"log/slog"

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
//   - pi: the LED and button on cfg's GPIO pins; an error wrapping
//     ErrNoGPIO when they do not exist, or the driver's error when they
//     cannot be used (permissions on /dev/gpiochip*).
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
		log.Info("no GPIO on this machine: using the simulated button and LED (cradled pair / cradled reset press it)",
			"raspberry_pi", rpi.Present(), "led_pin", cfg.LEDPin, "button_pin", cfg.ButtonPin)
	} else {
		log.Warn("GPIO present but unusable: using the simulated button and LED instead", "err", err)
	}
	return sim.New(cfg, log)
}

// openGPIO loads periph's host drivers and opens the panel on cfg's pins.
func openGPIO(cfg hw.Config, log *slog.Logger) (*hw.Panel, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("%w: periph host drivers failed to load: %w", ErrNoGPIO, err)
	}
	led, button := gpioreg.ByName(cfg.LEDPin), gpioreg.ByName(cfg.ButtonPin)
	for _, p := range []struct {
		name string
		pin  gpio.PinIO
	}{{cfg.LEDPin, led}, {cfg.ButtonPin, button}} {
		if p.pin == nil {
			return nil, fmt.Errorf("%w: pin %s does not exist on this machine (is it a Raspberry Pi with /dev/gpiochip0? raspberry_pi=%t); use --hw sim to run without the button and LED",
				ErrNoGPIO, p.name, rpi.Present())
		}
	}
	return hw.New(led, button, cfg, log)
}
