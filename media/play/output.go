package play

import (
	"errors"
	"sync"
	"time"
)

// Output is an audio device the player pulls mono 48 kHz int16 from.
type Output interface {
	// Start begins playback: fill is called on the device's thread with a
	// period's samples to write (it must fill all of dst).
	Start(fill func(dst []int16)) error
	// Name says which device this is, for logs and `cradle outputs`.
	Name() string
	// Close stops the device and returns once fill will not be called
	// again. A second Close does nothing.
	Close() error
}

// Input is a microphone the listener talks through (push-to-talk): Read
// returns the next chunk of 48 kHz mono samples, about 10 ms, waiting for
// it; after Close it returns ErrInputClosed.
type Input interface {
	Name() string
	Read() ([]int16, error)
	Close() error
}

// ErrInputClosed: Read after Close.
var ErrInputClosed = errors.New("play: the microphone is closed")

// DeviceInfo describes an output device for ListDevices.
type DeviceInfo struct {
	// Name is what OpenDevice and --output take.
	Name string
	// ID is the backend's identifier, also accepted by OpenDevice.
	ID      string
	Default bool
}

// Errors from OpenDevice and ListDevices. Their text is for a parent.
var (
	// ErrNoAudioLibrary: neither PulseAudio nor ALSA could be loaded, or
	// this build has no audio support.
	ErrNoAudioLibrary = errors.New("play: no sound system found: install libpulse0 or libasound2")
	// ErrNoDevice: no output device, or none with the name asked for.
	ErrNoDevice = errors.New("play: no such sound output: plug in a speaker or pass --output NAME; see `cradle outputs`")
)

// TestSink is an in-process Output paced by a ticker: every period it asks
// for a period's samples and records them. Tests and benchmarks use it in
// place of a sound card. It keeps everything played (96 kB a second): for
// runs of minutes, not nights.
type TestSink struct {
	period time.Duration

	mu      sync.Mutex
	played  []int16
	waiters []sinkWaiter

	startOnce, closeOnce sync.Once
	stop                 chan struct{}
	done                 chan struct{}
}

type sinkWaiter struct {
	n  int
	ch chan struct{}
}

// NewTestSink returns a sink with the given period (0: 10 ms).
func NewTestSink(period time.Duration) *TestSink {
	if period <= 0 {
		period = 10 * time.Millisecond
	}
	return &TestSink{period: period, stop: make(chan struct{}), done: make(chan struct{})}
}

// Name implements Output.
func (s *TestSink) Name() string { return "test sink" }

// Start implements Output: fill is called from the sink's goroutine every
// period until Close. A second Start does nothing.
func (s *TestSink) Start(fill func(dst []int16)) error {
	s.startOnce.Do(func() { go s.run(fill) })
	return nil
}

func (s *TestSink) run(fill func([]int16)) {
	defer close(s.done)
	buf := make([]int16, samplesOf(s.period))
	tick := time.NewTicker(s.period)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		fill(buf)
		s.mu.Lock()
		s.played = append(s.played, buf...)
		kept := s.waiters[:0]
		for _, w := range s.waiters {
			if len(s.played) >= w.n {
				close(w.ch)
			} else {
				kept = append(kept, w)
			}
		}
		s.waiters = kept
		s.mu.Unlock()
	}
}

// Played returns a copy of everything played so far.
func (s *TestSink) Played() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.played...)
}

// Wait returns a channel closed once at least n samples have been played.
func (s *TestSink) Wait(n int) <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.played) >= n {
		close(ch)
	} else {
		s.waiters = append(s.waiters, sinkWaiter{n, ch})
	}
	return ch
}

// Close implements Output: it stops the ticker and waits for the last
// fill to return.
func (s *TestSink) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.startOnce.Do(func() { close(s.done) }) // never started: nothing to wait for
		<-s.done
	})
	return nil
}
