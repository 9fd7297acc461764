//go:build cgo

package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/hajimehoshi/go-mp3"
)

func newMP3(tb testing.TB, cfg MP3Config) *MP3Encoder {
	tb.Helper()
	e, err := NewMP3Encoder(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// mp3Stream feeds pcm to e in chunks of the sizes given (cycled) and
// checks that every chunk Encode returns is whole frames of e's format.
// It returns the stream and, per Encode call, the samples fed so far and
// the frames returned so far.
func mp3Stream(t *testing.T, e *MP3Encoder, pcm []int16, sizes []int) (stream []byte, fed, frames []int) {
	t.Helper()
	nFrames := 0
	for i, k := 0, 0; i < len(pcm); k++ {
		n := min(sizes[k%len(sizes)], len(pcm)-i)
		out, err := e.Encode(nil, pcm[i:i+n])
		if err != nil {
			t.Fatal(err)
		}
		i += n
		for b := out; len(b) > 0; {
			l, err := e.format.frameLen(b)
			if err != nil {
				t.Fatalf("call %d: %v", k, err)
			}
			if l > len(b) {
				t.Fatalf("call %d returned a partial frame: %d of %d bytes", k, len(b), l)
			}
			b = b[l:]
			nFrames++
		}
		stream = append(stream, out...)
		fed, frames = append(fed, i), append(frames, nFrames)
	}
	return stream, fed, frames
}

// decodeMP3 decodes a stream with go-mp3 and returns its left channel and
// sample rate.
func decodeMP3(t *testing.T, stream []byte) ([]int16, int) {
	t.Helper()
	d, err := mp3.NewDecoder(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(raw)/4)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[4*i:]))
	}
	return pcm, d.SampleRate()
}

// goertzelAt is goertzel at any sample rate.
func goertzelAt(pcm []int16, rate int, hz float64) float64 {
	c := 2 * math.Cos(2*math.Pi*hz/float64(rate))
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + c*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

func rms(pcm []int16) float64 {
	var sum float64
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// TestMP3EncodeTone: 2 s of a 440 Hz tone, fed in ragged chunks (as the
// microphone's 10 ms periods and odd sizes), comes out of a real MP3
// decoder as 440 Hz at the level it went in, every chunk whole frames.
func TestMP3EncodeTone(t *testing.T) {
	for _, cfg := range []MP3Config{{}, {SampleRate: 22050, Bitrate: 32}, {SampleRate: 44100, Bitrate: 96}} {
		e := newMP3(t, cfg)
		in := sine(2*SampleRate, 440, 0.25)
		stream, _, _ := mp3Stream(t, e, in, []int{480, 0, 1, 7, 4801, 960, 123})
		out, rate := decodeMP3(t, stream)
		want := cfg.withDefaults().SampleRate
		if rate != want {
			t.Fatalf("%+v: decoded at %d Hz, want %d", cfg, rate, want)
		}
		// Leave out the start (encoder delay, the onset).
		out = out[rate/5:]
		best, bestP := 0.0, -1.0
		for hz := 100.0; hz <= 2000; hz += 5 {
			if p := goertzelAt(out, rate, hz); p > bestP {
				best, bestP = hz, p
			}
		}
		if best != 440 {
			t.Errorf("%+v: dominant %v Hz, want 440", cfg, best)
		}
		inDB := 20 * math.Log10(rms(in[SampleRate/5:])/32768)
		outDB := 20 * math.Log10(rms(out)/32768)
		if math.Abs(inDB-outDB) > 1 {
			t.Errorf("%+v: level %.1f dBFS, want %.1f ±1", cfg, outDB, inDB)
		}
		t.Logf("%+v: %d bytes, %v Hz, %.2f dBFS (in %.2f)", cfg, len(stream), best, outDB, inDB)
	}
}

// TestMP3Bitrate: every frame is the configured bitrate's size, so the
// stream carries exactly the bitrate per second of audio.
func TestMP3Bitrate(t *testing.T) {
	for _, cfg := range mp3TestConfigs {
		e := newMP3(t, cfg)
		c := cfg.withDefaults()
		stream, _, frames := mp3Stream(t, e, sine(5*SampleRate, 440, 0.25), []int{SampleRate / 100})
		fd := e.FrameDuration()
		if want := time.Duration(e.format.samples()) * time.Second / time.Duration(c.SampleRate); fd != want || fd == 0 {
			t.Fatalf("%+v: FrameDuration %v, want %v", cfg, fd, want)
		}
		n := frames[len(frames)-1]
		bps := float64(len(stream)) / (float64(n) * fd.Seconds())
		if want := float64(c.Bitrate) * 1000 / 8; math.Abs(bps-want) > want/200 {
			t.Errorf("%+v: %.1f bytes per second of audio, want %.0f", cfg, bps, want)
		}
		if got, want := float64(len(stream))/5, float64(c.Bitrate)*1000/8; got > want || got < want*0.95 {
			t.Errorf("%+v: %.1f bytes per second of input, want a little under %.0f", cfg, got, want)
		}
	}
}

var mp3TestConfigs = []MP3Config{{}, {SampleRate: 16000, Bitrate: 24}, {SampleRate: 22050, Bitrate: 32},
	{SampleRate: 32000, Bitrate: 64}, {SampleRate: 44100, Bitrate: 128}, {SampleRate: 48000, Bitrate: 320}}

// TestMP3Delay: the stream starts with LAME's encoder delay of silence
// (a tone after 0.5 s of silence decodes at 0.5 s + encoder delay + the
// decoder's 529 samples), and fed a sample at a time, no frame is returned
// later than Delay after its first sample went in.
func TestMP3Delay(t *testing.T) {
	for _, cfg := range mp3TestConfigs {
		e := newMP3(t, cfg)
		rate := cfg.withDefaults().SampleRate
		pcm := append(make([]int16, SampleRate/2), sine(SampleRate/2, 440, 0.5)...)
		stream, fed, frames := mp3Stream(t, e, pcm, []int{1})
		out, _ := decodeMP3(t, stream)
		on := -1
		for i, x := range out {
			if x > 1000 || x < -1000 {
				on = i
				break
			}
		}
		want := rate/2 + e.encDelay + 529
		if on < want-2 || on > want+rate/1000 { // the resampler adds a little
			t.Errorf("%+v: onset at sample %d, want %d (encoder delay %d)", cfg, on, want, e.encDelay)
		}
		// Frame k holds input from k*frame - encDelay: its first sample's
		// age when the frame comes back.
		sec := func(samples, rate int) time.Duration {
			return time.Duration(samples) * time.Second / time.Duration(rate)
		}
		var worst time.Duration
		prev := 0
		for i := range fed {
			for k := prev; k < frames[i]; k++ {
				worst = max(worst, sec(fed[i], SampleRate)-sec(k*e.format.samples()-e.encDelay, rate))
			}
			prev = frames[i]
		}
		if worst > e.Delay()+time.Millisecond || worst < e.Delay() {
			t.Errorf("%+v: a frame came back %v after its first sample; Delay() = %v", cfg, worst, e.Delay())
		}
		t.Logf("%+v: worst %v, Delay %v", cfg, worst, e.Delay())
	}
}

// TestMP3Config: every rate and bitrate the tables offer opens; others
// are ErrMP3Config.
func TestMP3Config(t *testing.T) {
	for v := range mp3Rates {
		for _, r := range mp3Rates[v] {
			for _, b := range mp3Bitrates[v][1:] {
				e, err := NewMP3Encoder(MP3Config{SampleRate: r, Bitrate: b})
				if err != nil {
					t.Errorf("%d Hz %d kbit/s: %v", r, b, err)
					continue
				}
				out, err := e.Encode(nil, sine(SampleRate/2, 440, 0.25))
				if err != nil || len(out) == 0 {
					t.Errorf("%d Hz %d kbit/s: %d bytes, %v", r, b, len(out), err)
				}
				e.Close()
			}
		}
	}
	for _, cfg := range []MP3Config{{SampleRate: 8000}, {SampleRate: 11025}, {SampleRate: 96000}, {SampleRate: -1},
		{Bitrate: 320}, {Bitrate: 47}, {Bitrate: -48}, {SampleRate: 48000, Bitrate: 16}} {
		if _, err := NewMP3Encoder(cfg); !errors.Is(err, ErrMP3Config) {
			t.Errorf("%+v: %v, want ErrMP3Config", cfg, err)
		}
	}
}

// TestMP3Close: Close twice is fine; Encode after it is ErrClosed and
// leaves dst alone.
func TestMP3Close(t *testing.T) {
	e, err := NewMP3Encoder(MP3Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Encode(nil, sine(SampleRate, 440, 0.25)); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	dst := []byte("kept")
	if got, err := e.Encode(dst, sine(480, 440, 0.25)); !errors.Is(err, ErrClosed) || string(got) != "kept" {
		t.Fatalf("Encode after Close = %q, %v; want %q, ErrClosed", got, err, "kept")
	}
}

// TestMP3EncodeAppends: Encode appends to dst, and an empty pcm adds
// nothing.
func TestMP3EncodeAppends(t *testing.T) {
	e := newMP3(t, MP3Config{})
	dst := []byte("head")
	got, err := e.Encode(dst, nil)
	if err != nil || string(got) != "head" {
		t.Fatalf("Encode(dst, nil) = %q, %v", got, err)
	}
	got, err = e.Encode(dst, sine(SampleRate, 440, 0.25))
	if err != nil || string(got[:4]) != "head" || len(got) <= 4 {
		t.Fatalf("Encode(dst, 1 s) = %d bytes starting %q, %v", len(got), got[:min(4, len(got))], err)
	}
}

// TestMP3TakeWholeFrames: LAME 3.100 without a reservoir happens to return
// whole frames, but the encoder does not count on it: LAME's bytes cut
// anywhere come out as the same stream, whole frames at a time.
func TestMP3TakeWholeFrames(t *testing.T) {
	for _, cfg := range []MP3Config{{}, {SampleRate: 22050, Bitrate: 32}} {
		src := newMP3(t, cfg)
		stream, _, _ := mp3Stream(t, src, sine(SampleRate, 440, 0.25), []int{SampleRate})
		e := &MP3Encoder{format: src.format}
		var got []byte
		for i, k := 0, 0; i < len(stream); k++ {
			n := min([]int{1, 3, 50, 200, 0, 777}[k%6], len(stream)-i)
			before := len(got)
			var err error
			if got, err = e.take(got, stream[i:i+n]); err != nil {
				t.Fatal(err)
			}
			if m, err := e.format.splitFrames(got[before:]); m != len(got)-before || err != nil {
				t.Fatalf("%+v: returned %d bytes, of which %d whole frames (%v)", cfg, len(got)-before, m, err)
			}
			if len(e.pending) >= MaxMP3Frame {
				t.Fatalf("holds %d bytes", len(e.pending))
			}
			i += n
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("%+v: %d bytes out of %d in, or different", cfg, len(got), len(stream))
		}
	}
}
