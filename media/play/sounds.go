package play

import (
	"math"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/media"
)

// The alarm: AlarmTone at AlarmHzLow, AlarmTone at AlarmHzHigh, AlarmTone
// of silence, repeated, at AlarmAmplitude of full scale, each tone faded in
// and out over SoundFade.
const (
	AlarmHzLow      = 1000
	AlarmHzHigh     = 1500
	AlarmTone       = 250 * time.Millisecond
	AlarmPeriod     = 3 * AlarmTone
	AlarmAmplitude  = 0.7
	SoundFade       = 5 * time.Millisecond
	ChimeHzLow      = 660
	ChimeHzHigh     = 880
	ChimeDuration   = 300 * time.Millisecond // ChimeHzLow then ChimeHzHigh, half each
	ChimeAmplitude  = 0.2
	maxPendingChime = 3
)

// The sounds are rendered once into tables; Fill copies from them.
var (
	alarmTable = sync.OnceValue(func() []int16 {
		seg := samplesOf(AlarmTone)
		t := make([]int16, 3*seg)
		renderTone(t[:seg], AlarmHzLow, AlarmAmplitude)
		renderTone(t[seg:2*seg], AlarmHzHigh, AlarmAmplitude)
		return t
	})
	chimeTable = sync.OnceValue(func() []int16 {
		half := samplesOf(ChimeDuration / 2)
		t := make([]int16, 2*half)
		renderTone(t[:half], ChimeHzLow, ChimeAmplitude)
		renderTone(t[half:], ChimeHzHigh, ChimeAmplitude)
		return t
	})
)

// renderTone writes a sine of hz starting at phase 0, faded in and out.
func renderTone(dst []int16, hz, amplitude float64) {
	fade := samplesOf(SoundFade)
	for i := range dst {
		g := 1.0
		if i < fade {
			g = float64(i) / float64(fade)
		} else if rest := len(dst) - 1 - i; rest < fade {
			g = float64(rest) / float64(fade)
		}
		v := amplitude * g * math.MaxInt16 * math.Sin(2*math.Pi*hz*float64(i)/media.SampleRate)
		dst[i] = int16(math.Round(v))
	}
}

// AlarmSound generates the alarm. The zero value sounds from the start of
// the pattern; Fill continues where the last call stopped. It is not safe
// for concurrent use.
type AlarmSound struct {
	pos      int // in the pattern
	stopping bool
	done     bool
}

// Fill writes the next len(dst) samples: the pattern while sounding,
// silence once stopped.
func (a *AlarmSound) Fill(dst []int16) {
	t := alarmTable()
	seg := len(t) / 3
	for n := 0; n < len(dst); {
		if a.done {
			clear(dst[n:])
			return
		}
		end := len(t)
		if a.stopping {
			end = (a.pos/seg + 1) * seg
		}
		c := copy(dst[n:], t[a.pos:end])
		n += c
		a.pos += c
		if a.pos == end {
			if a.stopping {
				a.pos, a.stopping, a.done = 0, false, true
			} else if a.pos == len(t) {
				a.pos = 0
			}
		}
	}
}

// Stop ends the alarm at the end of the current tone (within AlarmTone),
// so it never stops with a click.
func (a *AlarmSound) Stop() {
	seg := len(alarmTable()) / 3
	if a.pos%seg == 0 || a.pos >= 2*seg { // between tones or in the pause
		a.pos, a.stopping, a.done = 0, false, true
		return
	}
	a.stopping = true
}

// Start makes the alarm sound again: a stopped alarm restarts its pattern,
// one still finishing its tone carries on.
func (a *AlarmSound) Start() {
	if a.done {
		a.pos, a.done = 0, false
	}
	a.stopping = false
}

// Sounding reports whether Fill would write anything but silence.
func (a *AlarmSound) Sounding() bool { return !a.done }

// ChimeSound generates the noise chime: each Ring plays it once (up to
// three queued). The zero value is silent. It is not safe for concurrent
// use.
type ChimeSound struct {
	pos     int
	pending int // chimes still to play, counting the current one
}

// Ring queues one chime.
func (c *ChimeSound) Ring() { c.pending = min(c.pending+1, maxPendingChime) }

// Sounding reports whether Fill would write anything but silence.
func (c *ChimeSound) Sounding() bool { return c.pending > 0 }

// Fill writes the next len(dst) samples: the chimes rung, then silence.
func (c *ChimeSound) Fill(dst []int16) {
	t := chimeTable()
	for n := 0; n < len(dst); {
		if c.pending == 0 {
			clear(dst[n:])
			return
		}
		k := copy(dst[n:], t[c.pos:])
		n += k
		c.pos += k
		if c.pos == len(t) {
			c.pos = 0
			c.pending--
		}
	}
}
