package pulsetest

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"testing"
)

func sine(n int, hz, amplitude float64) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(amplitude * 32767 * math.Sin(2*math.Pi*hz*float64(i)/Rate))
	}
	return pcm
}

func TestAnalysis(t *testing.T) {
	pcm := sine(Rate/2, 440, 0.5)
	if got := Dominant(pcm, Rate, 50, 5000, 5); got != 440 {
		t.Errorf("Dominant = %v, want 440", got)
	}
	if on, off := Goertzel(pcm, Rate, 440), Goertzel(pcm, Rate, 1000); on < 1000*off {
		t.Errorf("Goertzel at 440 = %g, at 1000 = %g", on, off)
	}
	if got := RMS(pcm); math.Abs(got-0.5/math.Sqrt2) > 0.01 {
		t.Errorf("RMS = %v, want %v", got, 0.5/math.Sqrt2)
	}
}

// TestPlayAndRecord plays a tone with pacat and finds it in the recording.
func TestPlayAndRecord(t *testing.T) {
	s := Start(t)
	rec := s.StartRecording(t)
	var raw bytes.Buffer
	_ = binary.Write(&raw, binary.LittleEndian, sine(Rate, 440, 0.5))
	cmd := exec.Command("pacat", "--playback", "--format=s16le", "--rate=48000", "--channels=1")
	cmd.Env = append(os.Environ(), s.Env()...)
	cmd.Stdin = &raw
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pacat: %v\n%s", err, out)
	}
	pcm := rec.Stop()
	if len(pcm) < Rate/2 {
		t.Fatalf("recorded %d samples, want at least %d", len(pcm), Rate/2)
	}
	if got := Dominant(pcm, Rate, 50, 5000, 5); got != 440 {
		t.Errorf("recorded dominant = %v Hz, want 440", got)
	}
	t.Logf("recorded %d samples, RMS %.3f", len(pcm), RMS(pcm))
}
