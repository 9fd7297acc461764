//go:build cgo

package play

import (
	"math"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// TestOpenInput captures a PulseAudio source by name (a null sink's
// monitor, into which a 700 Hz sine plays): the chunks carry the tone and
// keep up with real time once they flow (a null sink's monitor starts
// late, up to 2 s: its own latency); Close ends Read.
func TestOpenInput(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	srv.Load(t, "module-null-sink sink_name=room rate=48000 channels=1")
	srv.Load(t, "module-sine sink=room frequency=700")
	in, err := OpenInput("room.monitor")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var pcm []int16
	var first time.Duration
	var flowing time.Time
	for len(pcm) < 48000 {
		p, err := in.Read()
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first, flowing = time.Since(began), time.Now()
		}
		pcm = append(pcm, p...)
	}
	took := time.Since(flowing)
	in.Close()
	if _, err := in.Read(); err != ErrInputClosed {
		t.Errorf("Read after Close: %v", err)
	}
	t.Logf("first chunk after %v, then 1 s of audio in %v, rms %.3f", first, took, pulsetest.RMS(pcm))
	tail := pcm[len(pcm)/2:]
	if d := pulsetest.Dominant(tail, 48000, 300, 1200, 5); math.Abs(d-700) > 5 {
		t.Errorf("captured %v Hz, want 700", d)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("1 s of audio took %v once flowing", took)
	}
	if first > 5*time.Second {
		t.Errorf("the first chunk after %v", first)
	}
}
