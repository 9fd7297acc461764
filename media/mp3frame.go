package media

import (
	"errors"
	"fmt"
	"time"
)

// MP3 defaults and limits.
const (
	// DefaultMP3SampleRate is the MP3 stream's output rate: MPEG-2 Layer
	// III, 576 samples (24 ms) a frame.
	DefaultMP3SampleRate = 24000
	// DefaultMP3Bitrate is the stream's constant bitrate in kbit/s.
	DefaultMP3Bitrate = 48
	// MaxMP3Frame bounds one MPEG-1/2 Layer III frame in bytes: 320 kbit/s
	// at 32 kHz with padding (144*320000/32000+1). The frame splitter
	// never holds more than this between calls.
	MaxMP3Frame = 1441
)

// Errors of the MP3 encoder.
var (
	// ErrMP3Config wraps a sample rate or bitrate the encoder does not
	// offer.
	ErrMP3Config = errors.New("media: mp3: unsupported configuration")
	// ErrMP3Frame wraps bytes from LAME that are not a frame of the format
	// the encoder configured (a bug in the binding or the library, never
	// the network).
	ErrMP3Frame = errors.New("media: mp3: bad frame")
)

// MP3Config configures an MP3Encoder. Zero fields take defaults.
type MP3Config struct {
	SampleRate int // output rate in Hz; default 24000 (MPEG-2 Layer III, 576-sample frames = 24 ms)
	Bitrate    int // CBR kbit/s; default 48
}

// mp3 header field values.
const (
	mpeg1     = 3 // version bits 11
	mpeg2     = 2 // version bits 10
	layer3    = 1 // layer bits 01
	chanMono  = 3 // channel mode 11
	mp3HdrLen = 4
)

var (
	// Layer III bitrates in kbit/s by bitrate index (0 = free format, 15
	// invalid; both refused).
	mp3Bitrates = [2][15]int{
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},     // MPEG-2
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}, // MPEG-1
	}
	// Sample rates by sample-rate index (3 is reserved).
	mp3Rates = [2][3]int{
		{22050, 24000, 16000}, // MPEG-2
		{44100, 48000, 32000}, // MPEG-1
	}
)

// mp3Format is the one frame format an encoder produces: MPEG-1 or -2
// Layer III, mono, no CRC, one sample rate and one bitrate. Only the
// padding bit varies from frame to frame (at 22.05 and 44.1 kHz).
type mp3Format struct {
	mpeg1   bool
	rate    int // Hz
	rateIdx int
	kbps    int
	brIdx   int
}

// mp3FormatFor validates cfg (after defaults) and returns its format.
func mp3FormatFor(cfg MP3Config) (mp3Format, error) {
	for v := 0; v < 2; v++ {
		for ri, r := range mp3Rates[v] {
			if r != cfg.SampleRate {
				continue
			}
			for bi, b := range mp3Bitrates[v] {
				if bi > 0 && b == cfg.Bitrate {
					return mp3Format{mpeg1: v == 1, rate: r, rateIdx: ri, kbps: b, brIdx: bi}, nil
				}
			}
			return mp3Format{}, fmt.Errorf("%w: %d kbit/s at %d Hz; %s offers %v kbit/s",
				ErrMP3Config, cfg.Bitrate, r, mpegName(v == 1), mp3Bitrates[v][1:])
		}
	}
	return mp3Format{}, fmt.Errorf("%w: sample rate %d Hz; use 16000, 22050, 24000, 32000, 44100 or 48000", ErrMP3Config, cfg.SampleRate)
}

func mpegName(m1 bool) string {
	if m1 {
		return "MPEG-1 Layer III"
	}
	return "MPEG-2 Layer III"
}

// withDefaults fills zero fields.
func (c MP3Config) withDefaults() MP3Config {
	if c.SampleRate == 0 {
		c.SampleRate = DefaultMP3SampleRate
	}
	if c.Bitrate == 0 {
		c.Bitrate = DefaultMP3Bitrate
	}
	return c
}

// samples is the number of samples in one frame: 1152 (MPEG-1) or 576.
func (f mp3Format) samples() int {
	if f.mpeg1 {
		return 1152
	}
	return 576
}

// duration is the audio in one frame.
func (f mp3Format) duration() time.Duration {
	return time.Duration(f.samples()) * time.Second / time.Duration(f.rate)
}

// frameLen checks the 4-byte header at the start of b against f and
// returns the frame's length in bytes. b shorter than a header is an
// error: the caller asks only when it has one.
func (f mp3Format) frameLen(b []byte) (int, error) {
	if len(b) < mp3HdrLen {
		return 0, fmt.Errorf("%w: %d bytes, shorter than a header", ErrMP3Frame, len(b))
	}
	h := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if h>>21 != 0x7ff {
		return 0, fmt.Errorf("%w: no sync (%08x)", ErrMP3Frame, h)
	}
	ver, layer, noCRC := int(h>>19&3), int(h>>17&3), h>>16&1
	brIdx, rateIdx, pad := int(h>>12&15), int(h>>10&3), int(h>>9&1)
	mode, emphasis := int(h>>6&3), h&3
	wantVer := mpeg2
	if f.mpeg1 {
		wantVer = mpeg1
	}
	switch {
	case ver != wantVer:
		return 0, fmt.Errorf("%w: version bits %d, want %d", ErrMP3Frame, ver, wantVer)
	case layer != layer3:
		return 0, fmt.Errorf("%w: layer bits %d, want Layer III", ErrMP3Frame, layer)
	case noCRC != 1:
		return 0, fmt.Errorf("%w: has a CRC", ErrMP3Frame)
	case brIdx != f.brIdx:
		return 0, fmt.Errorf("%w: bitrate index %d, want %d (%d kbit/s)", ErrMP3Frame, brIdx, f.brIdx, f.kbps)
	case rateIdx != f.rateIdx:
		return 0, fmt.Errorf("%w: sample-rate index %d, want %d (%d Hz)", ErrMP3Frame, rateIdx, f.rateIdx, f.rate)
	case mode != chanMono:
		return 0, fmt.Errorf("%w: channel mode %d, want mono", ErrMP3Frame, mode)
	case emphasis != 0:
		return 0, fmt.Errorf("%w: emphasis %d", ErrMP3Frame, emphasis)
	}
	// Bytes per frame = samples/8 * bitrate / rate, plus a padding byte.
	n := f.samples()/8*f.kbps*1000/f.rate + pad
	if n > MaxMP3Frame {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrMP3Frame, n, MaxMP3Frame)
	}
	return n, nil
}

// splitFrames returns how many leading bytes of b are whole frames of
// format f. The rest (less than one frame) waits for more bytes. Bytes
// that are not a frame of f are an error: the stream cannot resync, and
// nothing of it must reach a client.
func (f mp3Format) splitFrames(b []byte) (int, error) {
	n := 0
	for len(b)-n >= mp3HdrLen {
		l, err := f.frameLen(b[n:])
		if err != nil {
			return 0, fmt.Errorf("at byte %d: %w", n, err)
		}
		if len(b)-n < l {
			break
		}
		n += l
	}
	return n, nil
}
