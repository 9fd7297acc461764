package media

import (
	"math"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// subprocessEnv names the helper a test runs in a child copy of the test
// binary (see TestMicrophoneALSA); subprocesses maps the names to helpers.
const subprocessEnv = "CRADLE_MEDIA_SUBPROCESS"

var subprocesses = map[string]func() int{}

func TestMain(m *testing.M) {
	if f := subprocesses[os.Getenv(subprocessEnv)]; f != nil {
		os.Exit(f())
	}
	goleak.VerifyTestMain(m)
}

// goertzel returns the power of pcm at hz.
func goertzel(pcm []int16, hz float64) float64 {
	w := 2 * math.Pi * hz / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + c*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// dominant returns the strongest frequency of pcm between 50 Hz and 5 kHz,
// searched in 5 Hz steps.
func dominant(pcm []int16) float64 {
	best, bestP := 0.0, -1.0
	for hz := 50.0; hz <= 5000; hz += 5 {
		if p := goertzel(pcm, hz); p > bestP {
			best, bestP = hz, p
		}
	}
	return best
}

// sine returns n samples of a sine of hz at amplitude (of full scale).
func sine(n int, hz, amplitude float64) []int16 {
	t := Tone{Hz: hz, Amplitude: amplitude}
	pcm := make([]int16, n)
	t.Fill(pcm)
	return pcm
}
