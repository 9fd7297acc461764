package hw_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cradle-monitor/cradle/hw"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// pins returns fake LED and button pins; the button starts released (the
// Panel sets the pull-up, which reads high).
func pins() (led, button *gpiotest.Pin) {
	return &gpiotest.Pin{N: "GPIO17", Num: 17}, &gpiotest.Pin{N: "GPIO27", Num: 27, EdgesChan: make(chan gpio.Level)}
}

func lit(p *gpiotest.Pin) bool {
	p.Lock()
	defer p.Unlock()
	return p.L == gpio.High
}

// next waits for one button event, failing after a (virtual) minute.
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

// noEvent checks that no event is waiting once the bubble is idle.
func noEvent(t *testing.T, d hw.Device) {
	t.Helper()
	synctest.Wait()
	select {
	case ev := <-d.Events():
		t.Fatalf("unexpected event %v", ev)
	default:
	}
}

// checkFollows samples the LED pin over two periods of p (started now) and
// compares it with p.LevelAt, 1 ms after each 50 ms step.
func checkFollows(t *testing.T, led *gpiotest.Pin, p hw.Pattern) {
	t.Helper()
	start := time.Now()
	for range 2 * int(p.Period()/(50*time.Millisecond)) {
		time.Sleep(time.Millisecond)
		synctest.Wait()
		el := time.Since(start)
		if got, want := lit(led), p.LevelAt(el); got != want {
			t.Fatalf("LED at %v into %s: lit=%t, want %t", el, p, got, want)
		}
		time.Sleep(49 * time.Millisecond)
	}
}

// TestPanelShortPressAndPairingLED is the integration test: a press pushed as
// edges through the real button goroutine emits ShortPress, and after
// SetState(PairingOpen) the LED pin follows the pairing pattern.
func TestPanelShortPressAndPairingLED(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		p, err := hw.New(led, button, hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if button.P != gpio.PullUp {
			t.Errorf("button pull = %v, want the internal pull-up", button.P)
		}
		if got := p.Pattern().Name; got != "booting" {
			t.Errorf("initial pattern %q, want booting", got)
		}
		checkFollows(t, led, hw.PatternBooting)
		p.SetState(hw.State{})

		button.EdgesChan <- gpio.Low
		time.Sleep(150 * time.Millisecond)
		button.EdgesChan <- gpio.High
		if ev := next(t, p); ev != hw.ShortPress {
			t.Fatalf("event %v, want ShortPress", ev)
		}
		noEvent(t, p)

		p.SetState(hw.State{PairingOpen: true})
		checkFollows(t, led, hw.PatternPairing)
		p.SetState(hw.State{PairingOpen: true}) // same pattern: no restart
		checkFollowsFrom(t, led, hw.PatternPairing, 2*hw.PatternPairing.Period())

		p.SetState(hw.State{Streaming: 1})
		synctest.Wait()
		if !lit(led) {
			t.Error("LED dark while streaming")
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if lit(led) {
			t.Error("LED lit after Close")
		}
		if _, ok := <-p.Events(); ok {
			t.Error("Events not closed after Close")
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// checkFollowsFrom is checkFollows for a pattern that began offset ago.
func checkFollowsFrom(t *testing.T, led *gpiotest.Pin, p hw.Pattern, offset time.Duration) {
	t.Helper()
	start := time.Now().Add(-offset)
	for range 10 {
		time.Sleep(time.Millisecond)
		synctest.Wait()
		el := time.Since(start)
		if got, want := lit(led), p.LevelAt(el); got != want {
			t.Fatalf("LED at %v into %s: lit=%t, want %t", el, p, got, want)
		}
		time.Sleep(99 * time.Millisecond)
	}
}

func TestPanelBouncesMakeOnePress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		p, err := hw.New(led, button, hw.Config{Debounce: 30 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
			button.EdgesChan <- l
			time.Sleep(3 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High} {
			button.EdgesChan <- l
			time.Sleep(5 * time.Millisecond)
		}
		if ev := next(t, p); ev != hw.ShortPress {
			t.Fatalf("event %v, want ShortPress", ev)
		}
		time.Sleep(time.Second)
		noEvent(t, p)
	})
}

// TestPanelLongPress holds the button for 10 s of virtual time: both
// long-press events arrive at the threshold while held, the LED shows the
// reset pattern by itself until the release, and the release adds nothing.
func TestPanelLongPress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		p, err := hw.New(led, button, hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetState(hw.State{Streaming: 1})
		start := time.Now()
		button.EdgesChan <- gpio.Low
		time.Sleep(9 * time.Second)
		noEvent(t, p)
		if got := p.Pattern().Name; got != "streaming" {
			t.Fatalf("pattern %q before the threshold", got)
		}
		if ev := next(t, p); ev != hw.LongPressReached {
			t.Fatalf("event %v, want LongPressReached", ev)
		}
		if el := time.Since(start); el != hw.DefaultLongPress {
			t.Errorf("LongPressReached after %v, want %v", el, hw.DefaultLongPress)
		}
		if ev := next(t, p); ev != hw.LongPress {
			t.Fatalf("event %v, want LongPress", ev)
		}
		synctest.Wait()
		if got := p.Pattern().Name; got != "reset" {
			t.Fatalf("pattern %q at the threshold, want reset", got)
		}
		checkFollows(t, led, hw.PatternResetArmed)
		button.EdgesChan <- gpio.High
		time.Sleep(time.Second)
		noEvent(t, p)
		if got := p.Pattern().Name; got != "streaming" {
			t.Fatalf("pattern %q after the release, want streaming again", got)
		}
		p.SetState(hw.State{ResetArmed: true}) // the caller keeps it while resetting
		synctest.Wait()
		if got := p.Pattern().Name; got != "reset" {
			t.Fatalf("pattern %q with ResetArmed, want reset", got)
		}
	})
}

// TestPanelWipeHold holds the button for 30 s of virtual time: the reset
// at 10 s, the wipe at 30 s with its own pattern, nothing more until the
// release.
func TestPanelWipeHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		p, err := hw.New(led, button, hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		start := time.Now()
		button.EdgesChan <- gpio.Low
		for _, want := range []hw.ButtonEvent{hw.LongPressReached, hw.LongPress} {
			if ev := next(t, p); ev != want {
				t.Fatalf("event %v, want %v", ev, want)
			}
		}
		time.Sleep(19 * time.Second)
		noEvent(t, p)
		if ev := next(t, p); ev != hw.WipePress {
			t.Fatalf("event %v, want WipePress", ev)
		}
		if el := time.Since(start); el != hw.DefaultWipeHold {
			t.Errorf("WipePress after %v, want %v", el, hw.DefaultWipeHold)
		}
		synctest.Wait()
		if got := p.Pattern().Name; got != "wipe" {
			t.Fatalf("pattern %q at the wipe threshold, want wipe", got)
		}
		checkFollows(t, led, hw.PatternWipe)
		time.Sleep(time.Minute)
		noEvent(t, p)
		button.EdgesChan <- gpio.High
		time.Sleep(time.Second)
		noEvent(t, p)
	})
}

func TestPanelReleaseBeforeThresholdCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		p, err := hw.New(led, button, hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		button.EdgesChan <- gpio.Low
		time.Sleep(9900 * time.Millisecond)
		button.EdgesChan <- gpio.High
		time.Sleep(time.Minute)
		noEvent(t, p)
	})
}

func TestPanelButtonHeldAtStartIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		stuck := &stuckPin{Pin: button}
		p, err := hw.New(led, stuck, hw.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		time.Sleep(time.Minute)
		noEvent(t, p)
		button.EdgesChan <- gpio.High // freed
		time.Sleep(time.Second)
		noEvent(t, p)
		button.EdgesChan <- gpio.Low
		time.Sleep(100 * time.Millisecond)
		button.EdgesChan <- gpio.High
		if ev := next(t, p); ev != hw.ShortPress {
			t.Fatalf("event %v, want ShortPress", ev)
		}
	})
}

// stuckPin reads low (pressed) right after In, as a held button does.
type stuckPin struct{ *gpiotest.Pin }

func (s *stuckPin) In(pull gpio.Pull, edge gpio.Edge) error {
	err := s.Pin.In(pull, edge)
	_ = s.Pin.Out(gpio.Low)
	return err
}

// pollPin has no edge detection, like some sysfs pins: the Panel polls it.
type pollPin struct{ *gpiotest.Pin }

func (p *pollPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("edge detection not supported")
	}
	return p.Pin.In(pull, edge)
}

func (p *pollPin) WaitForEdge(time.Duration) bool { panic("WaitForEdge on a polled pin") }

func TestPanelPollsWithoutEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		logs := &records{}
		p, err := hw.New(led, &pollPin{button}, hw.Config{}, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if !logs.has("button pin has no edge detection") {
			t.Error("no warning about polling")
		}
		for _, l := range []gpio.Level{gpio.Low, gpio.High} {
			_ = button.Out(l)
			time.Sleep(200 * time.Millisecond)
		}
		if ev := next(t, p); ev != hw.ShortPress {
			t.Fatalf("event %v, want ShortPress", ev)
		}
	})
}

// TestPanelLogsPatternChangesOnly checks one info line per pattern change,
// none per blink.
func TestPanelLogsPatternChangesOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		logs := &records{}
		p, err := hw.New(led, button, hw.Config{}, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SetState(hw.State{PairingOpen: true})
		time.Sleep(10 * time.Second)
		p.SetState(hw.State{PairingOpen: true, Streaming: 2})
		p.SetState(hw.State{Streaming: 1})
		time.Sleep(10 * time.Second)
		if got, want := logs.patterns(), "booting pairing streaming"; got != want {
			t.Errorf("logged patterns %q, want %q", got, want)
		}
	})
}

type failPin struct{ *gpiotest.Pin }

func (failPin) Out(gpio.Level) error { return errors.New("broken") }

func TestPanelErrors(t *testing.T) {
	led, button := pins()
	if _, err := hw.New(failPin{led}, button, hw.Config{}, nil); err == nil || !strings.Contains(err.Error(), "LED pin") {
		t.Errorf("New with a broken LED pin: %v", err)
	}
	if _, err := hw.New(led, button, hw.Config{LEDPin: "X", ButtonPin: "X"}, nil); !errors.Is(err, hw.ErrConfig) {
		t.Errorf("New with a bad config: %v", err)
	}
	// gpiotest refuses edge detection without EdgesChan: the Panel polls.
	p, err := hw.New(led, &gpiotest.Pin{N: "no-edges"}, hw.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// records is a slog.Handler that keeps every record.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec)
	return nil
}

func (r *records) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.all {
		if strings.Contains(rec.Message, msg) {
			return true
		}
	}
	return false
}

// patterns returns the patterns of the "led" lines, space-separated.
func (r *records) patterns() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, rec := range r.all {
		if rec.Message != "led" {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "pattern" {
				names = append(names, a.Value.String())
			}
			return true
		})
	}
	return strings.Join(names, " ")
}

// flakyPin fails every Out while broken is set.
type flakyPin struct {
	*gpiotest.Pin
	mu     sync.Mutex
	broken bool
}

func (f *flakyPin) Out(l gpio.Level) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken {
		return errors.New("broken")
	}
	return f.Pin.Out(l)
}

func (f *flakyPin) set(broken bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken = broken
}

// TestPanelLEDFailureLoggedOnce: a failing LED pin is reported once, not at
// every blink, and its recovery once.
func TestPanelLEDFailureLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		led, button := pins()
		flaky := &flakyPin{Pin: led}
		logs := &records{}
		p, err := hw.New(flaky, button, hw.Config{}, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		flaky.set(true)
		time.Sleep(10 * time.Second) // 80 blinks of the booting pattern
		flaky.set(false)
		time.Sleep(time.Second)
		if n := logs.count("cannot set the LED"); n != 1 {
			t.Errorf("%d warnings about the LED, want 1", n)
		}
		if n := logs.count("LED works again"); n != 1 {
			t.Errorf("%d recovery lines, want 1", n)
		}
		flaky.set(true)
		if err := p.Close(); err == nil {
			t.Error("Close hid the failure to turn the LED off")
		}
	})
}

func (r *records) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.all {
		if rec.Message == msg {
			n++
		}
	}
	return n
}
