package sim_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/hw/sim"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func next(t *testing.T, d hw.Device) hw.ButtonEvent {
	t.Helper()
	select {
	case ev := <-d.Events():
		return ev
	case <-time.After(time.Minute):
		t.Fatal("no button event")
		return 0
	}
}

func TestSimPresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := sim.New(hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := time.Now()
		s.PressShort()
		if ev := next(t, s); ev != hw.ShortPress {
			t.Fatalf("PressShort: %v", ev)
		}
		if el := time.Since(start); el != sim.ShortHold+hw.DefaultDebounce {
			t.Errorf("ShortPress after %v", el)
		}
		time.Sleep(time.Second)

		start = time.Now()
		s.PressLong()
		if ev := next(t, s); ev != hw.LongPressReached {
			t.Fatalf("PressLong: %v", ev)
		}
		if el := time.Since(start); el != hw.DefaultLongPress {
			t.Errorf("LongPressReached after %v, want %v", el, hw.DefaultLongPress)
		}
		if ev := next(t, s); ev != hw.LongPress {
			t.Fatalf("PressLong: %v", ev)
		}
		synctest.Wait()
		if got := s.Pattern().Name; got != "reset" {
			t.Errorf("pattern %q while the long press is held", got)
		}

		// Queued presses run one after the other.
		s.PressShort()
		s.PressShort()
		for range 2 {
			if ev := next(t, s); ev != hw.ShortPress {
				t.Fatalf("queued press: %v", ev)
			}
		}
	})
}

// TestSimTimings: the simulated presses still count with a debounce
// longer than ShortHold and a short short_max.
func TestSimTimings(t *testing.T) {
	for _, cfg := range []hw.Config{
		{Debounce: 300 * time.Millisecond},
		{Debounce: 10 * time.Millisecond, ShortMax: 150 * time.Millisecond},
		{Debounce: 500 * time.Millisecond, ShortMax: 600 * time.Millisecond, LongPress: 2 * time.Second},
		{Debounce: 500 * time.Millisecond, ShortMax: 9 * time.Second},
	} {
		synctest.Test(t, func(t *testing.T) {
			s, err := sim.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			s.PressShort()
			if ev := next(t, s); ev != hw.ShortPress {
				t.Fatalf("%+v: PressShort gave %v", cfg, ev)
			}
			if el := time.Since(start); el > 2*time.Second { // cradled pair waits 3 s for it
				t.Errorf("%+v: ShortPress after %v", cfg, el)
			}
			s.PressShort()
			if ev := next(t, s); ev != hw.ShortPress {
				t.Fatalf("%+v: a second PressShort gave %v", cfg, ev)
			}
			s.PressLong()
			if ev := next(t, s); ev != hw.LongPressReached {
				t.Fatalf("%+v: PressLong gave %v", cfg, ev)
			}
			next(t, s)
		})
	}
}

func TestSimLED(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := sim.New(hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.SetState(hw.State{Streaming: 1})
		synctest.Wait()
		if !s.LED() {
			t.Error("LED dark while streaming")
		}
		s.SetState(hw.State{PairingOpen: true})
		time.Sleep(700 * time.Millisecond)
		synctest.Wait()
		if s.LED() {
			t.Error("LED lit 700 ms into the pairing pattern")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.LED() {
			t.Error("LED lit after Close")
		}
	})
}

// TestSimCloseWithUndrainedEvents: Close returns even when presses are
// queued and nobody reads Events.
func TestSimCloseWithUndrainedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := sim.New(hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			s.PressShort()
		}
		time.Sleep(time.Minute)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s.PressShort() // after Close: a no-op
	})
}

func TestSimBadConfig(t *testing.T) {
	if _, err := sim.New(hw.Config{ShortMax: time.Hour}, nil); err == nil {
		t.Fatal("sim.New accepted short_max above long_press")
	}
}
