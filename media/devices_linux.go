//go:build linux && cgo

package media

import (
	"cmp"
	"fmt"
	"image"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	// The V4L2 camera driver (USB webcams, and the Pi camera where the
	// kernel exposes it as a V4L2 capture device). It registers the
	// cameras present when the program starts. Microphones are mic_linux.go's.
	_ "github.com/pion/mediadevices/pkg/driver/camera"
)

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
