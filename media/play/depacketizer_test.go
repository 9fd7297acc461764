//go:build cgo

package play

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// opusTone encodes n 10 ms packets of a 440 Hz tone as the monitor does
// (mediadevices' Opus encoder: VoIP, 32 kb/s, 10 ms frames).
func opusTone(tb testing.TB, n int) [][]byte {
	tb.Helper()
	p, err := opus.NewParams()
	if err != nil {
		tb.Fatal(err)
	}
	p.BitRate, p.Latency = 32000, opus.Latency10ms
	tone := media.Tone{Hz: 440, Amplitude: 0.25}
	r := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		pcm := make([]int16, 480)
		tone.Fill(pcm)
		return &wave.Int16Interleaved{Data: pcm, Size: wave.ChunkInfo{Len: 480, Channels: 1, SamplingRate: 48000}}, func() {}, nil
	})
	enc, err := p.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{SampleRate: 48000, ChannelCount: 1, SampleSize: 2, IsInterleaved: true}})
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	var out [][]byte
	for range n {
		b, release, err := enc.Read()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append([]byte(nil), b...))
		release()
	}
	return out
}

// TestDepacketizerScripts pushes packet i of a 10 ms stream (sequence
// number seq0+i, timestamp ts0+480i) in a scripted order. want has one
// word per push: a letter per frame returned, D decoded or C concealed,
// "-" for none. TS must run on by 480 per frame, except at a resync or a
// skip (where the decoded frame carries its packet's timestamp).
func TestDepacketizerScripts(t *testing.T) {
	pkts := opusTone(t, 1100)
	type push struct {
		i       int    // packet index
		seq, ts *int64 // overrides, else seq0+i and ts0+480i
	}
	p := func(is ...int) []push {
		var s []push
		for _, i := range is {
			s = append(s, push{i: i})
		}
		return s
	}
	at := func(i int, seq, ts int64) push { return push{i: i, seq: &seq, ts: &ts} }
	tests := []struct {
		name       string
		seq0, ts0  uint32
		pushes     []push
		want       string
		stats      DepacketizerStats
		jumpsAllow int // frames allowed to break TS continuity
	}{
		{name: "in order", pushes: p(0, 1, 2, 3, 4, 5), want: "D D D D D D",
			stats: DepacketizerStats{Decoded: 6}},
		{name: "one lost", pushes: p(0, 1, 3, 4), want: "D D CD D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 1, FEC: 1}},
		{name: "three lost", pushes: p(0, 1, 5, 6), want: "D D CCCD D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 3, FEC: 1}},
		{name: "ten lost", pushes: p(0, 11, 12), want: "D CCCCCCCCCCD D",
			stats: DepacketizerStats{Decoded: 3, Concealed: 10, FEC: 1}},
		{name: "too many lost", pushes: p(0, 1, 22, 23), want: "D D CCCCCCCCCCD D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 10, Skipped: 10}, jumpsAllow: 1},
		{name: "duplicate", pushes: p(0, 1, 1, 2, 2, 2, 3), want: "D D - D - - D",
			stats: DepacketizerStats{Decoded: 4, Duplicate: 3}},
		{name: "reordered arrives late", pushes: p(0, 1, 3, 2, 4), want: "D D CD - D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 1, FEC: 1, Late: 1}},
		{name: "very late", pushes: p(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1), want: "D D D D D D D D D D D -",
			stats: DepacketizerStats{Decoded: 11, Late: 1}},
		{name: "sequence wraps", seq0: 65533, ts0: 1<<32 - 960, pushes: p(0, 1, 2, 3, 4), want: "D D D D D",
			stats: DepacketizerStats{Decoded: 5}},
		{name: "loss across the wrap", seq0: 65534, pushes: p(0, 1, 3, 4), want: "D D CD D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 1, FEC: 1}},
		{name: "late across the wrap", seq0: 65534, pushes: p(0, 1, 3, 2, 4), want: "D D CD - D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 1, FEC: 1, Late: 1}},
		{name: "jump of 1000 resyncs", pushes: p(0, 1, 1001, 1002), want: "D D D D",
			stats: DepacketizerStats{Decoded: 4, Resyncs: 1}, jumpsAllow: 1},
		{name: "restart just behind", pushes: []push{{i: 0}, {i: 1}, {i: 2}, at(3, 0, 123456789), at(4, 1, 123456789+480)},
			want: "D D D D D", stats: DepacketizerStats{Decoded: 5, Resyncs: 1}, jumpsAllow: 1},
		{name: "timestamp jump resyncs", pushes: []push{{i: 0}, {i: 1}, at(2, 2, 5*48000), at(3, 3, 5*48000+480)},
			want: "D D D D", stats: DepacketizerStats{Decoded: 4, Resyncs: 1}, jumpsAllow: 1},
		{name: "stuck behind resyncs", pushes: append(p(0, 10), append(p(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), p(2)...)...),
			want:  "D CCCCCCCCCD " + strings.Repeat("- ", 25) + "D D",
			stats: DepacketizerStats{Decoded: 4, Concealed: 9, FEC: 1, Late: 25, Resyncs: 1}, jumpsAllow: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDepacketizer()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var got []string
			var prev *Frame
			jumps := 0
			for _, ps := range tt.pushes {
				seq := uint16(tt.seq0 + uint32(ps.i))
				ts := tt.ts0 + uint32(480*ps.i)
				if ps.seq != nil {
					seq, ts = uint16(*ps.seq), uint32(*ps.ts)
				}
				frames, err := d.Push(seq, ts, pkts[ps.i])
				if err != nil {
					t.Fatalf("push %d: %v", ps.i, err)
				}
				var w strings.Builder
				for k := range frames {
					f := &frames[k]
					if f.Concealed {
						w.WriteByte('C')
					} else {
						w.WriteByte('D')
						if f.TS != ts {
							t.Errorf("push %d: decoded frame TS %d, want its packet's %d", ps.i, f.TS, ts)
						}
					}
					if len(f.PCM) != 480 {
						t.Errorf("push %d: frame of %d samples", ps.i, len(f.PCM))
					}
					if prev != nil && f.TS != prev.TS+480 {
						jumps++
					}
					prev = f
				}
				if w.Len() == 0 {
					w.WriteByte('-')
				}
				got = append(got, w.String())
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("frames\n got %s\nwant %s", g, tt.want)
			}
			if jumps != tt.jumpsAllow {
				t.Errorf("%d timestamp discontinuities, want %d", jumps, tt.jumpsAllow)
			}
			if s := d.Stats(); s != tt.stats {
				t.Errorf("stats\n got %+v\nwant %+v", s, tt.stats)
			}
		})
	}
}

// TestDepacketizerCorrupt: a packet the decoder refuses is concealed, and
// Push says so while returning the frame to play.
func TestDepacketizerCorrupt(t *testing.T) {
	pkts := opusTone(t, 3)
	d, err := NewDepacketizer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Push(7, 0, pkts[0]); err != nil {
		t.Fatal(err)
	}
	for i, bad := range [][]byte{nil, {0x03}, make([]byte, media.MaxOpusPacket+1)} {
		frames, err := d.Push(uint16(8+i), uint32(480*(1+i)), bad)
		if !errors.Is(err, media.ErrOpusPacket) {
			t.Errorf("bad packet %d: err %v, want ErrOpusPacket", i, err)
		}
		if len(frames) != 1 || !frames[0].Concealed || len(frames[0].PCM) != 480 || frames[0].TS != uint32(480*(1+i)) {
			t.Errorf("bad packet %d: frames %+v, want one concealed frame of 480 at %d", i, frames, 480*(1+i))
		}
	}
	frames, err := d.Push(11, 480*4, pkts[1])
	if err != nil || len(frames) != 1 || frames[0].Concealed {
		t.Errorf("good packet after bad ones: %d frames, %v", len(frames), err)
	}
	if s := d.Stats(); s.Corrupt != 3 || s.Decoded != 2 || s.Concealed != 3 {
		t.Errorf("stats %+v", s)
	}
	d.Close()
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Push(12, 480*5, pkts[2]); !errors.Is(err, media.ErrClosed) {
		t.Errorf("Push after Close: %v, want ErrClosed", err)
	}
}

// TestDepacketizerLossKeepsTone: with every 7th packet lost the output is
// still a continuous 440 Hz tone, one frame per 10 ms.
func TestDepacketizerLossKeepsTone(t *testing.T) {
	pkts := opusTone(t, 200)
	d, err := NewDepacketizer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var pcm []int16
	for i, pkt := range pkts {
		if i%7 == 3 && i != len(pkts)-1 {
			continue
		}
		frames, err := d.Push(uint16(i), uint32(480*i), pkt)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			pcm = append(pcm, f.PCM...)
		}
	}
	if len(pcm) != 200*480 {
		t.Fatalf("%d samples, want %d", len(pcm), 200*480)
	}
	tail := pcm[len(pcm)/5:]
	if hz := pulsetest.Dominant(tail, 48000, 100, 2000, 5); math.Abs(hz-440) > 10 {
		t.Errorf("dominant %v Hz, want 440", hz)
	}
	if rms, _ := media.Measure(tail); rms < -22 || rms > -12 {
		t.Errorf("level %.1f dBFS, want about -18", rms)
	}
}

// FuzzDepacketizer drives a Depacketizer with a script of packets: each
// 4-byte step is a sequence delta, a timestamp choice and a payload choice.
// Nothing may panic, every frame is a valid Opus length, and the stats add
// up to the frames returned.
func FuzzDepacketizer(f *testing.F) {
	pkts := opusTone(f, 8)
	f.Add([]byte{1, 0, 0, 0, 1, 0, 1, 0, 3, 0, 2, 0, 0xff, 0, 3, 0})
	f.Add([]byte{1, 1, 0, 0, 0xe8, 3, 1, 0, 1, 2, 9, 0, 200, 0, 5, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		d, err := NewDepacketizer()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var seq uint16
		var ts uint32
		frames := 0
		for len(script) >= 4 {
			step := script[:4]
			script = script[4:]
			delta := int16(int8(step[0]))
			if step[1]&1 != 0 {
				delta *= 100
			}
			seq += uint16(delta)
			switch step[1] >> 1 & 3 {
			case 0:
				ts += uint32(int32(delta) * 480)
			case 1:
				ts += uint32(step[3]) * 120
			default:
				ts = uint32(step[3]) << 24
			}
			var payload []byte
			switch c := int(step[2]); {
			case c < len(pkts):
				payload = pkts[c]
			case c < 200:
				payload = script // garbage
				if len(payload) > 100 {
					payload = payload[:100]
				}
			}
			out, _ := d.Push(seq, ts, payload)
			if len(out) > MaxConceal+1 {
				t.Fatalf("%d frames from one packet", len(out))
			}
			for _, f := range out {
				if n := len(f.PCM); n == 0 || n > media.MaxFrameSamples || n%120 != 0 {
					t.Fatalf("frame of %d samples", n)
				}
			}
			frames += len(out)
		}
		if s := d.Stats(); s.Decoded+s.Concealed != uint64(frames) {
			t.Fatalf("stats %+v do not add up to %d frames", s, frames)
		}
	})
}
