package cradledcli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/hw"
)

// parsed returns the configuration Main would run cradled's serve with.
func parsed(t *testing.T, args ...string) (*env, string, int) {
	t.Helper()
	var stderr strings.Builder
	e := &env{stdout: &strings.Builder{}, stderr: &stderr}
	_, _, code := e.parse(args, true)
	return e, stderr.String(), code
}

// TestButtonTimingKeys: debounce and short_max, from the file or their
// flags (which win), reach the hw.Config the monitor opens its panel
// with; values out of range are refused, naming the key.
func TestButtonTimingKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("debounce = \"25ms\"\nshort_max = \"2s\"\nlong_press = \"8s\"\n")
	e, errs, code := parsed(t, "--config", path, "--state-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want := (hw.Config{LEDPin: hw.DefaultLEDPin, ButtonPin: hw.DefaultButtonPin, Debounce: 25 * time.Millisecond, ShortMax: 2 * time.Second, LongPress: 8 * time.Second}); e.cfg.HW != want {
		t.Errorf("hw config %+v, want %+v", e.cfg.HW, want)
	}
	e, errs, code = parsed(t, "--config", path, "--state-dir", dir, "--debounce", "60ms", "--short-max", "1500ms")
	if code != 0 || e.cfg.HW.Debounce != 60*time.Millisecond || e.cfg.HW.ShortMax != 1500*time.Millisecond {
		t.Errorf("flags over the file: exit %d %s, hw %+v", code, errs, e.cfg.HW)
	}

	for _, tt := range []struct{ toml, want string }{
		{`debounce = "600ms"`, "debounce: 600ms is out of range"},
		{`debounce = "-1ms"`, "debounce: -1ms is out of range"},
		{`short_max = "30ms"`, "short_max: 30ms must be longer than debounce"},
		{"debounce = \"400ms\"\nshort_max = \"300ms\"", "short_max: 300ms must be longer than debounce"},
		{`short_max = "12s"`, "long_press: 10s must be longer than short_max (12s)"},
		{`short_max = "soon"`, "not a duration"},
	} {
		write(tt.toml)
		if _, errs, code := parsed(t, "--config", path, "--state-dir", dir); code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming %q", tt.toml, code, errs, tt.want)
		}
	}
	write("")
	if e, errs, code := parsed(t, "--config", path, "--state-dir", dir); code != 0 || e.cfg.HW.Debounce != hw.DefaultDebounce || e.cfg.HW.ShortMax != hw.DefaultShortMax {
		t.Errorf("defaults: exit %d %s, hw %+v", code, errs, e.cfg.HW)
	}
	if _, errs, code := runCLI("--state-dir", dir, "--config", path, "--debounce", "1s", "id"); code != 2 || !strings.Contains(errs, "debounce: 1s is out of range") {
		t.Errorf("--debounce 1s: exit %d %q", code, errs)
	}
}

// TestGPIOChipKeys: gpio_chip with led_line and button_line (from the
// file, or flags, which win) reach the hw.Config; the chip needs both
// offsets (0 is a line: a missing key is an error, not line 0), and no
// pin names beside them.
func TestGPIOChipKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("gpio_chip = \"gpiochip0\"\nled_line = 0\nbutton_line = 27\n")
	e, errs, code := parsed(t, "--config", path, "--state-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if h := e.cfg.HW; h.GPIOChip != "gpiochip0" || h.LEDLine != 0 || h.ButtonLine != 27 {
		t.Errorf("hw config %+v", h)
	}
	e, errs, code = parsed(t, "--config", path, "--state-dir", dir, "--led-line", "22", "--gpio-chip", "pinctrl-bcm2835")
	if h := e.cfg.HW; code != 0 || h.GPIOChip != "pinctrl-bcm2835" || h.LEDLine != 22 || h.ButtonLine != 27 {
		t.Errorf("flags over the file: exit %d %s, hw %+v", code, errs, h)
	}
	// Only flags.
	write("")
	e, errs, code = parsed(t, "--config", path, "--state-dir", dir, "--gpio-chip", "gpiochip1", "--led-line", "5", "--button-line", "6")
	if h := e.cfg.HW; code != 0 || h.GPIOChip != "gpiochip1" || h.LEDLine != 5 || h.ButtonLine != 6 {
		t.Errorf("flags only: exit %d %s, hw %+v", code, errs, h)
	}
	for _, tt := range []struct{ toml, want string }{
		{"gpio_chip = \"gpiochip0\"\nled_line = 17\n", `gpio_chip "gpiochip0": set led_line and button_line too`},
		{"gpio_chip = \"gpiochip0\"\nled_line = 17\nbutton_line = 17\n", "led_line and button_line are both 17"},
		{"gpio_chip = \"gpiochip0\"\nled_line = 17\nbutton_line = -2\n", "line offsets are 0 or more"},
		{"gpio_chip = \"gpiochip0\"\nled_line = 17\nbutton_line = 27\nled_pin = \"GPIO5\"\n", "use one or the other"},
		{"led_line = 17\nbutton_line = 27\n", "set gpio_chip too"},
		{"led_line = \"17\"\n", "led_line"},
	} {
		write(tt.toml)
		if _, errs, code := parsed(t, "--config", path, "--state-dir", dir); code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming %q", tt.toml, code, errs, tt.want)
		}
	}
}
