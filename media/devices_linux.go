//go:build linux && cgo

package media

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"image"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"

	// The V4L2 camera driver (USB webcams, and the Pi camera where the
	// kernel exposes it as a V4L2 capture device) and the ALSA microphone
	// driver (miniaudio, which loads libasound at run time). Both register
	// the devices present when the program starts.
	_ "github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone"
)

// micCandidate is an ALSA capture device the microphone driver listed.
type micCandidate struct {
	drv  driver.Driver
	name string // ALSA PCM name: "plughw:CARD=Device,DEV=0"
	desc string // its description
	rank int
}

// micSource opens the first candidate that works, best first: names can
// exist without a capture device behind them ("default" on a Pi is the
// HDMI output).
type micSource struct {
	cands []micCandidate
	used  atomic.Pointer[micCandidate]
}

// findMicrophone lists the usable ALSA capture devices matching want.
func findMicrophone(want string) (AudioSource, error) {
	var cands []micCandidate
	for _, d := range driver.GetManager().Query(driver.FilterDeviceType(driver.Microphone)) {
		info := d.Info()
		name := info.Label
		if b, err := hex.DecodeString(info.Label); err == nil {
			name = strings.TrimRight(string(b), "\x00")
		}
		c := micCandidate{drv: d, name: name, desc: info.Name, rank: micRank(name, info.Priority)}
		switch {
		case name == "null" || info.Name == "NULL Capture Device":
			continue // silence generators: ALSA's null PCM, miniaudio's null backend
		case want == "":
		case name == want:
			c.rank = -1
		case strings.Contains(name, want) || strings.Contains(info.Name, want):
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
	return &micSource{cands: cands}, nil
}

// micRank orders ALSA names: the system default, then plug devices that
// convert formats, then shared and raw ones.
func micRank(name string, p driver.Priority) int {
	switch {
	case p == driver.PriorityHigh:
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

func (s *micSource) String() string {
	c := s.used.Load()
	if c == nil {
		c = &s.cands[0]
	}
	return fmt.Sprintf("ALSA %s (%s)", c.name, c.desc)
}

func (s *micSource) OpenAudio(f AudioFormat) (AudioStream, error) {
	var errs []string
	for i := range s.cands {
		c := &s.cands[i]
		st, err := openMic(c.drv, f)
		if err == nil {
			s.used.Store(c)
			return st, nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", c.name, err))
	}
	return nil, fmt.Errorf("%w: no capture device would open: %s", ErrNoMicrophone, strings.Join(errs, "; "))
}

func openMic(d driver.Driver, f AudioFormat) (*micStream, error) {
	if err := d.Open(); err != nil {
		return nil, err
	}
	rec, ok := d.(driver.AudioRecorder)
	if !ok {
		_ = d.Close()
		return nil, fmt.Errorf("not an audio recorder")
	}
	// The driver reports 0 channels for ALSA plugins, so ask for exactly
	// this; miniaudio converts from what the device delivers.
	r, err := rec.AudioRecord(prop.Media{Audio: prop.Audio{
		ChannelCount: 1, SampleRate: SampleRate, SampleSize: 2, IsInterleaved: true, Latency: f.Chunk,
	}})
	if err != nil {
		return nil, err // AudioRecord closed the driver
	}
	return &micStream{drv: d, r: r, sem: make(chan struct{}, 1)}, nil
}

// micStream reads mediadevices' microphone. Its driver hands over
// miniaudio's buffer without copying and frees it on Close, so Close waits
// for a Read in progress before closing the driver (a live microphone
// delivers a chunk every period; a stalled one gets closeGrace).
type micStream struct {
	drv     driver.Driver
	r       audio.Reader
	sem     chan struct{} // held during Read
	closing atomic.Bool
	once    sync.Once
	err     error
}

const closeGrace = time.Second

func (m *micStream) Read() (PCM, error) {
	if m.closing.Load() {
		return PCM{}, ErrClosed
	}
	m.sem <- struct{}{}
	defer func() { <-m.sem }()
	if m.closing.Load() {
		return PCM{}, ErrClosed
	}
	a, release, err := m.r.Read()
	now := time.Now()
	if err != nil {
		return PCM{}, err
	}
	defer release()
	pcm := mono16(a)
	return PCM{Samples: pcm, Captured: now.Add(-time.Duration(len(pcm)) * time.Second / SampleRate)}, nil
}

func (m *micStream) Close() error {
	m.once.Do(func() {
		m.closing.Store(true)
		t := time.NewTimer(closeGrace)
		held := false
		select {
		case m.sem <- struct{}{}:
			held = true
		case <-t.C:
		}
		t.Stop()
		m.err = m.drv.Close()
		if held {
			<-m.sem
		}
	})
	return m.err
}

// mono16 returns a's samples as mono 16-bit, averaging channels.
func mono16(a wave.Audio) []int16 {
	ci := a.ChunkInfo()
	if b, ok := a.(*wave.Int16Interleaved); ok && ci.Channels == 1 {
		return b.Data[:ci.Len]
	}
	out := make([]int16, ci.Len)
	ch := max(1, ci.Channels)
	for i := range out {
		var sum int64
		for c := range ch {
			sum += a.At(i, c).Int() >> 16 // Int is 32-bit scaled
		}
		out[i] = int16(sum / int64(ch))
	}
	return out
}

// camSource is a V4L2 capture device.
type camSource struct {
	drv  driver.Driver
	desc string
}

// findCamera returns the first V4L2 device matching want that lists a
// picture format the encoder path can read. Video nodes that are not
// cameras (a Pi's codec and ISP nodes, raw Bayer sensors that need
// libcamera) list none and are skipped.
func findCamera(want string) (VideoSource, error) {
	drivers := driver.GetManager().Query(driver.FilterDeviceType(driver.Camera))
	slices.SortStableFunc(drivers, func(a, b driver.Driver) int {
		return cmp.Or(-cmp.Compare(a.Info().Priority, b.Info().Priority), cmp.Compare(a.Info().Label, b.Info().Label))
	})
	for _, d := range drivers {
		info := d.Info()
		if want != "" && !strings.Contains(info.Label, want) && !strings.Contains(info.Name, want) {
			continue
		}
		if _, ok := d.(driver.VideoRecorder); !ok {
			continue
		}
		if err := d.Open(); err != nil {
			continue
		}
		props := d.Properties()
		_ = d.Close()
		if _, ok := pickVideoProp(props, VideoFormat{Width: 640, Height: 480, FPS: 15}); ok {
			return &camSource{drv: d, desc: fmt.Sprintf("V4L2 %s (%s)", info.Label, info.Name)}, nil
		}
	}
	if want != "" {
		return nil, fmt.Errorf("%w (none matches %q)", ErrNoCamera, want)
	}
	return nil, ErrNoCamera
}

// videoFormats are the formats we take, best first.
var videoFormats = []frame.Format{
	frame.FormatI420, frame.FormatNV12, frame.FormatNV21, frame.FormatYUYV, frame.FormatUYVY, frame.FormatMJPEG,
}

// pickVideoProp chooses the size nearest f, then the cheapest format, then
// the lowest frame rate not below f's (or the highest there is).
func pickVideoProp(props []prop.Media, f VideoFormat) (prop.Media, bool) {
	score := func(p prop.Media) (size, format int, fps float32) {
		size = abs(p.Width-f.Width) + abs(p.Height-f.Height)
		format = slices.Index(videoFormats, p.FrameFormat)
		fps = p.FrameRate - float32(f.FPS)
		if fps < 0 {
			fps = 1000 - fps // too slow: worse than any faster rate
		}
		return size, format, fps
	}
	var best prop.Media
	found := false
	for _, p := range props {
		if !slices.Contains(videoFormats, p.FrameFormat) || p.Width < 2 || p.Height < 2 {
			continue
		}
		if !found {
			best, found = p, true
			continue
		}
		s1, f1, r1 := score(p)
		s2, f2, r2 := score(best)
		if cmp.Or(cmp.Compare(s1, s2), cmp.Compare(f1, f2), cmp.Compare(r1, r2)) < 0 {
			best = p
		}
	}
	return best, found
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (s *camSource) String() string { return s.desc }

func (s *camSource) OpenVideo(f VideoFormat) (VideoStream, error) {
	if err := s.drv.Open(); err != nil {
		return nil, err
	}
	p, ok := pickVideoProp(s.drv.Properties(), f)
	if !ok {
		_ = s.drv.Close()
		return nil, fmt.Errorf("%w: %s lists no usable format", ErrNoCamera, s.desc)
	}
	r, err := s.drv.(driver.VideoRecorder).VideoRecord(p)
	if err != nil {
		return nil, err // VideoRecord closed the driver
	}
	return &camStream{drv: s.drv, r: video.ToI420(r)}, nil
}

// camStream reads the camera; the driver's Close stops a pending Read.
type camStream struct {
	drv     driver.Driver
	r       video.Reader
	release func()
	once    sync.Once
	err     error
}

func (c *camStream) Read() (Frame, error) {
	if c.release != nil {
		c.release() // the previous frame's buffer
		c.release = nil
	}
	img, release, err := c.r.Read()
	now := time.Now()
	if err != nil {
		return Frame{}, err
	}
	yuv, ok := img.(*image.YCbCr)
	if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		release()
		return Frame{}, fmt.Errorf("media: camera gave %T, want 4:2:0", img)
	}
	c.release = release
	return Frame{Image: yuv, Captured: now}, nil
}

func (c *camStream) Close() error {
	c.once.Do(func() { c.err = c.drv.Close() })
	return c.err
}
