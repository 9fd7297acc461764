package pi

import (
	"fmt"
	"strings"

	"github.com/cradle-monitor/cradle/hw"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// A chip is a GPIO character device (/dev/gpiochipN) as findPins looks
// pins up on it: gpioioctl's chips on a machine, fakes in tests.
type chip interface {
	Name() string  // "gpiochip0"
	Path() string  // "/dev/gpiochip0"
	Label() string // the driver's label, "pinctrl-bcm2835"
	LineCount() int
	// Line returns the line at offset, 0 to LineCount()-1.
	Line(offset int) gpio.PinIO
	// LineByName returns the line called name, or nil.
	LineByName(name string) gpio.PinIO
}

// A found pin is a pin and where findPins found it, for the log:
// "gpiochip0 line 17 GPIO17", or "periph pin GPIO17".
type found struct {
	pin   gpio.PinIO
	where string
}

func onChip(c chip, offset int) found {
	p := c.Line(offset)
	return found{p, fmt.Sprintf("%s line %d %s", c.Name(), offset, p.Name())}
}

// findPins returns the LED's and the button's pins for cfg (with its
// defaults applied):
//
//   - with cfg.GPIOChip: lines cfg.LEDLine and cfg.ButtonLine of the chip
//     whose name, path or label is cfg.GPIOChip;
//   - without: for each of cfg.LEDPin and cfg.ButtonPin, the first line of
//     that name on chips, in their order (gpioioctl puts the SoC's
//     pinctrl chip first), else byName(name), periph's registry.
//
// Lines of a chip go through the kernel's character device: the kernel
// knows them as requested by cradled (gpioinfo, /sys/kernel/debug/gpio)
// and refuses them to another program, whatever else a driver could map
// (periph's bcm283x driver writes the GPIO registers through /dev/gpiomem
// where a Raspberry Pi OS kernel has it). Every error wraps ErrNoGPIO.
func findPins(cfg hw.Config, chips []chip, byName func(string) gpio.PinIO) (led, button found, err error) {
	if cfg.GPIOChip != "" {
		c := chipNamed(chips, cfg.GPIOChip)
		if c == nil {
			return led, button, fmt.Errorf("%w: gpio_chip %q: no such GPIO chip here (chips: %s)", ErrNoGPIO, cfg.GPIOChip, listChips(chips))
		}
		for _, l := range []struct {
			key    string
			offset int
		}{{"led_line", cfg.LEDLine}, {"button_line", cfg.ButtonLine}} {
			if l.offset < 0 || l.offset >= c.LineCount() {
				return led, button, fmt.Errorf("%w: %s %d: %s (%s) has lines 0 to %d", ErrNoGPIO, l.key, l.offset, c.Name(), c.Label(), c.LineCount()-1)
			}
		}
		return onChip(c, cfg.LEDLine), onChip(c, cfg.ButtonLine), nil
	}
	find := func(name string) found {
		for _, c := range chips {
			if p := c.LineByName(name); p != nil {
				return found{p, fmt.Sprintf("%s line %d %s", c.Name(), p.Number(), p.Name())}
			}
		}
		return found{byName(name), "periph pin " + name}
	}
	led, button = find(cfg.LEDPin), find(cfg.ButtonPin)
	for _, p := range []struct {
		name string
		pin  gpio.PinIO
	}{{cfg.LEDPin, led.pin}, {cfg.ButtonPin, button.pin}} {
		if p.pin == nil {
			return led, button, fmt.Errorf("%w: pin %s does not exist on this machine (chips: %s); on a board whose lines have other names set gpio_chip, led_line and button_line; use --hw sim to run without the button and LED",
				ErrNoGPIO, p.name, listChips(chips))
		}
	}
	return led, button, nil
}

// chipNamed returns the chip whose name, path or label is s, or nil.
func chipNamed(chips []chip, s string) chip {
	for _, c := range chips {
		if s == c.Name() || s == c.Path() || s == c.Label() {
			return c
		}
	}
	return nil
}

// listChips describes chips for an error: "gpiochip0 [pinctrl-bcm2835]
// 54 lines, ...", or "none".
func listChips(chips []chip) string {
	if len(chips) == 0 {
		return "none"
	}
	var s []string
	for _, c := range chips {
		s = append(s, fmt.Sprintf("%s [%s] %d lines", c.Name(), c.Label(), c.LineCount()))
	}
	return strings.Join(s, ", ")
}

// ioctlChip is a gpioioctl chip as a chip.
type ioctlChip struct{ c *gpioioctl.GPIOChip }

func (c ioctlChip) Name() string   { return c.c.Name() }
func (c ioctlChip) Path() string   { return c.c.Path() }
func (c ioctlChip) Label() string  { return c.c.Label() }
func (c ioctlChip) LineCount() int { return len(c.c.Lines()) }

func (c ioctlChip) Line(offset int) gpio.PinIO { return c.c.Lines()[offset] }

func (c ioctlChip) LineByName(name string) gpio.PinIO {
	if l := c.c.ByName(name); l != nil {
		return l
	}
	return nil // not a typed nil
}

// ioctlChips returns the chips gpioioctl found (after host.Init).
func ioctlChips() []chip {
	var cs []chip
	for _, c := range gpioioctl.Chips {
		cs = append(cs, ioctlChip{c})
	}
	return cs
}
