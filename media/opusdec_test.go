//go:build cgo

package media

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// encodeTone encodes frames 10 ms frames of a 440 Hz tone with the
// project's own encoder at its default settings.
func encodeTone(tb testing.TB, frames int) [][]byte {
	tb.Helper()
	cfg := Config{}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	enc, err := newOpusEncoder(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	tone := Tone{Hz: 440, Amplitude: 0.25}
	n := SampleRate * int(cfg.AudioFrame.Milliseconds()) / 1000
	var pkts [][]byte
	for range frames {
		pcm := make([]int16, n)
		tone.Fill(pcm)
		p, err := enc.Encode(pcm)
		if err != nil {
			tb.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), p...))
	}
	return pkts
}

func newDecoder(tb testing.TB) *OpusDecoder {
	tb.Helper()
	d, err := NewOpusDecoder()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func TestOpusDecodeTone(t *testing.T) {
	pkts := encodeTone(t, 100)
	d := newDecoder(t)
	pcm := make([]int16, MaxFrameSamples)
	var out []int16
	for i, p := range pkts {
		n, err := d.Decode(p, pcm)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if n != 480 {
			t.Fatalf("packet %d: %d samples, want 480 (10 ms)", i, n)
		}
		out = append(out, pcm[:n]...)
	}
	if len(out) != 100*480 {
		t.Fatalf("decoded %d samples, want %d", len(out), 100*480)
	}
	// Skip the first 200 ms: the encoder's look-ahead and ramp-up.
	tail := out[len(out)/5:]
	if hz := dominant(tail); math.Abs(hz-440) > 5 {
		t.Errorf("dominant frequency %g Hz, want 440", hz)
	}
	rms, _ := Measure(tail)
	if want := DBFS(0.25 / math.Sqrt2); math.Abs(rms-want) > 3 {
		t.Errorf("level %.1f dBFS, want %.1f ± 3", rms, want)
	}
}

func TestOpusConceal(t *testing.T) {
	pkts := encodeTone(t, 50)
	d := newDecoder(t)
	pcm := make([]int16, MaxFrameSamples)
	for _, p := range pkts[:49] {
		if _, err := d.Decode(p, pcm); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{480, 960} {
		got, err := d.Conceal(pcm, n)
		if err != nil || got != n {
			t.Fatalf("Conceal(%d) = %d, %v; want %d", n, got, err, n)
		}
	}
	// The encoder sends no FEC (see TestOpusEncoderSendsNoFEC), so
	// DecodeFEC is PLC: n samples, no error.
	if got, err := d.DecodeFEC(pkts[49], pcm, 480); err != nil || got != 480 {
		t.Fatalf("DecodeFEC = %d, %v; want 480", got, err)
	}
	if n, err := d.Decode(pkts[49], pcm); err != nil || n != 480 {
		t.Fatalf("Decode after concealment = %d, %v", n, err)
	}
}

// TestOpusEncoderSendsNoFEC records a fact the depacketizer relies on:
// mediadevices' opus.Params has no FEC or expected-loss setting, so the
// encoder keeps libopus's default (OPUS_SET_INBAND_FEC 0) and our packets
// carry no in-band FEC: DecodeFEC gives exactly what Conceal gives. If this
// fails, the packets started carrying FEC.
func TestOpusEncoderSendsNoFEC(t *testing.T) {
	pkts := encodeTone(t, 60)
	silk := 0
	for _, p := range pkts {
		if p[0]>>3 < 16 { // TOC config 0-15: SILK or hybrid, where FEC lives
			silk++
		}
	}
	t.Logf("%d of %d packets SILK or hybrid (TOC config of the first: %d)", silk, len(pkts), pkts[0][0]>>3)
	a, b := newDecoder(t), newDecoder(t)
	pa, pb := make([]int16, MaxFrameSamples), make([]int16, MaxFrameSamples)
	for k := 20; k < 60; k += 10 {
		for _, p := range pkts[k-10 : k] {
			a.Decode(p, pa)
			b.Decode(p, pb)
		}
		na, erra := a.DecodeFEC(pkts[k], pa, 480)
		nb, errb := b.Conceal(pb, 480)
		if erra != nil || errb != nil || na != nb {
			t.Fatalf("frame %d: DecodeFEC %d, %v; Conceal %d, %v", k-1, na, erra, nb, errb)
		}
		if !slices.Equal(pa[:na], pb[:nb]) {
			t.Fatalf("frame %d: DecodeFEC differs from Conceal: packet %d carries FEC", k-1, k)
		}
	}
}

func TestOpusDecodeRejects(t *testing.T) {
	d := newDecoder(t)
	pcm := make([]int16, MaxFrameSamples)
	for _, tc := range []struct {
		name string
		pkt  []byte
		pcm  []int16
		want error
	}{
		{"empty", nil, pcm, ErrOpusPacket},
		{"too large", make([]byte, MaxOpusPacket+1), pcm, ErrOpusPacket},
		{"small buffer", []byte{0xf8, 0xff, 0xfe}, pcm[:480], ErrOpusBuffer},
		{"corrupt", []byte{0x03}, pcm, ErrOpusPacket}, // code 3 without its count byte
	} {
		if _, err := d.Decode(tc.pkt, tc.pcm); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, n := range []int{0, -1, 100, MaxFrameSamples + 120} {
		if _, err := d.Conceal(pcm, n); !errors.Is(err, ErrOpusBuffer) {
			t.Errorf("Conceal(%d): err %v, want ErrOpusBuffer", n, err)
		}
	}
	d.Close()
	d.Close()
	if _, err := d.Decode([]byte{0xf8, 0xff, 0xfe}, pcm); !errors.Is(err, ErrClosed) {
		t.Errorf("Decode after Close: %v, want ErrClosed", err)
	}
}

// FuzzOpusDecode feeds outside bytes to libopus through Decode and
// DecodeFEC: nothing may crash, and a success stays within the buffer.
func FuzzOpusDecode(f *testing.F) {
	for _, p := range encodeTone(f, 3) {
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{0xf8, 0xff, 0xfe})
	f.Add(make([]byte, MaxOpusPacket+1))
	d, err := NewOpusDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer d.Close()
	pcm := make([]int16, MaxFrameSamples)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		n, err := d.Decode(pkt, pcm)
		if err == nil && (n < 0 || n > MaxFrameSamples) {
			t.Fatalf("Decode returned %d samples", n)
		}
		if (len(pkt) == 0 || len(pkt) > MaxOpusPacket) && !errors.Is(err, ErrOpusPacket) {
			t.Fatalf("bad size not rejected as ErrOpusPacket: %v", err)
		}
		if len(pkt) > 0 && len(pkt) <= MaxOpusPacket {
			if n, err := d.DecodeFEC(pkt, pcm, 480); err == nil && n != 480 {
				t.Fatalf("DecodeFEC returned %d samples, want 480", n)
			}
		}
	})
}

// BenchmarkOpusDecode decodes one 10 ms packet of a tone per iteration.
func BenchmarkOpusDecode(b *testing.B) {
	pkts := encodeTone(b, 100)
	d := newDecoder(b)
	pcm := make([]int16, MaxFrameSamples)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Decode(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
	}
}
