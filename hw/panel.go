package hw

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Device is the front panel as the monitor sees it: Panel on GPIO pins,
// or the simulator (hw/sim). hw/pi.Open returns one.
type Device interface {
	// SetState tells the panel the appliance's state; the LED follows.
	SetState(State)
	// Events delivers button events; it is closed after Close.
	Events() <-chan ButtonEvent
	// Close stops the panel, turns the LED off and waits; idempotent.
	Close() error
}

// Presser is implemented by devices whose button can be pressed from
// software (the simulator): the admin socket's pair and reset commands
// call it. The presses go through the same debounce and hold rules as a
// real button, and return before the events arrive on Events.
type Presser interface {
	PressShort()
	PressLong()
}

const (
	// maxWait bounds one WaitForEdge, so Close returns promptly even on a
	// driver whose Halt does not interrupt the wait.
	maxWait = 100 * time.Millisecond
	// pollEvery is the sampling period on pins without edge detection.
	pollEvery = 10 * time.Millisecond
)

// Panel drives an LED and reads a button on periph pins. It starts in the
// booting state. The package doc lists the caller's duties.
type Panel struct {
	led    gpio.PinOut
	button gpio.PinIn
	cfg    Config
	log    *slog.Logger

	events    chan ButtonEvent
	kick      chan struct{} // cap 1: the pattern changed
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	closeErr  error // set by the LED goroutine before it exits

	mu      sync.Mutex
	state   State   // as set by the caller
	armed   bool    // the button reached the long-press threshold and is held
	wipe    bool    // ... and the wipe threshold
	pattern Pattern // PatternFor(state, with armed)
}

// New configures the pins (button: input with the internal pull-up, both
// edges, pressed when low, polled every 10 ms if the driver has no edge
// detection; LED: output, lit when high), samples the button once (a
// button already held is ignored until released), starts the two
// goroutines and returns the panel. log may be nil.
func New(led gpio.PinOut, button gpio.PinIn, cfg Config, log *slog.Logger) (*Panel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	edges := true
	if err := button.In(gpio.PullUp, gpio.BothEdges); err != nil {
		edges = false
		if err2 := button.In(gpio.PullUp, gpio.NoEdge); err2 != nil {
			return nil, fmt.Errorf("hw: cannot use button pin %s as an input with pull-up: %w", button.Name(), err2)
		}
		log.Warn("button pin has no edge detection: polling it", "pin", button.Name(), "every", pollEvery, "err", err)
	}
	if err := led.Out(gpio.Low); err != nil {
		return nil, fmt.Errorf("hw: cannot drive LED pin %s: %w", led.Name(), err)
	}
	p := &Panel{
		led:    led,
		button: button,
		cfg:    cfg.WithDefaults(),
		log:    log,
		events: make(chan ButtonEvent, 4),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		state:  State{Booting: true},
	}
	p.pattern = PatternFor(p.state)
	log.Info("led", "pattern", p.pattern.Name)
	b := NewButton(p.cfg)
	b.Input(button.Read() == gpio.Low, time.Now()) // the level at start
	p.wg.Add(2)
	go p.runLED()
	go p.runButton(b, edges)
	return p, nil
}

// SetState sets the appliance's state; the LED restarts only if the
// pattern changes. Safe for concurrent use.
func (p *Panel) SetState(s State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = s
	p.updateLocked()
}

// Events returns the button events. Drain it: once 4 events wait unread
// the button goroutine blocks until one is read. It is closed after Close.
func (p *Panel) Events() <-chan ButtonEvent { return p.events }

// Pattern returns the LED pattern being shown.
func (p *Panel) Pattern() Pattern {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pattern
}

// Close stops both goroutines, waits for them and turns the LED off. It
// returns the error of turning the LED off, the same on every call.
func (p *Panel) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		_ = p.button.Halt() // interrupts a pending WaitForEdge where supported
		p.wg.Wait()
	})
	return p.closeErr
}

func (p *Panel) setArmed(armed, wipe bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.wipe = armed, wipe
	p.updateLocked()
}

func (p *Panel) updateLocked() {
	s := p.state
	s.ResetArmed = s.ResetArmed || p.armed
	s.WipeArmed = s.WipeArmed || p.wipe
	pat := PatternFor(s)
	if pat.Equal(p.pattern) {
		return
	}
	p.pattern = pat
	p.log.Info("led", "pattern", pat.Name)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// runLED drives the LED pin: it sets the level at every change of the
// current pattern and restarts the pattern when it changes.
func (p *Panel) runLED() {
	defer p.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		pat    Pattern
		start  time.Time
		lit    bool
		failed bool
	)
	set := func(l bool) error {
		err := p.led.Out(gpio.Level(l))
		switch {
		case err != nil && !failed:
			p.log.Warn("cannot set the LED", "pin", p.led.Name(), "err", err)
		case err == nil && failed:
			p.log.Info("LED works again", "pin", p.led.Name())
		}
		failed = err != nil
		lit = l
		return err
	}
	first := true
	for {
		if cur := p.Pattern(); first || !cur.Equal(pat) {
			pat, start = cur, time.Now()
		}
		elapsed := time.Since(start)
		if l := pat.LevelAt(elapsed); first || failed || l != lit {
			_ = set(l)
		}
		first = false
		if next := pat.NextChange(elapsed); next > 0 {
			timer.Reset(next)
		} else {
			timer.Stop()
		}
		select {
		case <-p.done:
			if err := set(false); err != nil {
				p.closeErr = fmt.Errorf("hw: cannot turn the LED off: %w", err)
			}
			return
		case <-p.kick:
		case <-timer.C:
		}
	}
}

// runButton samples the button pin, after each edge or at the machine's
// next deadline, feeds the Button machine and delivers its events.
func (p *Panel) runButton(b *Button, edges bool) {
	defer p.wg.Done()
	defer close(p.events)
	armed := false
	var poll *time.Timer
	if !edges {
		poll = time.NewTimer(pollEvery)
		defer poll.Stop()
	}
	for {
		if edges {
			wait := maxWait
			if t, ok := b.Deadline(); ok {
				wait = min(wait, max(time.Until(t), time.Millisecond))
			}
			p.button.WaitForEdge(wait)
		} else {
			poll.Reset(pollEvery)
			select {
			case <-poll.C:
			case <-p.done:
			}
		}
		select {
		case <-p.done:
			return
		default:
		}
		evs := b.Input(p.button.Read() == gpio.Low, time.Now())
		if slices.Contains(evs, LongPressReached) {
			armed = true
			p.setArmed(true, false)
		}
		if slices.Contains(evs, WipePress) {
			p.setArmed(true, true)
		}
		if armed && !b.Pressed() {
			armed = false
			p.setArmed(false, false)
		}
		for _, ev := range evs {
			p.log.Info("button", "event", ev.String())
			select {
			case p.events <- ev:
			case <-p.done:
				return
			}
		}
	}
}
