//go:build cgo

package media

import (
	"errors"
	"testing"
)

// TestOpusEncoderRoundTrip: the exported encoder's packets decode back to
// the tone it was given, 480 samples per packet; wrong frame sizes and
// use after Close are errors.
func TestOpusEncoderRoundTrip(t *testing.T) {
	enc, err := NewOpusEncoder(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if enc.FrameSamples() != 480 {
		t.Fatalf("FrameSamples = %d, want 480", enc.FrameSamples())
	}
	if _, err := enc.Encode(make([]int16, 960)); err == nil {
		t.Fatal("Encode of 960 samples at 10 ms frames succeeded")
	}
	d := newDecoder(t)
	tone := Tone{Hz: 1000, Amplitude: 0.5}
	pcm := make([]int16, 480)
	out := make([]int16, MaxFrameSamples)
	var all []int16
	for i := range 50 {
		tone.Fill(pcm)
		pkt, err := enc.Encode(pcm)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		n, err := d.Decode(pkt, out)
		if err != nil || n != 480 {
			t.Fatalf("frame %d decoded to %d samples, %v", i, n, err)
		}
		all = append(all, out[:n]...)
	}
	if hz := dominant(all[len(all)/2:]); hz < 990 || hz > 1010 {
		t.Fatalf("decoded tone at %v Hz, want 1000", hz)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := enc.Encode(pcm); !errors.Is(err, ErrClosed) {
		t.Fatalf("Encode after Close = %v, want ErrClosed", err)
	}
}
