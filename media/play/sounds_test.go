package play

import (
	"math"
	"testing"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

func power(pcm []int16, hz float64) float64 { return pulsetest.Goertzel(pcm, 48000, hz) }

func dominantHz(pcm []int16) float64 { return pulsetest.Dominant(pcm, 48000, 100, 4000, 10) }

func peak(pcm []int16) int {
	p := 0
	for _, s := range pcm {
		p = max(p, int(math.Abs(float64(s))))
	}
	return p
}

func TestAlarmPattern(t *testing.T) {
	var a AlarmSound
	pcm := make([]int16, 2*36000)
	// Fill in odd-sized chunks: it must continue where it stopped.
	for i := 0; i < len(pcm); i += 77 {
		a.Fill(pcm[i:min(i+77, len(pcm))])
	}
	seg := 12000
	for rep := range 2 {
		lo, hi, quiet := pcm[rep*3*seg:][:seg], pcm[rep*3*seg+seg:][:seg], pcm[rep*3*seg+2*seg:][:seg]
		if got := dominantHz(lo); got != AlarmHzLow {
			t.Errorf("repeat %d: first 250 ms dominant %v Hz, want %v", rep, got, AlarmHzLow)
		}
		if got := dominantHz(hi); got != AlarmHzHigh {
			t.Errorf("repeat %d: second 250 ms dominant %v Hz, want %v", rep, got, AlarmHzHigh)
		}
		if peak(quiet) != 0 {
			t.Errorf("repeat %d: the pause is not silent", rep)
		}
		if p, want := peak(lo), fullScaleOf(AlarmAmplitude); p < want-2 || p > want+1 {
			t.Errorf("peak %d, want %d (0.7 of full scale)", p, want)
		}
	}
	// The pattern repeats every 750 ms.
	for i := range 3 * seg {
		if pcm[i] != pcm[i+3*seg] {
			t.Fatalf("sample %d differs from the one 750 ms later", i)
		}
	}
	// Both tones are there over the whole pattern, well over 1250 Hz.
	for _, hz := range []float64{AlarmHzLow, AlarmHzHigh} {
		if power(pcm, hz) < 100*power(pcm, 1250) {
			t.Errorf("little energy at %v Hz", hz)
		}
	}
	// Fades: each tone starts and ends near zero, with no step at the
	// edges (a click) bigger than inside the tone.
	for _, edge := range []int{0, seg - 1, seg, 2*seg - 1} {
		if math.Abs(float64(pcm[edge])) > 200 {
			t.Errorf("sample %d at a tone edge is %d, want near 0 (no click)", edge, pcm[edge])
		}
	}
}

func TestAlarmStopsAtToneEnd(t *testing.T) {
	var a AlarmSound
	buf := make([]int16, 4800) // 100 ms
	a.Fill(buf)
	a.Stop()
	if !a.Sounding() {
		t.Fatal("stopped in the middle of a tone")
	}
	var rest []int16
	for a.Sounding() {
		a.Fill(buf)
		rest = append(rest, buf...)
	}
	// 150 ms of the tone is left, then silence.
	if len(rest) > 7*4800 {
		t.Errorf("took %d samples to stop, want at most 150 ms", len(rest))
	}
	if peak(rest[7200:]) != 0 {
		t.Error("sound after the end of the tone")
	}
	a.Start()
	a.Fill(buf)
	if dominantHz(buf) != AlarmHzLow {
		t.Error("a restarted alarm does not start with its first tone")
	}
	var b AlarmSound
	b.Stop() // at the start: silent at once
	if b.Sounding() {
		t.Error("an alarm stopped between tones still sounds")
	}
}

func TestChime(t *testing.T) {
	var c ChimeSound
	buf := make([]int16, 48000)
	c.Fill(buf)
	if peak(buf) != 0 || c.Sounding() {
		t.Fatal("a chime that was never rung sounds")
	}
	c.Ring()
	c.Fill(buf)
	half := 7200
	if got := dominantHz(buf[:half]); got != ChimeHzLow {
		t.Errorf("first half dominant %v Hz, want %v", got, ChimeHzLow)
	}
	if got := dominantHz(buf[half : 2*half]); got != ChimeHzHigh {
		t.Errorf("second half dominant %v Hz, want %v", got, ChimeHzHigh)
	}
	if p := peak(buf); p > fullScaleOf(ChimeAmplitude)+1 || p < fullScaleOf(ChimeAmplitude)-2 {
		t.Errorf("peak %d, want %d (0.2 of full scale)", p, fullScaleOf(ChimeAmplitude))
	}
	if peak(buf[2*half:]) != 0 || c.Sounding() {
		t.Error("the chime goes on after 300 ms")
	}
	c.Ring()
	c.Ring()
	c.Fill(buf)
	if peak(buf[2*half:4*half]) == 0 || peak(buf[4*half:]) != 0 {
		t.Error("two rings should play the chime twice, then stop")
	}
}

func fullScaleOf(amplitude float64) int { return int(math.Round(amplitude * 32767)) }
