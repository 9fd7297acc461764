package soothe

import (
	"errors"
	"fmt"
	"math"
)

// Rate is the sample rate of every Source, the speaker's (mono).
const Rate = 48000

// Source makes a sound: Fill writes the next len(dst) samples, each in
// [-1, 1]. A Source never ends; it is not safe for concurrent use.
type Source interface {
	Fill(dst []float32)
}

// The sounds' names, as sound_start carries them.
const (
	White     = "white"
	Pink      = "pink"
	Brown     = "brown"
	Heartbeat = "heartbeat"
	Lullaby   = "lullaby"
)

// Names lists the sounds New makes.
var Names = []string{White, Pink, Brown, Heartbeat, Lullaby}

// ErrUnknownSound: New was given a name not in Names.
var ErrUnknownSound = errors.New("soothe: unknown sound")

// Levels: every sound is made at about the same loudness, an RMS of
// about -12 dBFS before the speaker's ceiling, with its peaks within
// full scale.
const (
	noiseRMS = 0.25
)

// New returns the sound called name, deterministic given seed.
func New(name string, seed uint64) (Source, error) {
	r := rng(seed | 1)
	switch name {
	case White:
		return &white{r: r}, nil
	case Pink:
		return newPink(r), nil
	case Brown:
		return &brown{r: r}, nil
	case Heartbeat:
		return &heartbeat{}, nil
	case Lullaby:
		return &lullaby{}, nil
	}
	return nil, fmt.Errorf("%w %q: one of white, pink, brown, heartbeat, lullaby", ErrUnknownSound, name)
}

// rng is xorshift64*: fast, deterministic, good enough for noise.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// uniform returns a sample uniform in [-1, 1).
func (r *rng) uniform() float32 {
	return float32(int32(r.next()>>32)) / (1 << 31)
}

// clip bounds x to [-1, 1].
func clip(x float32) float32 {
	return max(-1, min(1, x))
}

// white is uniform noise: a flat spectrum. Uniform in [-a, a] has an RMS
// of a/√3.
type white struct{ r rng }

func (w *white) Fill(dst []float32) {
	const a = noiseRMS * 1.7320508
	for i := range dst {
		dst[i] = a * w.r.uniform()
	}
}

// pink is Voss-McCartney noise: pinkRows white values, row k redrawn
// every 2^k samples (the row of the lowest set bit of a counter), summed
// with one more drawn every sample. Its power falls about 3 dB an
// octave over the audible range.
const pinkRows = 16

type pink struct {
	r       rng
	rows    [pinkRows]float32
	sum     float32
	counter uint32
}

func newPink(r rng) *pink {
	p := &pink{r: r}
	for i := range p.rows {
		p.rows[i] = p.r.uniform()
		p.sum += p.rows[i]
	}
	return p
}

func (p *pink) Fill(dst []float32) {
	// pinkRows+1 uniform values of variance 1/3: RMS √(17/3) ≈ 2.38.
	const scale = noiseRMS / 2.38
	for i := range dst {
		p.counter++
		k := trailingZeros(p.counter)
		if k < pinkRows {
			v := p.r.uniform()
			p.sum += v - p.rows[k]
			p.rows[k] = v
		}
		dst[i] = clip(scale * (p.sum + p.r.uniform()))
	}
}

func trailingZeros(x uint32) int {
	n := 0
	for x&1 == 0 && n < 32 {
		x >>= 1
		n++
	}
	return n
}

// brown is white noise through a leaky integrator: its power falls about
// 6 dB an octave above the leak's corner (about 8 Hz), a deep rumble.
type brown struct {
	r rng
	y float32
}

// brownLeak sets the corner: 1-leak = 2π·fc/Rate for fc ≈ 8 Hz. brownGain
// brings the integrator's RMS (√(1/3 / (1-leak²)) per unit input, ≈ 14)
// to noiseRMS.
const (
	brownLeak = 0.999
	brownGain = noiseRMS / 12.9
)

func (b *brown) Fill(dst []float32) {
	for i := range dst {
		b.y = brownLeak*b.y + b.r.uniform()
		dst[i] = clip(brownGain * b.y)
	}
}

// heartbeat is a resting heart at 60 beats a minute: each beat a "lub"
// (a 55 Hz thump, 120 ms) then, 300 ms later, a softer and higher
// "dub" (70 Hz, 90 ms), each a sine under a quick attack and an
// exponential decay.
type heartbeat struct{ n int }

const (
	beatPeriod = Rate // 60 bpm
	dubAt      = Rate * 3 / 10
)

func (h *heartbeat) Fill(dst []float32) {
	for i := range dst {
		t := h.n % beatPeriod
		var v float64
		if t < dubAt {
			v = 0.9 * thump(float64(t)/Rate, 55, 0.12)
		} else {
			v = 0.6 * thump(float64(t-dubAt)/Rate, 70, 0.09)
		}
		dst[i] = float32(v)
		h.n++
	}
}

// thump is a sine of hz at t seconds under an envelope that rises in
// 10 ms and decays with time constant length/3; zero after length.
func thump(t, hz, length float64) float64 {
	if t >= length {
		return 0
	}
	env := math.Exp(-3 * t / length)
	if t < 0.01 {
		env *= t / 0.01
	}
	return env * math.Sin(2*math.Pi*hz*t)
}

// lullaby plays the opening of Brahms' lullaby, over and over: each
// note a sine (with a softer octave above) under an envelope that rises
// in 20 ms and falls away over the note, so that notes never click; a
// rest between repeats.
type lullaby struct {
	note int // index in lullabyNotes
	pos  int // sample within the note
}

// lullabyNotes are (MIDI note, eighths); 0 is a rest. At 100 quarter
// notes a minute an eighth lasts 0.3 s.
var lullabyNotes = [][2]int{
	{64, 1}, {64, 1}, {67, 3}, {64, 1}, {64, 1}, {67, 3},
	{64, 1}, {67, 1}, {72, 2}, {71, 3}, {69, 1}, {69, 2}, {67, 2},
	{62, 1}, {64, 1}, {65, 2}, {62, 2}, {62, 1}, {64, 1}, {65, 4},
	{62, 1}, {65, 1}, {71, 1}, {69, 1}, {67, 2}, {71, 2}, {72, 4},
	{0, 4},
}

const eighth = Rate * 3 / 10

// noteHz is each MIDI note's frequency (equal temperament, A4 = 440 Hz).
var noteHz = func() (hz [128]float64) {
	for n := range hz {
		hz[n] = 440 * math.Pow(2, float64(n-69)/12)
	}
	return hz
}()

func (l *lullaby) Fill(dst []float32) {
	for i := range dst {
		nt := lullabyNotes[l.note]
		d := nt[1] * eighth
		var v float64
		if nt[0] != 0 {
			hz := noteHz[nt[0]]
			t := float64(l.pos) / Rate
			env := 1 - float64(l.pos)/float64(d)
			if t < 0.02 {
				env *= t / 0.02
			}
			ph := 2 * math.Pi * hz * t
			v = 0.45 * env * (math.Sin(ph) + 0.25*math.Sin(2*ph))
		}
		dst[i] = float32(v)
		if l.pos++; l.pos == d {
			l.pos = 0
			l.note = (l.note + 1) % len(lullabyNotes)
		}
	}
}
