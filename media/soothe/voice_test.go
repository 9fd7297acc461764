package soothe

import (
	"math"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

func toInt16(f []float32) []int16 {
	out := make([]int16, len(f))
	for i, v := range f {
		out[i] = int16(clip(v) * 32767)
	}
	return out
}

// tone700 is a 10 ms frame of 700 Hz at half scale, starting at sample ts.
func tone700(ts uint32) play.Frame {
	pcm := make([]int16, Rate/100)
	for i := range pcm {
		pcm[i] = int16(16000 * math.Sin(2*math.Pi*700*float64(int(ts)+i)/Rate))
	}
	return play.Frame{PCM: pcm, TS: ts}
}

// TestVoiceChimeThenVoice: a voice plays its chime (two soft notes, no
// 700 Hz, under full scale), then the frames pushed, within the jitter
// buffer's small delay; silence when none come.
func TestVoiceChimeThenVoice(t *testing.T) {
	now := time.Unix(0, 0)
	v := NewVoice(VoiceConfig{Now: func() time.Time { return now }})
	var out []float32
	block := make([]float32, Rate/100)
	ts := uint32(0)
	for range 60 { // 600 ms: the voice talks from the first block
		v.Push(tone700(ts))
		ts += Rate / 100
		v.Fill(block)
		out = append(out, block...)
		now = now.Add(10 * time.Millisecond)
	}
	pcm := toInt16(out)
	chimeN := int(ChimeLen * Rate / time.Second)
	note := chimeN / 2
	low, high := pcm[:note], pcm[note:chimeN]
	if d := pulsetest.Dominant(low, Rate, 300, 1200, 5); math.Abs(d-ChimeLow) > 10 {
		t.Errorf("first note at %v Hz, want %v", d, ChimeLow)
	}
	if d := pulsetest.Dominant(high, Rate, 300, 1200, 5); math.Abs(d-ChimeHigh) > 10 {
		t.Errorf("second note at %v Hz, want %v", d, ChimeHigh)
	}
	for i, s := range pcm[:chimeN] {
		if math.Abs(float64(s)) > ChimeAmplitude*32768+1 {
			t.Fatalf("chime sample %d is %d: over its soft level", i, s)
		}
	}
	if p7, pc := pulsetest.Goertzel(pcm[:chimeN], Rate, 700), pulsetest.Goertzel(pcm[:chimeN], Rate, ChimeLow); p7 > pc/100 {
		t.Errorf("the voice sounds during the chime: 700 Hz power %g, chime %g", p7, pc)
	}
	// After the chime, within VoiceMaxDelay: the voice.
	start := chimeN + int(VoiceMaxDelay*Rate/time.Second)
	rest := pcm[start:]
	if d := pulsetest.Dominant(rest, Rate, 300, 1200, 5); math.Abs(d-700) > 5 {
		t.Errorf("after the chime the voice plays at %v Hz, want 700", d)
	}
	if r := pulsetest.RMS(rest); r < 0.3 {
		t.Errorf("voice RMS %.2f, want about 0.35 (half scale)", r)
	}
	if st := v.Stats(); st.Depth > VoiceMaxDelay+catchMargin {
		t.Errorf("voice buffered %v, want at most %v", st.Depth, VoiceMaxDelay)
	}
	// Nothing more comes: silence, not the last words again.
	for range 10 {
		v.Fill(block)
		now = now.Add(10 * time.Millisecond)
	}
	if r := pulsetest.RMS(toInt16(block)); r != 0 {
		t.Errorf("RMS %v with nothing pushed, want silence", r)
	}
}

// catchMargin is how far over its target the jitter buffer may sit
// before it catches up.
const catchMargin = 30 * time.Millisecond

// TestSpeakerDuck: a ducked stream falls to DuckGain (-12 dB) without a
// click, and comes back when unducked.
func TestSpeakerDuck(t *testing.T) {
	s, err := NewSpeaker(play.NewTestSink(time.Hour), 1) // fill driven here
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Play(constant(0.5))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]int16, Rate/10)
	half, ducked := float32(0.5), float32(0.5*DuckGain)
	full, low := int16(half*32767), int16(ducked*32767)
	s.fill(dst)
	if dst[len(dst)-1] != full {
		t.Fatalf("unducked %d", dst[len(dst)-1])
	}
	st.Duck(DuckGain)
	s.fill(dst)
	for i := 1; i < len(dst); i++ {
		if d := int(dst[i-1]) - int(dst[i]); d < 0 || d > 20 {
			t.Fatalf("ducking step %d at sample %d: a click", d, i)
		}
	}
	if got, want := dst[len(dst)-1], low; got < want-1 || got > want+1 {
		t.Errorf("ducked to %d, want %d", got, want)
	}
	st.Duck(1)
	s.fill(dst)
	if dst[len(dst)-1] != full {
		t.Errorf("unducked again %d", dst[len(dst)-1])
	}
}
