//go:build cgo

package media

import (
	"fmt"
	"image"
	"math/rand/v2"
	"testing"
	"time"
)

// The benchmarks report the CPU one second of media costs: ns/op is per
// second of audio or video, and "cpu%" is that as a share of one core.

func reportCPU(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(time.Second)*100, "cpu%")
}

// BenchmarkOpusEncode: one second of a 440 Hz tone, 48 kHz mono, 32 kb/s.
func BenchmarkOpusEncode(b *testing.B) {
	for _, frame := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		b.Run(frame.String(), func(b *testing.B) {
			cfg := Config{AudioFrame: frame}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			enc, err := newOpusEncoder(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			n := SampleRate * int(frame/time.Millisecond) / 1000
			second := sine(SampleRate, 440, 0.25)
			bytes := 0
			b.ResetTimer()
			for range b.N {
				for i := 0; i < SampleRate; i += n {
					data, err := enc.Encode(second[i : i+n])
					if err != nil {
						b.Fatal(err)
					}
					bytes += len(data)
				}
			}
			reportCPU(b)
			b.ReportMetric(float64(bytes*8)/float64(b.N)/1000, "kb/s")
		})
	}
}

// BenchmarkVP8Encode: one second of video. "pattern" is the test pattern
// (flat colours, one moving square: easy); "noisy" adds sensor-like noise
// to every frame, as a dim nursery gives, which is the hard case.
func BenchmarkVP8Encode(b *testing.B) {
	for _, size := range []struct{ w, h int }{{640, 480}, {320, 240}} {
		for _, noisy := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d/pattern", size.w, size.h)
			if noisy {
				name = fmt.Sprintf("%dx%d/noisy", size.w, size.h)
			}
			b.Run(name, func(b *testing.B) {
				benchVideo(b, size.w, size.h, noisy, func(cfg Config) (videoEncoder, error) {
					return newVP8Encoder(cfg, size.w, size.h)
				})
			})
		}
	}
}

// benchFrames pre-renders frames so that drawing is not measured.
func benchFrames(w, h, n int, noisy bool) []*image.YCbCr {
	var p Pattern
	rng := rand.New(rand.NewPCG(1, 2))
	frames := make([]*image.YCbCr, n)
	for i := range frames {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		p.Draw(img, i)
		if noisy {
			for j, y := range img.Y {
				img.Y[j] = uint8(min(235, max(16, int(y)+rng.IntN(17)-8)))
			}
		}
		frames[i] = img
	}
	return frames
}

func benchVideo(b *testing.B, w, h int, noisy bool, open func(Config) (videoEncoder, error)) {
	cfg := Config{Width: w, Height: h, FPS: 15}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	frames := benchFrames(w, h, 30, noisy)
	enc, err := open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	bytes, n := 0, 0
	var kept [][]byte // the first second, to measure quality
	b.ResetTimer()
	for range b.N {
		for range cfg.FPS {
			data, _, err := enc.Encode(frames[n%len(frames)], time.Duration(n)*time.Second/15, false)
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(data)
			if n < cfg.FPS {
				kept = append(kept, data)
			}
			n++
		}
	}
	b.StopTimer()
	reportCPU(b)
	b.ReportMetric(float64(bytes*8)/float64(b.N)/1000, "kb/s")
	if _, ok := enc.(*vp8Encoder); ok {
		var sum float64
		for i, img := range decodeVP8(b, w, h, kept) {
			sum += psnrY(frames[i], img)
		}
		b.ReportMetric(sum/float64(len(kept)), "psnr-dB")
	}
}

// BenchmarkMeter: one second of PCM through the level meter (five 200 ms
// levels).
func BenchmarkMeter(b *testing.B) {
	pcm := sine(SampleRate, 440, 0.5)
	m := NewMeter(SampleRate, 200*time.Millisecond)
	levels := 0
	b.ResetTimer()
	for range b.N {
		for i := 0; i < len(pcm); i += 480 {
			m.Add(pcm[i:i+480], time.Time{}, func(Level) { levels++ })
		}
	}
	reportCPU(b)
}

// BenchmarkMP3Encode: one second of 48 kHz mono in 10 ms periods, as the
// microphone delivers it, to the default MP3 stream (24 kHz, 48 kbit/s).
// "tone" is a 440 Hz tone, "noise" white noise (the hard case). The q5 and
// reservoir runs are the settings not chosen (doc.go, "MP3").
func BenchmarkMP3Encode(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, SampleRate)
	for i := range noise {
		noise[i] = int16(rng.IntN(16384) - 8192)
	}
	for _, c := range []struct {
		name      string
		pcm       []int16
		quality   int
		reservoir bool
	}{
		{"tone", sine(SampleRate, 440, 0.25), mp3Quality, mp3Reservoir},
		{"noise", noise, mp3Quality, mp3Reservoir},
		{"noise/q5", noise, 5, mp3Reservoir},
		{"noise/reservoir", noise, mp3Quality, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			e, err := newMP3Encoder(MP3Config{}, c.quality, c.reservoir)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			const n = SampleRate / 100
			out := make([]byte, 0, 4096)
			bytes := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for i := 0; i < SampleRate; i += n {
					if out, err = e.Encode(out[:0], c.pcm[i:i+n]); err != nil {
						b.Fatal(err)
					}
					bytes += len(out)
				}
			}
			reportCPU(b)
			b.ReportMetric(float64(bytes*8)/float64(b.N)/1000, "kb/s")
		})
	}
}
