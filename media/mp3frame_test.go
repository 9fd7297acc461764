package media

import (
	"errors"
	"testing"
)

// mp3Header builds a frame header: ver 3 (MPEG-1) or 2, Layer III, no
// CRC, the indexes given, mono.
func mp3Header(ver, brIdx, rateIdx, pad int) []byte {
	return []byte{0xff, byte(0xe0 | ver<<3 | layer3<<1 | 1), byte(brIdx<<4 | rateIdx<<2 | pad<<1), chanMono << 6}
}

func mustFormat(t testing.TB, cfg MP3Config) mp3Format {
	f, err := mp3FormatFor(cfg.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMP3FrameLen: the frame lengths of the configured format, and every
// field that differs from it refused.
func TestMP3FrameLen(t *testing.T) {
	def := mustFormat(t, MP3Config{})
	f44 := mustFormat(t, MP3Config{SampleRate: 44100, Bitrate: 128})
	for _, c := range []struct {
		name string
		f    mp3Format
		hdr  []byte
		want int // 0: refused
	}{
		{"24 kHz 48 kbit/s", def, mp3Header(mpeg2, 6, 1, 0), 144},
		{"padded", def, mp3Header(mpeg2, 6, 1, 1), 145},
		{"44.1 kHz 128 kbit/s", f44, mp3Header(mpeg1, 9, 0, 0), 417},
		{"44.1 kHz padded", f44, mp3Header(mpeg1, 9, 0, 1), 418},
		{"short", def, mp3Header(mpeg2, 6, 1, 0)[:3], 0},
		{"no sync", def, []byte{0xfe, 0xf3, 0x64, 0xc0}, 0},
		{"MPEG-1", def, mp3Header(mpeg1, 6, 1, 0), 0},
		{"MPEG-2.5", def, mp3Header(0, 6, 1, 0), 0},
		{"other bitrate", def, mp3Header(mpeg2, 7, 1, 0), 0},
		{"free format", def, mp3Header(mpeg2, 0, 1, 0), 0},
		{"bad bitrate", def, mp3Header(mpeg2, 15, 1, 0), 0},
		{"other rate", def, mp3Header(mpeg2, 6, 0, 0), 0},
		{"reserved rate", def, mp3Header(mpeg2, 6, 3, 0), 0},
		{"Layer II", def, []byte{0xff, 0xf5, 0x64, 0xc0}, 0},
		{"CRC", def, []byte{0xff, 0xf2, 0x64, 0xc0}, 0},
		{"stereo", def, []byte{0xff, 0xf3, 0x64, 0x00}, 0},
		{"emphasis", def, []byte{0xff, 0xf3, 0x64, 0xc1}, 0},
	} {
		got, err := c.f.frameLen(c.hdr)
		if c.want == 0 {
			if !errors.Is(err, ErrMP3Frame) {
				t.Errorf("%s: %d, %v; want ErrMP3Frame", c.name, got, err)
			}
			continue
		}
		if got != c.want || err != nil {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

// TestMP3Split: whole frames are taken, a partial one left.
func TestMP3Split(t *testing.T) {
	f := mustFormat(t, MP3Config{})
	frame := func(pad int) []byte { return append(mp3Header(mpeg2, 6, 1, pad), make([]byte, 140+pad)...) }
	two := append(frame(0), frame(1)...)
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"empty", nil, 0},
		{"half a header", two[:2], 0},
		{"a header", two[:4], 0},
		{"one frame", two[:144], 144},
		{"one and a bit", two[:150], 144},
		{"two", two, 289},
	} {
		if got, err := f.splitFrames(c.b); got != c.want || err != nil {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	bad := append(frame(0), 0, 0, 0, 0)
	if n, err := f.splitFrames(bad); !errors.Is(err, ErrMP3Frame) || n != 0 {
		t.Errorf("garbage after a frame: %d, %v; want 0, ErrMP3Frame", n, err)
	}
}

// FuzzMP3Frames: any bytes, any configured format: no panic, whole frames
// taken or an error, and what is left is less than a frame.
func FuzzMP3Frames(f *testing.F) {
	f.Add(uint8(0), uint8(0), append(mp3Header(mpeg2, 6, 1, 0), make([]byte, 150)...))
	f.Add(uint8(4), uint8(8), append(mp3Header(mpeg1, 9, 0, 1), make([]byte, 420)...))
	f.Add(uint8(1), uint8(13), []byte{0xff, 0xf3, 0xd0, 0xc0})
	f.Fuzz(func(t *testing.T, rate, br uint8, b []byte) {
		v := int(rate) % 6 / 3
		cfg := MP3Config{SampleRate: mp3Rates[v][int(rate)%3], Bitrate: mp3Bitrates[v][1+int(br)%14]}
		fm, err := mp3FormatFor(cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		n, err := fm.splitFrames(b)
		if err != nil {
			if n != 0 || !errors.Is(err, ErrMP3Frame) {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		for m := 0; m < n; {
			l, err := fm.frameLen(b[m:])
			if err != nil || l < mp3HdrLen || l > MaxMP3Frame || m+l > n {
				t.Fatalf("frame at %d: %d, %v (n %d)", m, l, err, n)
			}
			m += l
		}
		if rest := len(b) - n; rest >= MaxMP3Frame {
			t.Fatalf("left %d bytes, a frame is at most %d", rest, MaxMP3Frame)
		}
	})
}
