package media

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// Tone generates a sine wave at SampleRate. It is pure: Fill continues the
// wave where the last call stopped.
type Tone struct {
	Hz float64
	// Amplitude is the peak relative to full scale, 0 to 1.
	Amplitude float64
	phase     float64
}

// Fill writes the next len(dst) samples of the wave.
func (t *Tone) Fill(dst []int16) {
	step := 2 * math.Pi * t.Hz / SampleRate
	a := t.Amplitude * math.MaxInt16
	for i := range dst {
		dst[i] = int16(math.Round(a * math.Sin(t.phase)))
		t.phase += step
		if t.phase >= 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
}

// ToneSource is the test microphone: a tone paced in real time, steady
// or following a test audio script (see the script syntax in script.go
// and Config.TestAudio).
type ToneSource struct {
	hz, amplitude float64
	script        audioScript
	text          string // the script as given; empty for the steady tone
}

// NewToneSource returns a steady tone of hz at amplitude (0 to 1 of full
// scale).
func NewToneSource(hz, amplitude float64) *ToneSource {
	return &ToneSource{hz: hz, amplitude: amplitude, script: steadyTone}
}

// NewScriptedToneSource returns a tone of hz at amplitude that follows
// script (Config.TestAudio's syntax; empty is the steady tone). Its error
// wraps ErrInvalidConfig and names the step at fault.
func NewScriptedToneSource(hz, amplitude float64, script string) (*ToneSource, error) {
	sc, err := parseAudioScript(script)
	if err != nil {
		return nil, err
	}
	s := NewToneSource(hz, amplitude)
	s.script = sc
	if strings.TrimSpace(script) != "" {
		s.text = script
	}
	return s, nil
}

func (s *ToneSource) String() string {
	desc := fmt.Sprintf("test tone %g Hz at %.1f dBFS", s.hz, DBFS(s.amplitude))
	if s.text != "" {
		desc += fmt.Sprintf(", script %q", s.text)
	}
	return desc
}

// OpenAudio starts the tone. Each Read returns one chunk once the wall
// clock has passed its end, as a microphone would; the script, if any,
// starts at the first Read.
func (s *ToneSource) OpenAudio(f AudioFormat) (AudioStream, error) {
	if f.Chunk <= 0 {
		f.Chunk = 10 * time.Millisecond
	}
	return &toneStream{
		tone:   Tone{Hz: s.hz, Amplitude: s.amplitude},
		script: s.script,
		n:      samplesIn(f.Chunk),
		pacer:  newPacer(f.Chunk),
	}, nil
}

// toneStream plays a script on a sample clock: pos counts the samples of
// script time since the first Read (start), delivered or stalled through,
// so a chunk of n samples is due at start + (pos+n)/SampleRate and timer
// lateness does not accumulate.
type toneStream struct {
	tone   Tone
	script audioScript
	n      int64
	pacer  *pacer
	start  time.Time
	pos    int64
}

// time returns when the sample at pos is captured.
func (s *toneStream) time(pos int64) time.Time { return s.start.Add(durationOf(pos)) }

func (s *toneStream) Read() (PCM, error) {
	if s.pacer.closed() {
		return PCM{}, ErrClosed
	}
	// Stall steps: block until they end, on the same sample clock.
	for {
		now := time.Now()
		if s.start.IsZero() {
			s.start = now
		}
		// A reader more than a second behind skips ahead (through the
		// script too) instead of bursting.
		if now.Sub(s.time(s.pos+s.n)) > time.Second {
			s.pos = samplesIn(now.Sub(s.start)) - s.n
		}
		kind, left := s.script.at(s.pos)
		if kind != stepStall {
			break
		}
		if left < 0 {
			<-s.pacer.done // stalled for good: only Close ends it
			return PCM{}, ErrClosed
		}
		s.pos += left
		if err := s.pacer.until(s.time(s.pos)); err != nil {
			return PCM{}, err
		}
	}
	// One chunk of tone and silence, cut short where a stall begins.
	samples := make([]int16, s.n)
	var i int64
	for i < s.n {
		kind, left := s.script.at(s.pos + i)
		if kind == stepStall {
			break
		}
		k := s.n - i
		if left >= 0 {
			k = min(k, left)
		}
		switch kind {
		case stepTone:
			s.tone.Fill(samples[i : i+k])
		case stepQuiet:
			s.tone.Fill(samples[i : i+k])
			for j := i; j < i+k; j++ {
				samples[j] = int16(float64(samples[j]) * quietGain)
			}
		}
		i += k
	}
	begin := s.time(s.pos)
	if err := s.pacer.until(s.time(s.pos + i)); err != nil {
		return PCM{}, err
	}
	s.pos += i
	return PCM{Samples: samples[:i], Captured: begin}, nil
}

func (s *toneStream) Close() error { s.pacer.close(); return nil }

// pacer paces a synthetic source in real time: wait returns the start of
// the next period once that period has ended. Periods are counted from the
// first wait, so timer lateness does not accumulate; a reader more than a
// second behind skips ahead instead of bursting.
type pacer struct {
	period time.Duration
	start  time.Time
	n      int64
	timer  *time.Timer

	once sync.Once
	done chan struct{}
}

func newPacer(period time.Duration) *pacer {
	return &pacer{period: period, done: make(chan struct{})}
}

func (p *pacer) wait() (time.Time, error) {
	if p.closed() {
		return time.Time{}, ErrClosed
	}
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	begin := p.start.Add(time.Duration(p.n) * p.period)
	if late := now.Sub(begin.Add(p.period)); late > time.Second {
		p.start, p.n = now.Add(-p.period), 0
		begin = p.start
	}
	if err := p.until(begin.Add(p.period)); err != nil {
		return time.Time{}, err
	}
	p.n++
	return begin, nil
}

// until blocks until the wall clock reaches t, or returns ErrClosed once
// the pacer is closed.
func (p *pacer) until(t time.Time) error {
	if d := time.Until(t); d > 0 {
		if p.timer == nil {
			p.timer = time.NewTimer(d)
		} else {
			p.timer.Reset(d)
		}
		select {
		case <-p.done:
			p.timer.Stop()
			return ErrClosed
		case <-p.timer.C:
		}
	}
	return nil
}

func (p *pacer) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *pacer) close() { p.once.Do(func() { close(p.done) }) }
