package soothe

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// render returns d seconds of name as int16 at full scale.
func render(t testing.TB, name string, seed uint64, seconds float64) []int16 {
	t.Helper()
	src, err := New(name, seed)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, int(seconds*Rate))
	for off := 0; off < len(f); off += 480 { // in periods, as a speaker asks
		src.Fill(f[off:min(off+480, len(f))])
	}
	out := make([]int16, len(f))
	for i, v := range f {
		if v < -1 || v > 1 {
			t.Fatalf("%s: sample %d is %v, outside [-1, 1]", name, i, v)
		}
		out[i] = int16(v * 32767)
	}
	return out
}

func TestSoundsAreDeterministic(t *testing.T) {
	for _, name := range Names {
		a, b := render(t, name, 7, 0.5), render(t, name, 7, 0.5)
		if !slices.Equal(a, b) {
			t.Errorf("%s: two runs with one seed differ", name)
		}
	}
	if a, b := render(t, White, 7, 0.1), render(t, White, 8, 0.1); slices.Equal(a, b) {
		t.Error("white: seeds 7 and 8 give the same noise")
	}
	if _, err := New("rain", 1); !errors.Is(err, ErrUnknownSound) {
		t.Errorf("New(rain): %v, want ErrUnknownSound", err)
	}
}

// TestNoiseColours: every noise at about the same level (RMS -12 dBFS),
// and the spectrum's slope from 250 Hz to 4 kHz (four octaves) near 0
// dB for white, -12 for pink (-3 an octave), -24 for brown (-6 an
// octave).
func TestNoiseColours(t *testing.T) {
	for _, tt := range []struct {
		name   string
		slope  float64 // dB from 250 Hz to 4 kHz
		within float64
	}{
		{White, 0, 2}, {Pink, -12, 3}, {Brown, -24, 4},
	} {
		pcm := render(t, tt.name, 1, 4)
		rms := 20 * math.Log10(pulsetest.RMS(pcm))
		if rms < -15 || rms > -9 {
			t.Errorf("%s: RMS %.1f dBFS, want about -12", tt.name, rms)
		}
		slope := pulsetest.SpectrumDB(pcm, Rate, 4000) - pulsetest.SpectrumDB(pcm, Rate, 250)
		if math.Abs(slope-tt.slope) > tt.within {
			t.Errorf("%s: %.1f dB from 250 Hz to 4 kHz, want %.0f±%.0f", tt.name, slope, tt.slope, tt.within)
		}
		t.Logf("%s: RMS %.1f dBFS, slope %.1f dB over 4 octaves", tt.name, rms, slope)
	}
}

// TestHeartbeat: a low thump (around 55 Hz) once a second, silence
// between the beats.
func TestHeartbeat(t *testing.T) {
	pcm := render(t, Heartbeat, 1, 3)
	lub, rest := pcm[:Rate/10], pcm[Rate/2:Rate*9/10]
	if r := pulsetest.RMS(rest); r > 0.001 || pulsetest.RMS(lub) < 0.2 {
		t.Errorf("RMS of the lub %.3f, between beats %.4f: want a thump then quiet", pulsetest.RMS(lub), r)
	}
	if hz := pulsetest.Dominant(pcm, Rate, 20, 500, 5); hz < 45 || hz > 80 {
		t.Errorf("dominant frequency %v Hz, want a low thump (45-80 Hz)", hz)
	}
	if !slices.Equal(pcm[:Rate], pcm[Rate:2*Rate]) {
		t.Error("the beats are not one a second")
	}
}

// TestLullaby: the tune starts on E4 (329.6 Hz), moves to G4 (392 Hz),
// and repeats.
func TestLullaby(t *testing.T) {
	pcm := render(t, Lullaby, 1, 3)
	first := pcm[eighth/10 : eighth*9/10]
	if hz := pulsetest.Dominant(first, Rate, 200, 800, 1); math.Abs(hz-329.6) > 3 {
		t.Errorf("first note at %v Hz, want E4 (329.6)", hz)
	}
	g := pcm[2*eighth+eighth/10 : 3*eighth]
	if hz := pulsetest.Dominant(g, Rate, 200, 800, 1); math.Abs(hz-392) > 3 {
		t.Errorf("third note at %v Hz, want G4 (392)", hz)
	}
	if r := pulsetest.RMS(pcm); r < 0.05 {
		t.Errorf("RMS %.3f: too quiet", r)
	}
}

func BenchmarkSounds(b *testing.B) {
	for _, name := range Names {
		b.Run(name, func(b *testing.B) {
			src, _ := New(name, 1)
			buf := make([]float32, 480)
			b.SetBytes(480 * 2)
			for b.Loop() {
				src.Fill(buf)
			}
		})
	}
}
