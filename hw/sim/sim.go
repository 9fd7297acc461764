// Package sim is the front panel without hardware: an hw.Panel on fake
// periph pins (gpiotest.Pin), whose button is pressed from software. The
// monitor uses it with --hw sim, and with --hw auto on a machine without
// GPIO; the admin socket's pair and reset commands call PressShort and
// PressLong. LED pattern changes are logged at info (the Panel logs them,
// once per change, not every blink).
package sim

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/hw"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Hold times of the simulated presses. PressShort holds ShortHold, or
// with timings that make that no short press, the debounce plus ShortHold
// or half the way to short_max, whichever is shorter. PressLong holds past the threshold by LongMargin, so the
// factory reset happens cfg.LongPress after the call, as it does for a
// parent's finger.
const (
	ShortHold  = 200 * time.Millisecond
	LongMargin = 500 * time.Millisecond
	// gap separates queued presses so the machine sees each release.
	gap = 300 * time.Millisecond
)

// Sim is a simulated front panel. It implements hw.Device and hw.Presser.
type Sim struct {
	*hw.Panel
	led, button *gpiotest.Pin
	shortHold   time.Duration
	longHold    time.Duration
	gap         time.Duration // between presses: a release must count too
	log         *slog.Logger

	presses   chan time.Duration
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var (
	_ hw.Device  = (*Sim)(nil)
	_ hw.Presser = (*Sim)(nil)
)

// New starts a simulated panel with cfg's timings (its pin names only
// label the fake pins). log may be nil. Close stops it.
func New(cfg hw.Config, log *slog.Logger) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sim{
		led:       &gpiotest.Pin{N: cfg.LEDPin + "(sim)", Num: -1},
		button:    &gpiotest.Pin{N: cfg.ButtonPin + "(sim)", Num: -1, EdgesChan: make(chan gpio.Level)},
		shortHold: ShortHold,
		longHold:  cfg.LongPress + LongMargin,
		gap:       max(gap, 2*cfg.Debounce),
		log:       log,
		presses:   make(chan time.Duration, 4),
		done:      make(chan struct{}),
	}
	if cfg.Debounce >= ShortHold/2 || ShortHold >= cfg.ShortMax {
		s.shortHold = cfg.Debounce + min(ShortHold, (cfg.ShortMax-cfg.Debounce)/2)
	}
	p, err := hw.New(s.led, s.button, cfg, log)
	if err != nil {
		return nil, err
	}
	s.Panel = p
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// PressShort presses the button briefly (ShortHold with the default
// timings): a ShortPress follows on Events. It does not wait for it.
func (s *Sim) PressShort() { s.press(s.shortHold) }

// PressLong holds the button past the long-press threshold:
// LongPressReached and LongPress follow on Events cfg.LongPress after the
// call. It does not wait for them.
func (s *Sim) PressLong() { s.press(s.longHold) }

// LED reports whether the simulated LED is lit now.
func (s *Sim) LED() bool {
	s.led.Lock()
	defer s.led.Unlock()
	return bool(s.led.L)
}

// Close stops the simulated presses and the panel, and waits; idempotent.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
	})
	return s.Panel.Close()
}

// press queues a press; presses run one after the other. A press asked
// for while four are queued is dropped with a warning.
func (s *Sim) press(hold time.Duration) {
	select {
	case <-s.done:
		return // closed
	default:
	}
	select {
	case s.presses <- hold:
	default:
		s.log.Warn("simulated button busy: press dropped", "hold", hold)
	}
}

// run plays the queued presses as edges on the fake button pin (low =
// pressed), which the Panel's button goroutine reads like a real one.
func (s *Sim) run() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case hold := <-s.presses:
			if !s.push(gpio.Low) || !s.sleep(hold) || !s.push(gpio.High) || !s.sleep(s.gap) {
				return
			}
		}
	}
}

func (s *Sim) push(l gpio.Level) bool {
	select {
	case s.button.EdgesChan <- l:
		return true
	case <-s.done:
		return false
	}
}

func (s *Sim) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}
