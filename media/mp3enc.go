//go:build cgo

package media

/*
#cgo LDFLAGS: -lmp3lame
#include <stdarg.h>
#include <stdlib.h>
#include <lame/lame.h>

// LAME prints notes and errors to stderr unless told otherwise; the
// monitor's stderr is its log.
static void cradle_lame_quiet(const char *format, va_list ap) { (void)format; (void)ap; }

// cradle_lame_open sets LAME up for an endless low-latency stream: 48 kHz
// mono in, CBR mono out, no Xing/Info or ID3 tags, no bit reservoir.
// It returns NULL if LAME refuses the parameters.
static lame_global_flags *cradle_lame_open(int in_rate, int out_rate, int kbps, int quality, int reservoir) {
	lame_global_flags *gf = lame_init();
	if (!gf) return NULL;
	lame_set_errorf(gf, cradle_lame_quiet);
	lame_set_debugf(gf, cradle_lame_quiet);
	lame_set_msgf(gf, cradle_lame_quiet);
	lame_set_in_samplerate(gf, in_rate);
	lame_set_out_samplerate(gf, out_rate);
	lame_set_num_channels(gf, 1);
	lame_set_mode(gf, MONO);
	lame_set_VBR(gf, vbr_off);
	lame_set_brate(gf, kbps);
	lame_set_quality(gf, quality);
	lame_set_bWriteVbrTag(gf, 0);
	lame_set_write_id3tag_automatic(gf, 0);
	lame_set_error_protection(gf, 0);
	lame_set_disable_reservoir(gf, !reservoir);
	if (lame_init_params(gf) < 0) {
		lame_close(gf);
		return NULL;
	}
	return gf;
}

static int cradle_lame_encode(lame_global_flags *gf, short *pcm, int n, unsigned char *out, int cap) {
	// Mono: LAME reads only the left channel.
	return lame_encode_buffer(gf, pcm, pcm, n, out, cap);
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// LAME settings for the stream (see doc.go, "MP3").
const (
	// mp3Quality is LAME's algorithm quality, 0 best and slowest to 9
	// worst. 7 ("fast") takes about 30 % less CPU than the default 5 on
	// noise (BenchmarkMP3Encode: 1.8 against 2.6 ms per second of audio
	// here), and a two-tone test signal came out no worse at 48 kbit/s
	// (SNR 74 dB against 59 dB).
	mp3Quality = 7
	// mp3Reservoir: false turns LAME's bit reservoir off, so every frame
	// holds its own audio and LAME hands it over as soon as it is encoded.
	// With the reservoir, frames wait for later ones: a frame's first
	// sample is 106 ms old when it comes back at 24 kHz, not 57 ms, for
	// under 0.5 dB of SNR at 48 kbit/s.
	mp3Reservoir = false
	// mp3Chunk is the most PCM one lame_encode_buffer call takes (1 s), so
	// the output buffer stays small whatever Encode is given.
	mp3Chunk = SampleRate
)

// MP3Encoder encodes 48 kHz mono int16 PCM (media.SampleRate) to a CBR MP3
// byte stream (LAME resamples to cfg.SampleRate). Not safe for concurrent
// use.
type MP3Encoder struct {
	gf     *C.lame_global_flags
	format mp3Format
	delay  time.Duration
	// encDelay is LAME's encoder delay in samples at the output rate: the
	// stream starts with this much silence before the first sample.
	encDelay int
	out      []byte // LAME's output buffer
	pending  []byte // the start of a frame LAME has not finished
	err      error  // a broken stream stays broken
}

// NewMP3Encoder returns an encoder for cfg (zero fields take defaults:
// 24 kHz, 48 kbit/s). Sample rates: 16000, 22050, 24000 (MPEG-2; 8 to 160
// kbit/s) and 32000, 44100, 48000 (MPEG-1; 32 to 320 kbit/s); anything
// else is ErrMP3Config. Without cgo it returns ErrNoEncoder.
func NewMP3Encoder(cfg MP3Config) (*MP3Encoder, error) {
	return newMP3Encoder(cfg, mp3Quality, mp3Reservoir)
}

// newMP3Encoder is NewMP3Encoder with LAME's quality and reservoir
// chosen, for the benchmarks that justify the constants.
func newMP3Encoder(cfg MP3Config, quality int, reservoir bool) (*MP3Encoder, error) {
	cfg = cfg.withDefaults()
	f, err := mp3FormatFor(cfg)
	if err != nil {
		return nil, err
	}
	res := C.int(0)
	if reservoir {
		res = 1
	}
	gf := C.cradle_lame_open(C.int(SampleRate), C.int(f.rate), C.int(f.kbps), C.int(quality), res)
	if gf == nil {
		return nil, fmt.Errorf("%w: LAME refuses %d kbit/s at %d Hz", ErrMP3Config, f.kbps, f.rate)
	}
	// LAME rounds a bitrate or rate it dislikes; the frame check would then
	// refuse every frame. Refuse the configuration instead.
	if got, gotRate := int(C.lame_get_brate(gf)), int(C.lame_get_out_samplerate(gf)); got != f.kbps || gotRate != f.rate {
		C.lame_close(gf)
		return nil, fmt.Errorf("%w: LAME made %d kbit/s at %d Hz of %d kbit/s at %d Hz", ErrMP3Config, got, gotRate, f.kbps, f.rate)
	}
	if n := int(C.lame_get_framesize(gf)); n != f.samples() {
		C.lame_close(gf)
		return nil, fmt.Errorf("%w: LAME frames of %d samples, want %d", ErrMP3Config, n, f.samples())
	}
	e := &MP3Encoder{
		gf:      gf,
		format:  f,
		out:     make([]byte, mp3Chunk*5/4+7200), // LAME's worst case
		pending: make([]byte, 0, MaxMP3Frame),
		// 576 in LAME 3.100 for every rate.
		encDelay: int(C.lame_get_encoder_delay(gf)),
	}
	e.delay = e.lameDelay()
	return e, nil
}

// mp3LookAhead is how many samples (at the output rate) past the end of
// a frame LAME 3.100 reads before it encodes the frame: its psychoacoustic
// FFT's look-ahead, BLKSIZE - FFTOFFSET - ENCDELAY + MDCTDELAY =
// 1024 - 272 - 576 + 48 (encoder.h, calcNeeded in lame.c).
// TestMP3Delay measures it.
const mp3LookAhead = 224

// lameDelay is the encoder's latency, the age of a frame's first sample
// when the frame is returned: LAME's encoder delay (the silence it puts
// before the first sample; 576 samples), the frame, and the look-ahead.
// The resampler adds well under a millisecond.
func (e *MP3Encoder) lameDelay() time.Duration {
	n := e.encDelay + e.format.samples() + mp3LookAhead
	return time.Duration(n) * time.Second / time.Duration(e.format.rate)
}

// Encode appends the MP3 bytes produced for pcm (any length, including 0)
// to dst and returns it. Output is whole MPEG frames only (never a partial
// frame), so the bytes can be flushed to a client at once; LAME's internal
// delay means early calls may return nothing. After Close it returns
// ErrClosed; after an error every call returns that error.
func (e *MP3Encoder) Encode(dst []byte, pcm []int16) ([]byte, error) {
	if e.gf == nil {
		return dst, ErrClosed
	}
	if e.err != nil {
		return dst, e.err
	}
	for len(pcm) > 0 {
		n := min(len(pcm), mp3Chunk)
		got := C.cradle_lame_encode(e.gf, (*C.short)(unsafe.Pointer(&pcm[0])), C.int(n),
			(*C.uchar)(unsafe.Pointer(&e.out[0])), C.int(len(e.out)))
		if got < 0 {
			e.err = fmt.Errorf("media: mp3: lame_encode_buffer failed (%d)", int(got))
			return dst, e.err
		}
		pcm = pcm[n:]
		if dst, e.err = e.take(dst, e.out[:got]); e.err != nil {
			return dst, e.err
		}
	}
	return dst, nil
}

// take appends the whole frames of pending+b to dst and keeps the rest,
// less than one frame (MaxMP3Frame), for the next call.
func (e *MP3Encoder) take(dst, b []byte) ([]byte, error) {
	e.pending = append(e.pending, b...)
	n, err := e.format.splitFrames(e.pending)
	if err != nil {
		return dst, err
	}
	dst = append(dst, e.pending[:n]...)
	e.pending = append(e.pending[:0], e.pending[n:]...)
	return dst, nil
}

// FrameDuration is the audio in one MPEG frame at the output rate (24 ms
// at 24 kHz).
func (e *MP3Encoder) FrameDuration() time.Duration { return e.format.duration() }

// Delay is the encoder's latency (LAME's encoder delay + what it buffers),
// for docs and benchmarks.
func (e *MP3Encoder) Delay() time.Duration { return e.delay }

// Close frees the encoder; frames LAME still holds are dropped (a live
// stream has no end to flush). Closing twice is fine.
func (e *MP3Encoder) Close() error {
	if e.gf == nil {
		return nil
	}
	C.lame_close(e.gf)
	e.gf = nil
	return nil
}
