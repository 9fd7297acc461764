// Package mediatest has fakes of the media package's sources for tests of
// the parts above it: a microphone that can be pulled out and plugged
// back.
package mediatest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cradle-monitor/cradle/media"
)

// ErrPulledOut is what a Mic's open streams return once it is pulled out.
var ErrPulledOut = errors.New("mediatest: microphone pulled out")

// Mic is a microphone that a test pulls out and plugs back, playing the
// test tone while it is in. Pulled out, its streams' reads fail with
// ErrPulledOut (as ALSA's do for an unplugged USB device) and it will not
// open (an error wrapping media.ErrNoMicrophone). It is safe for
// concurrent use.
type Mic struct {
	tone *media.ToneSource
	mu   sync.Mutex
	in   bool
	n    int
}

// NewMic returns a Mic, plugged in, playing a tone of hz at amplitude.
func NewMic(hz, amplitude float64) *Mic {
	return &Mic{tone: media.NewToneSource(hz, amplitude), in: true}
}

// PullOut unplugs the microphone.
func (m *Mic) PullOut() { m.set(false) }

// PlugIn plugs it back.
func (m *Mic) PlugIn() { m.set(true) }

// Opens counts the calls to OpenAudio.
func (m *Mic) Opens() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

func (m *Mic) set(in bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.in = in
}

func (m *Mic) plugged() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.in
}

func (m *Mic) String() string { return "test microphone (mediatest)" }

// OpenAudio opens the tone while the microphone is in.
func (m *Mic) OpenAudio(f media.AudioFormat) (media.AudioStream, error) {
	m.mu.Lock()
	m.n++
	in := m.in
	m.mu.Unlock()
	if !in {
		return nil, fmt.Errorf("%w (mediatest: pulled out)", media.ErrNoMicrophone)
	}
	st, err := m.tone.OpenAudio(f)
	if err != nil {
		return nil, err
	}
	return &stream{AudioStream: st, mic: m}, nil
}

type stream struct {
	media.AudioStream
	mic *Mic
}

func (s *stream) Read() (media.PCM, error) {
	if !s.mic.plugged() {
		return media.PCM{}, ErrPulledOut
	}
	return s.AudioStream.Read()
}
