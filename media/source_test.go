package media

import (
	"errors"
	"image"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func TestToneFrequencyAndLevel(t *testing.T) {
	for _, hz := range []float64{440, 1000, 3000} {
		pcm := sine(SampleRate/2, hz, 0.5)
		if got := dominant(pcm); math.Abs(got-hz) > 5 {
			t.Errorf("%v Hz tone: dominant %v Hz", hz, got)
		}
		if rms, _ := Measure(pcm); math.Abs(rms-(-9.03)) > 0.05 {
			t.Errorf("%v Hz tone: RMS %.2f dBFS, want -9.03", hz, rms)
		}
	}
}

// TestToneContinuous checks that consecutive Fill calls continue the wave
// without a click: filling in pieces equals filling at once.
func TestToneContinuous(t *testing.T) {
	whole := sine(4800, 440, 0.8)
	tone := Tone{Hz: 440, Amplitude: 0.8}
	for i := 0; i < len(whole); i += 333 {
		part := make([]int16, min(333, len(whole)-i))
		tone.Fill(part)
		for j, s := range part {
			if d := int(s) - int(whole[i+j]); d < -1 || d > 1 {
				t.Fatalf("sample %d: %d, want %d", i+j, s, whole[i+j])
			}
		}
	}
}

// TestTonePacing reads half a second of the tone in virtual time: each
// chunk arrives when its last sample would have been captured.
func TestTonePacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := NewToneSource(440, 0.25)
		st, err := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Now()
		var all []int16
		for i := range 50 {
			pcm, err := st.Read()
			if err != nil {
				t.Fatal(err)
			}
			if len(pcm.Samples) != 480 {
				t.Fatalf("chunk %d: %d samples, want 480", i, len(pcm.Samples))
			}
			if want := start.Add(time.Duration(i) * 10 * time.Millisecond); !pcm.Captured.Equal(want) {
				t.Fatalf("chunk %d captured at %v, want %v", i, pcm.Captured.Sub(start), want.Sub(start))
			}
			if now := time.Since(start); now != time.Duration(i+1)*10*time.Millisecond {
				t.Fatalf("chunk %d returned at %v", i, now)
			}
			all = append(all, pcm.Samples...)
		}
		if got := dominant(all); got != 440 {
			t.Errorf("dominant %v Hz, want 440", got)
		}
	})
}

// TestToneCatchesUp checks that a reader that stalls for long does not get
// a burst of old chunks.
func TestToneCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, _ := NewToneSource(440, 0.25).OpenAudio(AudioFormat{Chunk: 20 * time.Millisecond})
		defer st.Close()
		if _, err := st.Read(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		stalled := time.Now()
		pcm, _ := st.Read()
		if d := stalled.Sub(pcm.Captured); d > 20*time.Millisecond {
			t.Errorf("after a stall, chunk is %v old", d)
		}
		pcm2, _ := st.Read()
		if d := pcm2.Captured.Sub(pcm.Captured); d != 20*time.Millisecond {
			t.Errorf("next chunk %v later, want 20ms", d)
		}
	})
}

func TestStreamCloseUnblocksRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := NewToneSource(440, 0.25).OpenAudio(AudioFormat{Chunk: time.Second})
		v, _ := NewPatternSource().OpenVideo(VideoFormat{Width: 64, Height: 48, FPS: 1})
		errs := make(chan error, 2)
		go func() { _, err := a.Read(); errs <- err }()
		go func() { _, err := v.Read(); errs <- err }()
		synctest.Wait()
		a.Close()
		v.Close()
		a.Close() // idempotent
		for range 2 {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Errorf("Read after Close: %v, want ErrClosed", err)
			}
		}
		if _, err := a.Read(); !errors.Is(err, ErrClosed) {
			t.Errorf("Read on a closed stream: %v", err)
		}
	})
}

func TestPatternMovesAndIsDeterministic(t *testing.T) {
	rect := image.Rect(0, 0, 320, 240)
	draw := func(n int) *image.YCbCr {
		img := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
		var p Pattern
		p.Draw(img, n)
		return img
	}
	a, a2, b := draw(7), draw(7), draw(8)
	if string(a.Y) != string(a2.Y) || string(a.Cb) != string(a2.Cb) {
		t.Error("frame 7 drawn twice differs")
	}
	if string(a.Y) == string(b.Y) {
		t.Error("frames 7 and 8 are the same: the pattern does not move")
	}
	// The bars: the left edge is white, the right edge black (away from
	// the square, which is in the top-left area at frame 0).
	f0 := draw(0)
	if got := f0.Y[(239)*f0.YStride+0]; got != 235 {
		t.Errorf("bottom-left luma %d, want 235 (white bar)", got)
	}
	if got := f0.Y[(239)*f0.YStride+319]; got != 16 {
		t.Errorf("bottom-right luma %d, want 16 (black bar)", got)
	}
}

func TestPatternPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, err := NewPatternSource().OpenVideo(VideoFormat{Width: 160, Height: 120, FPS: 15})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Now()
		var prev string
		for i := range 15 {
			f, err := st.Read()
			if err != nil {
				t.Fatal(err)
			}
			if f.Image.Rect.Dx() != 160 || f.Image.SubsampleRatio != image.YCbCrSubsampleRatio420 {
				t.Fatalf("frame %d: %v %v", i, f.Image.Rect, f.Image.SubsampleRatio)
			}
			if string(f.Image.Y) == prev {
				t.Fatalf("frame %d repeats the previous one", i)
			}
			prev = string(f.Image.Y)
		}
		if d := time.Since(start); d != 15*(time.Second/15) {
			t.Errorf("15 frames at 15 fps took %v", d)
		}
	})
}
