package hw_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/hw"
)

// step is one input to the Button machine at a time in ms from t0: a
// sampled level ("down", "up") or a "tick"; want is the events it returns.
type step struct {
	at   int
	in   string
	want []hw.ButtonEvent
}

var (
	short = []hw.ButtonEvent{hw.ShortPress}
	long  = []hw.ButtonEvent{hw.LongPressReached, hw.LongPress}
)

func TestButtonScripts(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"short press", []step{
			{0, "up", nil}, {1000, "down", nil}, {1039, "tick", nil}, {1040, "tick", nil},
			{1500, "up", nil}, {1539, "tick", nil}, {1540, "tick", short},
		}},
		{"bounces within debounce make one press", []step{
			{0, "up", nil}, {100, "down", nil}, {103, "up", nil}, {105, "down", nil}, {109, "up", nil},
			{112, "down", nil}, {152, "tick", nil}, // committed: pressed since 112
			{400, "up", nil}, {404, "down", nil}, {407, "up", nil}, {430, "down", nil}, {440, "up", nil},
			{479, "tick", nil}, {480, "tick", short}, {2000, "tick", nil},
		}},
		{"glitch shorter than debounce is no press", []step{
			{0, "up", nil}, {100, "down", nil}, {130, "up", nil}, {200, "tick", nil}, {5000, "tick", nil},
		}},
		{"released just before ShortMax is short", []step{
			{0, "up", nil}, {1000, "down", nil}, {3999, "up", nil}, {4039, "tick", short},
		}},
		{"released between ShortMax and LongPress is ignored", []step{
			{0, "up", nil}, {1000, "down", nil}, {4000, "up", nil}, {4040, "tick", nil},
			{8000, "down", nil}, {17000, "up", nil}, {17040, "tick", nil}, {30000, "tick", nil},
		}},
		{"long press fires at the threshold while held, nothing on release", []step{
			{0, "up", nil}, {1000, "down", nil}, {1040, "tick", nil}, {10999, "tick", nil},
			{11000, "tick", long}, {11001, "tick", nil}, {15000, "up", nil}, {15040, "tick", nil},
		}},
		{"release pending debounce across the threshold cancels", []step{
			{0, "up", nil}, {1000, "down", nil}, {10990, "up", nil}, {11000, "tick", nil}, {11030, "tick", nil},
			{11100, "tick", nil},
		}},
		{"glitch while held does not restart the hold", []step{
			{0, "up", nil}, {1000, "down", nil}, {6000, "up", nil}, {6010, "down", nil},
			{10999, "tick", nil}, {11000, "tick", long},
		}},
		{"lagging ticks still see a hold through the threshold", []step{
			{0, "up", nil}, {1000, "down", nil}, {12000, "up", long}, {12040, "tick", nil},
		}},
		{"held at start is ignored until released once", []step{
			{0, "down", nil}, {10000, "tick", nil}, {20000, "tick", nil}, {21000, "up", nil}, {21040, "tick", nil},
			{22000, "down", nil}, {22100, "up", nil}, {22140, "tick", short},
		}},
		{"second press after a long one", []step{
			{0, "up", nil}, {0, "down", nil}, {10000, "tick", long}, {10500, "up", nil}, {10540, "tick", nil},
			{11000, "down", nil}, {11200, "up", nil}, {11240, "tick", short},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := hw.NewButton(hw.Config{})
			t0 := time.Unix(1000, 0)
			last := t0
			for i, s := range tt.steps {
				now := t0.Add(time.Duration(s.at) * time.Millisecond)
				if now.Before(last) {
					t.Fatalf("step %d goes back in time", i)
				}
				last = now
				var got []hw.ButtonEvent
				switch s.in {
				case "down", "up":
					got = b.Input(s.in == "down", now)
				case "tick":
					got = b.Tick(now)
				}
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%s at %d ms): got %v, want %v", i, s.in, s.at, got, s.want)
				}
			}
		})
	}
}

func TestButtonDeadline(t *testing.T) {
	b := hw.NewButton(hw.Config{})
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	check := func(want time.Time, wantOK bool) {
		t.Helper()
		got, ok := b.Deadline()
		if ok != wantOK || (ok && !got.Equal(want)) {
			t.Fatalf("Deadline() = %v, %t; want %v, %t", got, ok, want, wantOK)
		}
	}
	check(time.Time{}, false)
	b.Input(false, at(0))
	check(time.Time{}, false)
	b.Input(true, at(100))
	check(at(140), true) // end of debounce
	b.Tick(at(140))
	check(at(10100), true) // long-press threshold
	b.Input(false, at(5000))
	check(at(5040), true) // a pending release: no threshold until it settles
	b.Input(true, at(5010))
	check(at(10100), true)
	b.Tick(at(10100))
	check(at(30100), true) // reached: the wipe threshold next
	b.Input(false, at(20000))
	check(at(20040), true) // a release before it: only the release
	b.Tick(at(20040))
	check(time.Time{}, false)
	b.Input(true, at(21000))
	b.Tick(at(21040))
	b.Tick(at(31000))
	b.Tick(at(51000))
	check(time.Time{}, false) // wiped: only a release matters now
	if !b.Pressed() {
		t.Fatal("Pressed() = false while held")
	}
}

func TestButtonEventString(t *testing.T) {
	for ev, want := range map[hw.ButtonEvent]string{
		hw.ShortPress: "short-press", hw.LongPressReached: "long-press-reached", hw.LongPress: "long-press", hw.WipePress: "wipe-press", 0: "button-event(?)",
	} {
		if got := ev.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(ev), got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  hw.Config
		ok   bool
	}{
		{"defaults", hw.Config{}, true},
		{"custom", hw.Config{LEDPin: "GPIO5", ButtonPin: "GPIO6", Debounce: 30 * time.Millisecond, ShortMax: time.Second, LongPress: 5 * time.Second}, true},
		{"same pin", hw.Config{LEDPin: "GPIO27"}, false},
		{"chip and lines", hw.Config{GPIOChip: "gpiochip0", LEDLine: 17, ButtonLine: 27}, true},
		{"chip, line 0", hw.Config{GPIOChip: "gpiochip0", LEDLine: 0, ButtonLine: 3}, true},
		{"chip ignores the pin names", hw.Config{GPIOChip: "gpiochip0", LEDPin: "GPIO27", LEDLine: 1, ButtonLine: 2}, true},
		{"same line", hw.Config{GPIOChip: "gpiochip0", LEDLine: 4, ButtonLine: 4}, false},
		{"negative line", hw.Config{GPIOChip: "gpiochip0", LEDLine: -1, ButtonLine: 4}, false},
		{"lines without a chip", hw.Config{LEDLine: 17, ButtonLine: 27}, false},
		{"debounce too long", hw.Config{Debounce: time.Second}, false},
		{"negative debounce", hw.Config{Debounce: -time.Millisecond}, false},
		{"long not above short", hw.Config{ShortMax: 10 * time.Second}, false},
		{"wipe too close to the reset", hw.Config{LongPress: 10 * time.Second, WipeHold: 12 * time.Second}, false},
		{"wipe follows a longer reset hold", hw.Config{LongPress: 15 * time.Second}, true},
		{"short not above debounce", hw.Config{Debounce: 50 * time.Millisecond, ShortMax: 50 * time.Millisecond}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%t", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, hw.ErrConfig) {
			t.Errorf("%s: %v does not wrap ErrConfig", tt.name, err)
		}
	}
}
