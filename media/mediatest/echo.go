package mediatest

import (
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// Echo is the nursery in a test: a speaker (a play.Output) whose every
// sample played is heard by a microphone (Echo is also a
// media.AudioSource), at full level, one chunk later. The nursery feed
// then carries what the monitor's speaker plays, as a real room's would.
type Echo struct {
	play.Output
	mu    sync.Mutex
	heard []int16 // played, not yet read by the microphone
	total int
	peak  int16
}

// NewEcho returns out, heard by the echo's microphone.
func NewEcho(out play.Output) *Echo { return &Echo{Output: out} }

// Start starts the speaker, keeping what it plays for the microphone (at
// most the last second: nobody may read).
func (e *Echo) Start(fill func([]int16)) error {
	return e.Output.Start(func(dst []int16) {
		fill(dst)
		e.mu.Lock()
		e.total += len(dst)
		for _, v := range dst {
			e.peak = max(e.peak, v)
		}
		e.heard = append(e.heard, dst...)
		if len(e.heard) > media.SampleRate {
			e.heard = e.heard[len(e.heard)-media.SampleRate:]
		}
		e.mu.Unlock()
	})
}

// Played reports how many samples the speaker played, and the highest.
func (e *Echo) Played() (samples int, peak int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total, e.peak
}

func (e *Echo) String() string { return "echo microphone (test)" }

// OpenAudio opens the microphone: chunks paced in real time, of what the
// speaker played, silence when it played nothing.
func (e *Echo) OpenAudio(f media.AudioFormat) (media.AudioStream, error) {
	return &echoStream{e: e, n: int(f.Chunk.Seconds() * media.SampleRate), tick: time.NewTicker(f.Chunk), done: make(chan struct{})}, nil
}

type echoStream struct {
	e    *Echo
	n    int
	tick *time.Ticker
	once sync.Once
	done chan struct{}
}

func (s *echoStream) Read() (media.PCM, error) {
	select {
	case <-s.done:
		return media.PCM{}, media.ErrClosed
	case <-s.tick.C:
	}
	pcm := make([]int16, s.n)
	s.e.mu.Lock()
	n := copy(pcm, s.e.heard)
	s.e.heard = s.e.heard[n:]
	s.e.mu.Unlock()
	return media.PCM{Samples: pcm, Captured: time.Now()}, nil
}

func (s *echoStream) Close() error {
	s.once.Do(func() { s.tick.Stop(); close(s.done) })
	return nil
}
