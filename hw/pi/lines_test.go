package pi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cradle-monitor/cradle/hw"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// fakeChip is a GPIO chip of gpiotest pins, named like the kernel's.
type fakeChip struct {
	name, label string
	lines       []*line
}

// line is a gpiotest pin that also records the edges asked for.
type line struct {
	*gpiotest.Pin
	edge gpio.Edge
}

func (l *line) In(pull gpio.Pull, edge gpio.Edge) error {
	l.Lock()
	l.edge = edge
	l.Unlock()
	return l.Pin.In(pull, edge)
}

// newChip makes a chip of n lines; names gives some of them names
// (offset: name), the others are unnamed as on many boards.
func newChip(name, label string, n int, names map[int]string) *fakeChip {
	c := &fakeChip{name: name, label: label}
	for i := range n {
		c.lines = append(c.lines, &line{Pin: &gpiotest.Pin{N: names[i], Num: i, EdgesChan: make(chan gpio.Level)}})
	}
	return c
}

func (c *fakeChip) Name() string               { return c.name }
func (c *fakeChip) Path() string               { return "/dev/" + c.name }
func (c *fakeChip) Label() string              { return c.label }
func (c *fakeChip) LineCount() int             { return len(c.lines) }
func (c *fakeChip) Line(offset int) gpio.PinIO { return c.lines[offset] }
func (c *fakeChip) LineByName(name string) gpio.PinIO {
	for _, l := range c.lines {
		if l.N != "" && l.N == name {
			return l
		}
	}
	return nil
}

// piChips are a Raspberry Pi 3 on Debian's kernel: the firmware's GPIO
// expander (8 named lines) and the SoC's 54 lines named GPIO0..GPIO53,
// listed after it, as gpioioctl would not.
func piChips() (expander, soc *fakeChip) {
	names := map[int]string{}
	for i := range 54 {
		names[i] = fmt.Sprintf("GPIO%d", i)
	}
	return newChip("gpiochip1", "raspberrypi-exp-gpio", 8, map[int]string{2: "STATUS_LED"}),
		newChip("gpiochip0", "pinctrl-bcm2835", 54, names)
}

func noRegistry(string) gpio.PinIO { return nil }

func TestFindPinsByName(t *testing.T) {
	exp, soc := piChips()
	led, button, err := findPins(hw.Config{}.WithDefaults(), []chip{exp, soc}, noRegistry)
	if err != nil {
		t.Fatal(err)
	}
	if led.pin != soc.lines[17] || button.pin != soc.lines[27] {
		t.Errorf("found %s and %s, want gpiochip0's lines 17 and 27", led.where, button.where)
	}
	if led.where != "gpiochip0 line 17 GPIO17" || button.where != "gpiochip0 line 27 GPIO27" {
		t.Errorf("where: %q, %q", led.where, button.where)
	}
	// A name no chip has: periph's registry.
	reg := &gpiotest.Pin{N: "PB2", Num: 34}
	led, _, err = findPins(hw.Config{LEDPin: "PB2"}.WithDefaults(), []chip{exp, soc}, func(n string) gpio.PinIO {
		if n == "PB2" {
			return reg
		}
		return nil
	})
	if err != nil || led.pin != reg || led.where != "periph pin PB2" {
		t.Errorf("registry pin: %v %+v", err, led)
	}
	// Nowhere.
	_, _, err = findPins(hw.Config{ButtonPin: "GPIO99"}.WithDefaults(), []chip{exp, soc}, noRegistry)
	if !errors.Is(err, ErrNoGPIO) || !strings.Contains(err.Error(), "GPIO99") || !strings.Contains(err.Error(), "gpio_chip") ||
		!strings.Contains(err.Error(), "gpiochip0 [pinctrl-bcm2835] 54 lines") {
		t.Errorf("missing pin: %v", err)
	}
}

func TestFindPinsByChipAndOffset(t *testing.T) {
	// A board whose lines have no names: only offsets find them.
	other := newChip("gpiochip3", "1c20800.pinctrl", 224, nil)
	exp, soc := piChips()
	chips := []chip{exp, other, soc}
	for _, name := range []string{"gpiochip3", "/dev/gpiochip3", "1c20800.pinctrl"} {
		led, button, err := findPins(hw.Config{GPIOChip: name, LEDLine: 0, ButtonLine: 203}.WithDefaults(), chips, noRegistry)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if led.pin != other.lines[0] || button.pin != other.lines[203] {
			t.Errorf("%s: found %s and %s", name, led.where, button.where)
		}
		if button.where != "gpiochip3 line 203 " {
			t.Errorf("%s: where %q", name, button.where)
		}
	}
	// By label, the chip a Pi's names are on; the pin names are not used.
	led, button, err := findPins(hw.Config{GPIOChip: "pinctrl-bcm2835", LEDPin: "GPIO5", LEDLine: 17, ButtonLine: 27}.WithDefaults(), []chip{exp, soc}, noRegistry)
	if err != nil || led.pin != soc.lines[17] || button.pin != soc.lines[27] {
		t.Errorf("by label: %v %s %s", err, led.where, button.where)
	}
	for _, tt := range []struct {
		cfg  hw.Config
		want string
	}{
		{hw.Config{GPIOChip: "gpiochip7", LEDLine: 1, ButtonLine: 2}, `gpio_chip "gpiochip7": no such GPIO chip here (chips: gpiochip1 [raspberrypi-exp-gpio] 8 lines, gpiochip0 [pinctrl-bcm2835] 54 lines)`},
		{hw.Config{GPIOChip: "gpiochip1", LEDLine: 2, ButtonLine: 8}, "button_line 8: gpiochip1 (raspberrypi-exp-gpio) has lines 0 to 7"},
		{hw.Config{GPIOChip: "gpiochip1", LEDLine: -1, ButtonLine: 3}, "led_line -1"},
	} {
		_, _, err := findPins(tt.cfg, []chip{exp, soc}, noRegistry)
		if !errors.Is(err, ErrNoGPIO) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// TestOpenPanelOnLines: the panel opened on lines found by offset drives
// them as the kernel is asked to: the LED an output showing the pattern; the
// button an input with the pull-up and both edges; a press on the line
// is a button event.
func TestOpenPanelOnLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChip("gpiochip2", "gpio-sim", 8, nil)
		p, err := openPanel(hw.Config{GPIOChip: "gpio-sim", LEDLine: 3, ButtonLine: 5}, []chip{c}, noRegistry, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		led, button := c.lines[3], c.lines[5]
		// The LED line shows the booting pattern: lit 125 ms, dark 125 ms.
		for i, want := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
			synctest.Wait()
			led.Lock()
			if led.L != want {
				t.Errorf("LED line at %d ms: %v, want %v", i*125, led.L, want)
			}
			led.Unlock()
			time.Sleep(125 * time.Millisecond)
		}
		button.Lock()
		if button.P != gpio.PullUp || button.edge != gpio.BothEdges {
			t.Errorf("button line: pull %v, edges %v; want PullUp and BothEdges", button.P, button.edge)
		}
		button.Unlock()
		edge := func(l gpio.Level) {
			select {
			case button.EdgesChan <- l:
			case <-time.After(time.Minute):
				t.Fatal("the panel does not wait for edges on line 5")
			}
		}
		edge(gpio.Low)
		time.Sleep(150 * time.Millisecond)
		edge(gpio.High)
		select {
		case ev := <-p.Events():
			if ev != hw.ShortPress {
				t.Errorf("event %v, want a short press", ev)
			}
		case <-time.After(time.Minute):
			t.Fatal("no button event from a press on line 5")
		}
	})
}

// TestChipsUnusable: a chip that exists but cannot be opened is named,
// with the way out, rather than taken for no GPIO.
func TestChipsUnusable(t *testing.T) {
	dir := t.TempDir()
	if err := chipsUnusable(filepath.Join(dir, "gpiochip*")); err != nil {
		t.Errorf("no chips: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gpiochip0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chipsUnusable(filepath.Join(dir, "gpiochip*")); err != nil {
		t.Errorf("a chip that opens: %v", err)
	}
	// A dangling link cannot be opened, even by root.
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "gpiochip1")); err != nil {
		t.Fatal(err)
	}
	err := chipsUnusable(filepath.Join(dir, "gpiochip*"))
	if err == nil || errors.Is(err, ErrNoGPIO) || !strings.Contains(err.Error(), "gpiochip1 cannot be opened") ||
		!strings.Contains(err.Error(), "60-cradle-gpio.rules") {
		t.Errorf("unopenable chip: %v", err)
	}
}
