package soothe

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/media/play"
)

// DefaultCeiling is the speaker's default volume ceiling: a quarter of
// full scale (-12 dBFS). A small USB speaker at full scale reaches about
// 80-90 dB SPL at 30 cm; a quarter of that amplitude is 12 dB lower,
// about 70 dB, and the sounds themselves sit 12 dB under their peaks
// (noise at an RMS of -12 dBFS before the ceiling), so a speaker a metre
// or more from the cot stays under the 50 dB(A) the guidance on infant
// sound machines recommends at the cot, with headroom below that.
const DefaultCeiling = 0.25

// ErrClosed: the speaker was closed.
var ErrClosed = errors.New("soothe: the speaker is closed")

// stopRamp is how long Stop takes to silence a stream: enough that its
// end does not click.
const stopRamp = 20 * time.Millisecond

// Speaker mixes streams into one play.Output (see the package doc). Its
// methods are safe for concurrent use; the output's thread calls fill.
type Speaker struct {
	out     play.Output
	ceiling float32

	mu      sync.Mutex
	streams []*Stream
	started bool
	closed  bool
	mix     []float32 // the output thread's scratch
	one     []float32
}

// NewSpeaker returns a speaker playing into out, under ceiling (a linear
// volume, 0 to 1; 0 takes DefaultCeiling). out starts at the first Play
// and plays silence while nothing plays. Close closes out.
func NewSpeaker(out play.Output, ceiling float64) (*Speaker, error) {
	if ceiling == 0 {
		ceiling = DefaultCeiling
	}
	if !(ceiling > 0 && ceiling <= 1) {
		return nil, fmt.Errorf("soothe: speaker ceiling %v: want more than 0, at most 1", ceiling)
	}
	return &Speaker{out: out, ceiling: float32(ceiling)}, nil
}

// Name is the output's name.
func (s *Speaker) Name() string { return s.out.Name() }

// Stream is one source playing on a speaker.
type Stream struct {
	s   *Speaker
	src Source
	// Guarded by s.mu.
	gain      float32 // now
	step      float32 // added each sample while fading (negative)
	duck      float32 // the ducking gain now (1: not ducked)
	duckTo    float32 // the ducking gain it moves to
	ended     bool
	done      chan struct{}
	playedLen uint64 // samples played
}

// Play adds src to what the speaker plays, at full gain, and returns its
// stream.
func (s *Speaker) Play(src Source) (*Stream, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	st := &Stream{s: s, src: src, gain: 1, duck: 1, duckTo: 1, done: make(chan struct{})}
	s.streams = append(s.streams, st)
	start := !s.started
	s.started = true
	s.mu.Unlock()
	if !start {
		return st, nil
	}
	// Not under mu: a device may call fill before Start returns.
	if err := s.out.Start(s.fill); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.started = false
		s.streams = slices.DeleteFunc(s.streams, func(x *Stream) bool { return x == st })
		return nil, fmt.Errorf("soothe: starting %s: %w", s.out.Name(), err)
	}
	return st, nil
}

// FadeOut lowers the stream's gain to zero, linearly, over d (counted in
// samples played), then ends it. A fade already running is replaced if
// the new one ends sooner.
func (st *Stream) FadeOut(d time.Duration) {
	n := max(int64(d.Seconds()*Rate), 1)
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.ended {
		return
	}
	if step := -st.gain / float32(n); step < st.step {
		st.step = step
	}
}

// duckRamp is how long a stream takes to reach a new ducking gain.
const duckRamp = 50 * time.Millisecond

// Duck sets the stream's ducking gain (1: not ducked; DuckGain under a
// voice), reached over 50 ms of samples, without a click. It multiplies
// the fade.
func (st *Stream) Duck(gain float64) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	st.duckTo = float32(min(max(gain, 0), 1))
}

// DuckGain is how much a voice ducks the other streams: -12 dB.
const DuckGain = 0.25

// Stop ends the stream within a few milliseconds (a ramp, not a click).
func (st *Stream) Stop() { st.FadeOut(stopRamp) }

// Fading reports whether the stream is fading out (or stopping).
func (st *Stream) Fading() bool {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return st.step < 0 && !st.ended
}

// Done is closed once the stream has ended (faded out, stopped, or the
// speaker closed).
func (st *Stream) Done() <-chan struct{} { return st.done }

// Played is how long the stream has played, in samples counted.
func (st *Stream) Played() time.Duration {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return time.Duration(st.playedLen) * time.Second / Rate
}

// Playing reports whether a stream plays.
func (s *Speaker) Playing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams) > 0
}

// fill is the output's callback: the streams summed, clipped, under the
// ceiling.
func (s *Speaker) fill(dst []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(s.mix) < len(dst) {
		s.mix, s.one = make([]float32, len(dst)), make([]float32, len(dst))
	}
	mix, one := s.mix[:len(dst)], s.one[:len(dst)]
	clear(mix)
	kept := s.streams[:0]
	for _, st := range s.streams {
		st.src.Fill(one)
		g, step := st.gain, st.step
		d, dTo := st.duck, st.duckTo
		const dStep = float32(1) / float32(duckRamp*Rate/time.Second)
		for i, v := range one {
			if g <= 0 {
				g = 0
				break
			}
			if d != dTo {
				if d < dTo {
					d = min(d+dStep, dTo)
				} else {
					d = max(d-dStep, dTo)
				}
			}
			mix[i] += g * d * v
			g += step
		}
		st.gain, st.duck = g, d
		st.playedLen += uint64(len(dst))
		if g <= 0 {
			st.ended = true
			close(st.done)
			continue
		}
		kept = append(kept, st)
	}
	clear(s.streams[len(kept):])
	s.streams = kept
	c := s.ceiling * 32767
	for i, v := range mix {
		dst[i] = int16(clip(v) * c)
	}
}

// Close ends every stream and closes the output. A second Close does
// nothing.
func (s *Speaker) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.out.Close() // fill is not called after this
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		st.ended = true
		close(st.done)
	}
	s.streams = nil
	return err
}
