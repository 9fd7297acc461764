package hw

import (
	"slices"
	"strconv"
	"time"
)

// Pattern is a repeating LED timing sequence.
type Pattern struct {
	Name   string          // for logs and tests: "ready", "error:store", ...
	Steady bool            // the level (true = lit) when Cycle is empty
	Cycle  []time.Duration // lit, dark, lit, dark, ... repeated; no negative durations
}

// The patterns PatternFor returns, apart from the error ones (ErrorPattern).
// They differ in rhythm, not only in speed, so that a parent tells them
// apart at a glance.
var (
	// PatternBooting: quick 4 Hz blinking while the monitor starts.
	PatternBooting = Pattern{Name: "booting", Cycle: ms(125, 125)}
	// PatternReady: a short blip every 3 s; alive, nobody listening. Dim
	// on purpose: the LED sits in a sleeping baby's room.
	PatternReady = Pattern{Name: "ready", Cycle: ms(100, 2900)}
	// PatternStreaming: steadily lit while at least one listener receives
	// audio or video, like a camera's recording light.
	PatternStreaming = Pattern{Name: "streaming", Steady: true}
	// PatternPairing: even 1 Hz blinking while the pairing window is open.
	PatternPairing = Pattern{Name: "pairing", Cycle: ms(500, 500)}
	// PatternResetArmed: 10 Hz flicker; the factory reset is acknowledged.
	PatternResetArmed = Pattern{Name: "reset", Cycle: ms(50, 50)}
	// PatternWipe: lit, with a short dark gap every second; the wipe is
	// acknowledged (after the reset's flicker, so a parent who holds on
	// sees the change).
	PatternWipe = Pattern{Name: "wipe", Cycle: ms(900, 100)}
	// PatternOff: dark.
	PatternOff = Pattern{Name: "off"}
)

// ErrorPattern returns the blink code for fault code n (Fault.Code): n
// blinks of 200 ms, 300 ms apart, then 1.8 s dark.
func ErrorPattern(code int) Pattern {
	code = max(code, 1)
	p := Pattern{Name: "error:" + strconv.Itoa(code)}
	for range code {
		p.Cycle = append(p.Cycle, ms(200, 300)...)
	}
	p.Cycle[len(p.Cycle)-1] = 1800 * time.Millisecond
	return p
}

// PatternFor returns the LED pattern for s. Priority, highest first: wipe
// armed > reset armed > error > pairing window open > booting > streaming > ready.
func PatternFor(s State) Pattern {
	switch {
	case s.WipeArmed:
		return PatternWipe
	case s.ResetArmed:
		return PatternResetArmed
	case s.Faults != 0:
		p := ErrorPattern(s.Faults.Code())
		p.Name = "error:" + (s.Faults & -s.Faults).String()
		return p
	case s.PairingOpen:
		return PatternPairing
	case s.Booting:
		return PatternBooting
	case s.Streaming > 0:
		return PatternStreaming
	default:
		return PatternReady
	}
}

// String returns the pattern's name.
func (p Pattern) String() string { return p.Name }

// Equal reports whether p and q are the same pattern.
func (p Pattern) Equal(q Pattern) bool {
	return p.Name == q.Name && p.Steady == q.Steady && slices.Equal(p.Cycle, q.Cycle)
}

// Period returns the length of one cycle (0 for a steady pattern).
func (p Pattern) Period() time.Duration {
	var d time.Duration
	for _, c := range p.Cycle {
		d += c
	}
	return d
}

// LevelAt reports whether the LED is lit elapsed after the pattern began.
func (p Pattern) LevelAt(elapsed time.Duration) bool {
	if p.Period() <= 0 {
		return p.Steady
	}
	i, _ := p.phase(elapsed)
	return i%2 == 0
}

// NextChange returns how long after elapsed the level next changes, or 0
// if it never does.
func (p Pattern) NextChange(elapsed time.Duration) time.Duration {
	if p.Period() <= 0 {
		return 0
	}
	i, wait := p.phase(elapsed)
	lit := i%2 == 0
	for range p.Cycle {
		i = (i + 1) % len(p.Cycle)
		if p.Cycle[i] > 0 && (i%2 == 0) != lit {
			return wait
		}
		wait += p.Cycle[i]
	}
	return 0
}

// phase returns the index of the step that elapsed falls in and the time
// left in it. The period must be positive.
func (p Pattern) phase(elapsed time.Duration) (int, time.Duration) {
	pos := max(elapsed, 0) % p.Period()
	for i, d := range p.Cycle {
		if pos < d {
			return i, d - pos
		}
		pos -= d
	}
	return len(p.Cycle) - 1, 0 // unreachable with non-negative steps
}

func ms(steps ...int) []time.Duration {
	d := make([]time.Duration, len(steps))
	for i, s := range steps {
		d[i] = time.Duration(s) * time.Millisecond
	}
	return d
}
