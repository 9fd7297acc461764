package hw

import "time"

// ButtonEvent is what a press of the button means.
type ButtonEvent int

// Button events; the package doc has the rules.
const (
	// ShortPress: released before Config.ShortMax. Opens the pairing window.
	ShortPress ButtonEvent = iota + 1
	// LongPressReached: held for Config.LongPress, still held. The LED
	// shows the reset pattern from now on.
	LongPressReached
	// LongPress: forget the listeners (the factory reset). Emitted right
	// after LongPressReached, at the threshold, while the button is still
	// held.
	LongPress
	// WipePress: held on to Config.WipeHold, still held: wipe the monitor
	// for giving it away. It follows LongPress (the listeners are already
	// forgotten); the LED shows the wipe pattern from now on.
	WipePress
)

// String returns the event's name.
func (e ButtonEvent) String() string {
	switch e {
	case ShortPress:
		return "short-press"
	case LongPressReached:
		return "long-press-reached"
	case LongPress:
		return "long-press"
	case WipePress:
		return "wipe-press"
	}
	return "button-event(?)"
}

// Button is the button's pure state machine: it takes sampled levels and
// the time, and returns events. It never reads a clock; the caller calls
// Tick at Deadline (or later) so thresholds fire without a new edge. Not
// safe for concurrent use.
type Button struct {
	debounce, shortMax, long, wipe time.Duration

	started  bool
	raw      bool      // last sampled level, true = pressed
	rawSince time.Time // when raw last changed
	pressed  bool      // debounced level
	downAt   time.Time // when the current debounced press began
	ignore   bool      // the current press was held at start: no events
	reached  bool      // LongPress emitted for the current press
	wiped    bool      // WipePress emitted for the current press
}

// NewButton returns a machine with cfg's timings (zero fields take the
// defaults). The first Input sets the initial level without an event.
func NewButton(cfg Config) *Button {
	cfg = cfg.WithDefaults()
	return &Button{debounce: cfg.Debounce, shortMax: cfg.ShortMax, long: cfg.LongPress, wipe: cfg.WipeHold}
}

// Input records the level sampled at now (true = pressed) and returns the
// events due at now. Times must not go backwards.
func (b *Button) Input(pressed bool, now time.Time) []ButtonEvent {
	if !b.started {
		b.started = true
		b.raw, b.rawSince, b.pressed = pressed, now, pressed
		b.downAt, b.ignore = now, pressed
		return nil
	}
	// The previous level held until now: settle it first, so a press
	// whose samples came without ticks in between still counts.
	evs := b.Tick(now)
	if pressed != b.raw {
		b.raw, b.rawSince = pressed, now
	}
	return append(evs, b.Tick(now)...)
}

// Tick returns the events due at now with no new sample.
func (b *Button) Tick(now time.Time) []ButtonEvent {
	if !b.started {
		return nil
	}
	evs := b.checkLong(now, nil)
	if b.raw != b.pressed && now.Sub(b.rawSince) >= b.debounce {
		b.pressed = b.raw
		if b.pressed {
			b.downAt, b.reached, b.wiped = b.rawSince, false, false
		} else {
			held := b.rawSince.Sub(b.downAt)
			if !b.ignore && !b.reached && held < b.shortMax {
				evs = append(evs, ShortPress)
			}
			b.ignore = false
		}
		evs = b.checkLong(now, evs)
	}
	return evs
}

// checkLong appends the long-press events if the press was held through
// a threshold: still pressed, or a pending (not yet debounced) release
// that began after the threshold.
func (b *Button) checkLong(now time.Time, evs []ButtonEvent) []ButtonEvent {
	if !b.pressed || b.ignore {
		return evs
	}
	heldTo := func(at time.Time) bool { return !now.Before(at) && (b.raw || !b.rawSince.Before(at)) }
	if !b.reached && heldTo(b.downAt.Add(b.long)) {
		b.reached = true
		evs = append(evs, LongPressReached, LongPress)
	}
	if b.reached && !b.wiped && heldTo(b.downAt.Add(b.wipe)) {
		b.wiped = true
		evs = append(evs, WipePress)
	}
	return evs
}

// Pressed reports the debounced level.
func (b *Button) Pressed() bool { return b.pressed }

// Deadline returns when the machine next needs a Tick: the end of a
// debounce, or the long-press threshold. ok is false when only a new
// level can change anything.
func (b *Button) Deadline() (t time.Time, ok bool) {
	if !b.started {
		return time.Time{}, false
	}
	if b.raw != b.pressed {
		t, ok = b.rawSince.Add(b.debounce), true
	}
	if b.pressed && b.raw && !b.ignore && !b.wiped {
		at := b.downAt.Add(b.long)
		if b.reached {
			at = b.downAt.Add(b.wipe)
		}
		if !ok || at.Before(t) {
			t, ok = at, true
		}
	}
	return t, ok
}
