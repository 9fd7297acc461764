//go:build linux && cgo

package media

/*
#include <stdlib.h>
*/
import "C"

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
)

// Microphones are ALSA capture devices opened through miniaudio (malgo,
// which loads libasound at run time). The list is read again at every
// open, so a microphone plugged in after the program started, or
// unplugged and plugged back, is found: the Hub reopens a failed
// microphone every second or so (see Hub's doc), and each reopen takes the
// best capture device there is then.

// alsaContext is the process's miniaudio context on ALSA, made at the
// first use and kept (like libasound's own configuration).
var alsaContext = sync.OnceValues(func() (*malgo.AllocatedContext, error) {
	return malgo.InitContext([]malgo.Backend{malgo.BackendAlsa}, malgo.ContextConfig{}, func(string) {})
})

// micCandidate is an ALSA capture device: its PCM name and description.
type micCandidate struct {
	id   malgo.DeviceID
	name string // ALSA PCM name: "plughw:CARD=Device,DEV=0"
	desc string // its description
	rank int
}

// listMicrophones lists the ALSA capture devices matching want (a name or
// part of one; "" for all), best first. Its error wraps ErrNoMicrophone.
func listMicrophones(want string) ([]micCandidate, error) {
	ctx, err := alsaContext()
	if err != nil {
		return nil, fmt.Errorf("%w (ALSA: %v)", ErrNoMicrophone, err)
	}
	devs, err := ctx.Devices(malgo.Capture)
	if err != nil {
		return nil, fmt.Errorf("%w (listing ALSA capture devices: %v)", ErrNoMicrophone, err)
	}
	var cands []micCandidate
	for _, d := range devs {
		name := idString(d.ID)
		c := micCandidate{id: d.ID, name: name, desc: d.Name(), rank: micRank(name, d.IsDefault != 0)}
		switch {
		case name == "null" || c.desc == "NULL Capture Device":
			continue // silence generators: ALSA's null PCM, miniaudio's null backend
		case notMicrophones[name] && name != want:
			continue
		case want == "":
		case name == want:
			c.rank = -1
		case strings.Contains(name, want) || strings.Contains(c.desc, want):
		default:
			continue
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		if want != "" {
			return nil, fmt.Errorf("%w (none matches %q; arecord -L lists them)", ErrNoMicrophone, want)
		}
		return nil, ErrNoMicrophone
	}
	slices.SortStableFunc(cands, func(a, b micCandidate) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.name, b.name))
	})
	return cands, nil
}

// notMicrophones are ALSA plugins that enumeration lists but that capture
// nothing of their own: rate converters and channel mixers, and "jack" and
// "oss", which would start a JACK server or need OSS emulation. Asked for
// by name (Config.Microphone), they are used all the same.
var notMicrophones = map[string]bool{
	"jack": true, "oss": true, "lavrate": true, "samplerate": true, "speexrate": true,
	"speex": true, "upmix": true, "vdownmix": true,
}

// idString is an ALSA device ID as text (its PCM name).
func idString(id malgo.DeviceID) string {
	b := id[:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// micRank orders ALSA names: the system default, then plug devices that
// convert formats, then shared and raw ones.
func micRank(name string, isDefault bool) int {
	switch {
	case isDefault:
		return 0
	case name == "default" || strings.HasPrefix(name, "default:"):
		return 1
	case strings.HasPrefix(name, "sysdefault"):
		return 2
	case strings.HasPrefix(name, "plughw:"):
		return 3
	case strings.HasPrefix(name, "dsnoop:"):
		return 4
	case strings.HasPrefix(name, "hw:"):
		return 5
	}
	return 10
}

// findMicrophone returns the microphone source for want and, when no
// capture device matches now, an error wrapping ErrNoMicrophone: the
// source is usable all the same, and opens a device once one appears.
func findMicrophone(want string) (AudioSource, error) {
	s := &micSource{want: want}
	cands, err := listMicrophones(want)
	if err == nil {
		s.used.Store(&cands[0])
	}
	return s, err
}

// micPresent returns a func that reports whether a capture device
// matching want is listed now.
func micPresent(want string) func() bool {
	return func() bool {
		_, err := listMicrophones(want)
		return err == nil
	}
}

// micSource opens the first capture device that works, best first, as
// listed at that moment: names can exist without a capture device behind
// them ("default" on a Pi is the HDMI output).
type micSource struct {
	want string
	used atomic.Pointer[micCandidate] // the last one opened (or found)
}

func (s *micSource) String() string {
	if c := s.used.Load(); c != nil {
		return fmt.Sprintf("ALSA %s (%s)", c.name, c.desc)
	}
	if s.want != "" {
		return fmt.Sprintf("ALSA microphone %q (not found yet)", s.want)
	}
	return "ALSA microphone (none found yet)"
}

func (s *micSource) OpenAudio(f AudioFormat) (AudioStream, error) {
	cands, err := listMicrophones(s.want)
	if err != nil {
		return nil, err
	}
	var errs []string
	for i := range cands {
		c := &cands[i]
		st, err := openMic(c, f)
		if err == nil {
			s.used.Store(c)
			return st, nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", c.name, err))
	}
	return nil, fmt.Errorf("%w: no capture device would open: %s", ErrNoMicrophone, strings.Join(errs, "; "))
}

// errMicStopped: the capture device stopped by itself (unplugged, or its
// reads failed).
var errMicStopped = errors.New("media: the microphone stopped")

// micBuffer is how much audio a micStream holds for a slow reader; it
// drops the oldest beyond that. Some devices deliver in bursts (PulseAudio
// through ALSA's pulse plugin hands over many periods at once).
const micBuffer = 2 * time.Second

func openMic(c *micCandidate, f AudioFormat) (*micStream, error) {
	ctx, err := alsaContext()
	if err != nil {
		return nil, err
	}
	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.SampleRate = SampleRate
	cfg.PeriodSizeInMilliseconds = uint32(max(1, f.Chunk.Milliseconds()))
	cfg.Capture.Format = malgo.FormatS16
	cfg.Capture.Channels = 1 // miniaudio converts from what the device delivers
	id := c.id.Pointer()     // C memory: cgo forbids Go pointers in the config
	defer C.free(id)
	cfg.Capture.DeviceID = id

	m := &micStream{ready: make(chan struct{}, 1), stopped: make(chan struct{}), done: make(chan struct{})}
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: m.data, Stop: m.stop})
	if err != nil {
		return nil, err
	}
	if dev.CaptureFormat() != malgo.FormatS16 || dev.CaptureChannels() != 1 || dev.SampleRate() != SampleRate {
		dev.Uninit()
		return nil, fmt.Errorf("opened in an unexpected format")
	}
	m.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return nil, err
	}
	return m, nil
}

// micStream is an open capture device. miniaudio's thread appends each
// period to buf (keeping the last micBuffer) and signals ready, and closes
// stopped when the device stops by itself.
type micStream struct {
	dev      *malgo.Device
	mu       sync.Mutex
	buf      []int16
	last     time.Time // when the last sample in buf arrived
	ready    chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	once     sync.Once
}

// data is miniaudio's data callback: mono 16-bit samples in host order.
func (m *micStream) data(_, in []byte, frames uint32) {
	now := time.Now()
	n := min(int(frames), len(in)/2)
	m.mu.Lock()
	for i := range n {
		m.buf = append(m.buf, int16(binary.NativeEndian.Uint16(in[2*i:])))
	}
	if most := int(samplesIn(micBuffer)); len(m.buf) > most {
		m.buf = append(m.buf[:0], m.buf[len(m.buf)-most:]...)
	}
	m.last = now
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// stop is miniaudio's stop callback: the device stopped without us.
func (m *micStream) stop() { m.stopOnce.Do(func() { close(m.stopped) }) }

func (m *micStream) Read() (PCM, error) {
	select {
	case <-m.done:
		return PCM{}, ErrClosed
	default:
	}
	select {
	case <-m.ready:
		m.mu.Lock()
		pcm := PCM{Samples: m.buf, Captured: m.last.Add(-durationOf(int64(len(m.buf))))}
		m.buf = nil
		m.mu.Unlock()
		return pcm, nil
	case <-m.done:
		return PCM{}, ErrClosed
	case <-m.stopped:
		return PCM{}, errMicStopped
	}
}

func (m *micStream) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.dev.Uninit() // stops the device and waits for its thread
	})
	return nil
}
