package hw

import (
	"errors"
	"fmt"
	"time"
)

// Default pins (BCM GPIO numbers; the header pin is in parentheses) and
// button timings. docs/HARDWARE.md has the wiring diagram.
const (
	DefaultLEDPin    = "GPIO17" // header pin 11
	DefaultButtonPin = "GPIO27" // header pin 13
	DefaultDebounce  = 40 * time.Millisecond
	DefaultShortMax  = 3 * time.Second
	DefaultLongPress = 10 * time.Second
	DefaultWipeHold  = 30 * time.Second
)

// ErrConfig is wrapped by every error Config.Validate returns.
var ErrConfig = errors.New("hw: invalid configuration")

// Config selects the pins and the button timings. Zero values take the
// defaults above.
//
// The pins are found in one of two ways. Without GPIOChip, by name:
// LEDPin and ButtonPin are line names of the kernel's GPIO character
// devices (a Raspberry Pi's device tree names its header's lines GPIO0 to
// GPIO27), or else names periph's drivers know. With GPIOChip, by offset:
// LEDLine and ButtonLine are line offsets on that chip (what gpioinfo
// prints as "line 17"), for boards whose lines have no such names; LEDPin
// and ButtonPin are then not used.
type Config struct {
	LEDPin    string `toml:"led_pin"`    // pin name, e.g. "GPIO17"; LED lit when high
	ButtonPin string `toml:"button_pin"` // pin name; button to GND, internal pull-up
	// GPIOChip names a GPIO character device: "gpiochip0", its path
	// "/dev/gpiochip0", or its label ("pinctrl-bcm2835"). Empty: find
	// the pins by name.
	GPIOChip   string        `toml:"gpio_chip"`
	LEDLine    int           `toml:"led_line"`    // the LED's line offset on GPIOChip
	ButtonLine int           `toml:"button_line"` // the button's line offset on GPIOChip
	Debounce   time.Duration `toml:"debounce"`    // a level counts once stable this long
	ShortMax   time.Duration `toml:"short_max"`   // shorter presses are ShortPress
	LongPress  time.Duration `toml:"long_press"`  // held this long: forget the listeners
	WipeHold   time.Duration `toml:"wipe_hold"`   // held this long: wipe the monitor (giving it away)
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.LEDPin == "" {
		c.LEDPin = DefaultLEDPin
	}
	if c.ButtonPin == "" {
		c.ButtonPin = DefaultButtonPin
	}
	if c.Debounce == 0 {
		c.Debounce = DefaultDebounce
	}
	if c.ShortMax == 0 {
		c.ShortMax = DefaultShortMax
	}
	if c.LongPress == 0 {
		c.LongPress = DefaultLongPress
	}
	if c.WipeHold == 0 {
		c.WipeHold = c.LongPress + (DefaultWipeHold - DefaultLongPress) // 20 s more
	}
	return c
}

// Validate reports every invalid setting, naming its key. It applies the
// defaults first.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	switch {
	case c.GPIOChip != "":
		if c.LEDLine < 0 || c.ButtonLine < 0 {
			errs = append(errs, fmt.Errorf("led_line %d, button_line %d: line offsets are 0 or more (gpioinfo lists them)", c.LEDLine, c.ButtonLine))
		} else if c.LEDLine == c.ButtonLine {
			errs = append(errs, fmt.Errorf("led_line and button_line are both %d on %s: use two different lines", c.LEDLine, c.GPIOChip))
		}
	case c.LEDLine != 0 || c.ButtonLine != 0:
		errs = append(errs, fmt.Errorf("led_line and button_line are offsets on gpio_chip, which is not set: set gpio_chip too, or name the pins with led_pin and button_pin"))
	case c.LEDPin == c.ButtonPin:
		errs = append(errs, fmt.Errorf("led_pin and button_pin are both %s: use two different pins", c.LEDPin))
	}
	if c.Debounce < 0 || c.Debounce > 500*time.Millisecond {
		errs = append(errs, fmt.Errorf("debounce: %v is out of range (0 to 500ms; 30-50ms suits most buttons)", c.Debounce))
	}
	if c.ShortMax <= c.Debounce {
		errs = append(errs, fmt.Errorf("short_max: %v must be longer than debounce (%v)", c.ShortMax, c.Debounce))
	}
	if c.LongPress <= c.ShortMax {
		errs = append(errs, fmt.Errorf("long_press: %v must be longer than short_max (%v)", c.LongPress, c.ShortMax))
	}
	if c.WipeHold < c.LongPress+5*time.Second {
		errs = append(errs, fmt.Errorf("wipe_hold: %v must be at least 5s longer than long_press (%v)", c.WipeHold, c.LongPress))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
