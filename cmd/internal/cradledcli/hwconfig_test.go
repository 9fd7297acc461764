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
