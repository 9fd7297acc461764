package media

import (
	"fmt"
	"math"
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

// ToneSource is the test microphone: a tone paced in real time.
type ToneSource struct {
	hz, amplitude float64
}

// NewToneSource returns a tone of hz at amplitude (0 to 1 of full scale).
func NewToneSource(hz, amplitude float64) *ToneSource {
	return &ToneSource{hz: hz, amplitude: amplitude}
}

func (s *ToneSource) String() string {
	return fmt.Sprintf("test tone %g Hz at %.1f dBFS", s.hz, DBFS(s.amplitude))
}

// OpenAudio starts the tone. Each Read returns one chunk once the wall
// clock has passed its end, as a microphone would.
func (s *ToneSource) OpenAudio(f AudioFormat) (AudioStream, error) {
	if f.Chunk <= 0 {
		f.Chunk = 10 * time.Millisecond
	}
	return &toneStream{
		tone:  Tone{Hz: s.hz, Amplitude: s.amplitude},
		n:     int(int64(SampleRate) * int64(f.Chunk) / int64(time.Second)),
		pacer: newPacer(f.Chunk),
	}, nil
}

type toneStream struct {
	tone  Tone
	n     int
	pacer *pacer
}

func (s *toneStream) Read() (PCM, error) {
	start, err := s.pacer.wait()
	if err != nil {
		return PCM{}, err
	}
	pcm := PCM{Samples: make([]int16, s.n), Captured: start}
	s.tone.Fill(pcm.Samples)
	return pcm, nil
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
	select {
	case <-p.done:
		return time.Time{}, ErrClosed
	default:
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
	if d := begin.Add(p.period).Sub(now); d > 0 {
		if p.timer == nil {
			p.timer = time.NewTimer(d)
		} else {
			p.timer.Reset(d)
		}
		select {
		case <-p.done:
			p.timer.Stop()
			return time.Time{}, ErrClosed
		case <-p.timer.C:
		}
	}
	p.n++
	return begin, nil
}

func (p *pacer) close() { p.once.Do(func() { close(p.done) }) }
