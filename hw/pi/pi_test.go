package pi_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/hw/pi"
	"github.com/cradle-monitor/cradle/hw/sim"
	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// skipOnGPIO skips tests that expect a machine without GPIO.
func skipOnGPIO(t *testing.T) {
	t.Helper()
	if _, err := host.Init(); err == nil && gpioreg.ByName(hw.DefaultLEDPin) != nil {
		t.Skip("this machine has GPIO")
	}
}

func TestOpenSim(t *testing.T) {
	d, err := pi.Open(pi.ModeSim, hw.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(hw.Presser); !ok {
		t.Errorf("%T is not a Presser", d)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenAutoFallsBackWithOneLine(t *testing.T) {
	skipOnGPIO(t)
	for _, mode := range []string{pi.ModeAuto, ""} {
		logs := &records{}
		d, err := pi.Open(mode, hw.Config{}, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.(*sim.Sim); !ok {
			t.Errorf("auto without GPIO gave %T, want *sim.Sim", d)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		var about []string
		for _, m := range logs.messages() {
			if strings.Contains(m, "GPIO") {
				about = append(about, m)
			}
		}
		if len(about) != 1 || !strings.Contains(about[0], "simulated") {
			t.Errorf("mode %q logged %q, want one line about the simulator", mode, about)
		}
	}
}

func TestOpenPiWithoutGPIOFails(t *testing.T) {
	skipOnGPIO(t)
	d, err := pi.Open(pi.ModePi, hw.Config{}, nil)
	if !errors.Is(err, pi.ErrNoGPIO) {
		if d != nil {
			d.Close()
		}
		t.Fatalf("Open(pi) = %v, want ErrNoGPIO", err)
	}
	if !strings.Contains(err.Error(), "GPIO17") || !strings.Contains(err.Error(), "--hw sim") {
		t.Errorf("error does not name the pin and the way out: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	if _, err := pi.Open("gpio", hw.Config{}, nil); !errors.Is(err, pi.ErrMode) {
		t.Errorf("unknown mode: %v", err)
	}
	if _, err := pi.Open(pi.ModeSim, hw.Config{LEDPin: "GPIO4", ButtonPin: "GPIO4"}, nil); !errors.Is(err, hw.ErrConfig) {
		t.Errorf("bad config: %v", err)
	}
}

type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

func (r *records) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}
