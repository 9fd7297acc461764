package soothe

import (
	"math"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/media/play"
)

// The talk chime: two soft sine notes, each shaped by a raised cosine so
// that neither clicks, before a parent's voice.
const (
	ChimeLow       = 587.33 // Hz (D5)
	ChimeHigh      = 880.0  // Hz (A5)
	ChimeNote      = 125 * time.Millisecond
	ChimeAmplitude = 0.35 // of full scale, before the speaker's ceiling
)

// ChimeLen is the whole chime: two notes.
const ChimeLen = 2 * ChimeNote

// VoiceMaxDelay bounds the voice's jitter buffer: a parent hears
// themselves in the nursery's feed, so it stays small.
const VoiceMaxDelay = 60 * time.Millisecond

// Chime renders the talk chime, Rate samples a second.
func Chime() []float32 {
	n := int(ChimeNote * Rate / time.Second)
	out := make([]float32, 2*n)
	for k, hz := range []float64{ChimeLow, ChimeHigh} {
		for i := range n {
			env := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
			out[k*n+i] = float32(ChimeAmplitude * env * math.Sin(2*math.Pi*hz*float64(i)/Rate))
		}
	}
	return out
}

// VoiceConfig configures a Voice. Zero values take the defaults.
type VoiceConfig struct {
	// Now is the clock the jitter buffer reads (time.Now when nil).
	Now func() time.Time
	// Period is the output's period (default 10 ms).
	Period time.Duration
	// NoChime leaves the chime out.
	NoChime bool
	// OnFrameStart, if set, is called (on the output's thread) when the
	// first sample of a frame goes to the speaker, with its RTP
	// timestamp: the mouth-to-speaker benchmark's probe.
	OnFrameStart func(ts uint32)
}

// Voice is a Source that plays a live voice (push-to-talk): the chime,
// then the frames pushed as they arrive, through a small jitter buffer
// (at most VoiceMaxDelay), silence while none come. What arrives during
// the chime is trimmed to the buffer's target when it ends, the quietest
// frames dropped first, so the chime adds no lasting delay. Push and Fill may be
// called from different goroutines.
type Voice struct {
	now func() time.Time

	mu    sync.Mutex
	jit   *play.Jitter
	chime []float32
	pos   int
	buf   []int16
}

// NewVoice returns a voice that plays nothing but its chime until frames
// are pushed.
func NewVoice(cfg VoiceConfig) *Voice {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Voice{now: cfg.Now, jit: play.NewJitter(play.JitterConfig{
		Min: 10 * time.Millisecond, Max: VoiceMaxDelay, Period: cfg.Period, OnFrameStart: cfg.OnFrameStart,
	})}
	if !cfg.NoChime {
		v.chime = Chime()
	}
	return v
}

// Push queues a decoded frame (48 kHz mono) as it arrives.
func (v *Voice) Push(f play.Frame) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.jit.Push(f, v.now())
}

// Fill implements Source: the chime first, then the voice.
func (v *Voice) Fill(dst []float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	if v.pos < len(v.chime) {
		n = copy(dst, v.chime[v.pos:])
		v.pos += n
		if v.pos == len(v.chime) {
			// What came during the chime waits no longer than the
			// buffer's target: the pauses go first.
			v.jit.Trim()
		}
	}
	rest := dst[n:]
	if len(rest) == 0 {
		return
	}
	if cap(v.buf) < len(rest) {
		v.buf = make([]int16, len(rest))
	}
	buf := v.buf[:len(rest)]
	v.jit.Pull(buf, v.now())
	for i, s := range buf {
		rest[i] = float32(s) / 32768
	}
}

// Stats is the jitter buffer's.
func (v *Voice) Stats() play.JitterStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.jit.Stats()
}
