//go:build cgo && codeccompare

package media

// Benchmarks of the alternatives, for doc.go's codec choice:
//
//	apt-get install libx264-dev
//	go test -tags codeccompare -run '^$' -bench Compare ./media
//
// Not built by default: x264 is GPL and needs libx264-dev.

import (
	"image"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/codec/x264"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// pulled adapts mediadevices' pull-style encoders to videoEncoder.
type pulled struct {
	next image.Image
	rc   codec.ReadCloser
}

func newPulled(build func(video.Reader, prop.Media) (codec.ReadCloser, error), cfg Config) (videoEncoder, error) {
	p := &pulled{}
	r := video.ReaderFunc(func() (image.Image, func(), error) { return p.next, func() {}, nil })
	rc, err := build(r, prop.Media{Video: prop.Video{Width: cfg.Width, Height: cfg.Height, FrameRate: float32(cfg.FPS), FrameFormat: frame.FormatI420}})
	if err != nil {
		return nil, err
	}
	p.rc = rc
	return p, nil
}

func (p *pulled) Encode(img *image.YCbCr, _ time.Duration, _ bool) ([]byte, bool, error) {
	p.next = img
	data, release, err := p.rc.Read()
	if release != nil {
		release()
	}
	return data, false, err
}

func (p *pulled) Close() error { return p.rc.Close() }

func BenchmarkCompareVideo(b *testing.B) {
	encoders := []struct {
		name string
		open func(Config) (videoEncoder, error)
	}{
		{"vp8-cradle", func(cfg Config) (videoEncoder, error) { return newVP8Encoder(cfg, cfg.Width, cfg.Height) }},
		{"vp8-mediadevices", func(cfg Config) (videoEncoder, error) {
			p, err := vpx.NewVP8Params()
			if err != nil {
				return nil, err
			}
			p.BitRate = cfg.VideoBitrate
			p.RateControlEndUsage = vpx.RateControlCBR
			return newPulled(p.BuildVideoEncoder, cfg)
		}},
		{"x264-ultrafast", func(cfg Config) (videoEncoder, error) {
			p, err := x264.NewParams()
			if err != nil {
				return nil, err
			}
			p.BitRate = cfg.VideoBitrate
			p.Preset = x264.PresetUltrafast
			return newPulled(p.BuildVideoEncoder, cfg)
		}},
	}
	for _, e := range encoders {
		for _, noisy := range []bool{false, true} {
			name := e.name + "/640x480/pattern"
			if noisy {
				name = e.name + "/640x480/noisy"
			}
			b.Run(name, func(b *testing.B) { benchVideo(b, 640, 480, noisy, e.open) })
		}
	}
}
