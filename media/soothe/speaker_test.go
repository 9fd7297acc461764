package soothe

import (
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// constant is a Source of one value.
type constant float32

func (c constant) Fill(dst []float32) {
	for i := range dst {
		dst[i] = float32(c)
	}
}

func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10 s", what)
	}
}

func newSpeaker(t *testing.T, ceiling float64) (*Speaker, *play.TestSink) {
	t.Helper()
	sink := play.NewTestSink(5 * time.Millisecond)
	s, err := NewSpeaker(sink, ceiling)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, sink
}

// TestSpeakerCeiling: two loud streams summed are clipped, and nothing
// the speaker plays peaks above its ceiling.
func TestSpeakerCeiling(t *testing.T) {
	s, sink := newSpeaker(t, 0.25)
	if _, err := s.Play(constant(0.9)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Play(constant(0.9)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sink.Wait(Rate/10), "0.1 s played")
	s.Close()
	pcm := sink.Played()
	ceil := float32(0.25)
	want := int16(ceil * 32767)
	for i, v := range pcm {
		if v > want || v < -want {
			t.Fatalf("sample %d is %d, over the ceiling %d", i, v, want)
		}
	}
	if pcm[len(pcm)-1] != want {
		t.Errorf("last sample %d, want the clipped sum at the ceiling %d", pcm[len(pcm)-1], want)
	}
}

// TestSpeakerFadeOut: a fade lowers the stream linearly to zero over its
// duration, then the stream ends; the speaker plays silence after.
func TestSpeakerFadeOut(t *testing.T) {
	s, sink := newSpeaker(t, 1)
	st, err := s.Play(constant(0.5))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, sink.Wait(Rate/20), "50 ms played")
	st.FadeOut(200 * time.Millisecond)
	if !st.Fading() {
		t.Error("not Fading during the fade")
	}
	waitDone(t, st.Done(), "the fade's end")
	if s.Playing() || st.Fading() {
		t.Error("the stream plays on after its fade")
	}
	n := len(sink.Played())
	waitDone(t, sink.Wait(n+Rate/20), "50 ms more")
	pcm := sink.Played()
	// Full level, then a ramp of 200 ms (9600 samples), then silence.
	start := -1
	for i, v := range pcm {
		if start < 0 && v > 0 && v < 16383 {
			start = i
		}
	}
	end := start
	for end < len(pcm) && pcm[end] != 0 {
		end++
	}
	if got := end - start; got < 9500 || got > 9700 {
		t.Errorf("fade of %d samples, want 9600 (200 ms)", got)
	}
	if mid := pcm[start+4800]; mid < 8000 || mid > 8400 {
		t.Errorf("half way through the fade: %d, want about 8192 (linear)", mid)
	}
	for i := end; i < len(pcm); i++ {
		if pcm[i] != 0 {
			t.Fatalf("sample %d after the fade is %d", i, pcm[i])
		}
	}
	if d := st.Played(); d < 200*time.Millisecond {
		t.Errorf("Played %v, want over 200 ms", d)
	}
}

// TestSpeakerStopAndClose: Stop ends a stream within its short ramp;
// Close ends the rest, and a second Close does nothing; Play after Close
// fails.
func TestSpeakerStopAndClose(t *testing.T) {
	s, _ := newSpeaker(t, 0.5)
	a, _ := s.Play(constant(0.1))
	b, _ := s.Play(constant(0.1))
	a.Stop()
	waitDone(t, a.Done(), "Stop")
	if !s.Playing() {
		t.Fatal("stopping one stream stopped the other")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, b.Done(), "Close")
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Play(constant(0.1)); err != ErrClosed {
		t.Errorf("Play after Close: %v, want ErrClosed", err)
	}
	if _, err := NewSpeaker(play.NewTestSink(0), 1.5); err == nil {
		t.Error("a ceiling over 1 accepted")
	}
}

// TestSpeakerPink plays pink noise through the speaker: the level is the
// sound's under the ceiling, and the colour survives the mix.
func TestSpeakerPink(t *testing.T) {
	s, sink := newSpeaker(t, 0.25)
	src, _ := New(Pink, 3)
	if _, err := s.Play(src); err != nil {
		t.Fatal(err)
	}
	waitDone(t, sink.Wait(Rate), "1 s played")
	s.Close()
	pcm := sink.Played()
	rms := pulsetest.RMS(pcm)
	if rms < 0.25*0.2 || rms > 0.25*0.3 {
		t.Errorf("RMS %.3f, want about 0.25 × 0.25", rms)
	}
	if slope := pulsetest.SpectrumDB(pcm, Rate, 4000) - pulsetest.SpectrumDB(pcm, Rate, 250); slope > -9 || slope < -15 {
		t.Errorf("slope %.1f dB over 4 octaves, want about -12 (pink)", slope)
	}
}
