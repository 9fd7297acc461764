//go:build cgo

package media

// The decoder is the one inside the static libopus that mediadevices
// already links for the encoder (pkg/codec/opus/lib/libopus-linux-*.a has
// opus_decoder_create, opus_decode and the rest): nothing new to install,
// and the arm64 cross build keeps using libopus-linux-arm64.a.
//
// How the symbols reach us: a cgo package cannot name another module's
// directory in its LDFLAGS, so this file declares the few prototypes itself
// (below, matching opus.h of libopus 1.x; opus_int32 and opus_int16 are
// int32_t and int16_t there) and has no LDFLAGS. The blank import of
// mediadevices' opus package puts its "${SRCDIR}/lib/libopus-<os>-<arch>.a
// -lm" on the final (external) link line, after the Go object, so the
// archive resolves our references. The per-package dynimport link that cmd/go
// tries for package media fails on those references; since Go 1.19 (issue
// 52863) that only marks the package as needing external linking, which
// every cgo binary here uses anyway. Checked with go build, go vet and go
// test -race on amd64. With -tags dynamic mediadevices links Debian's
// libopus through pkg-config instead, and the same prototypes resolve.
//
// The fallback, should that ever break (a mediadevices release without the
// bundled archive): "#cgo pkg-config: opus" and libopus-dev (plus
// libopus-dev:arm64 for the cross build).

/*
#include <stdint.h>
#include <stdlib.h>

typedef struct OpusDecoder OpusDecoder;
OpusDecoder *opus_decoder_create(int32_t Fs, int channels, int *error);
int opus_decode(OpusDecoder *st, const unsigned char *data, int32_t len, int16_t *pcm, int frame_size, int decode_fec);
void opus_decoder_destroy(OpusDecoder *st);
const char *opus_strerror(int error);
*/
import "C"

import (
	"fmt"
	"unsafe"

	_ "github.com/pion/mediadevices/pkg/codec/opus" // links libopus.a; see above
)

// OpusDecoder decodes 48 kHz mono Opus. Not safe for concurrent use.
type OpusDecoder struct {
	st *C.OpusDecoder
}

// NewOpusDecoder returns a decoder for 48 kHz mono Opus.
func NewOpusDecoder() (*OpusDecoder, error) {
	var cerr C.int
	st := C.opus_decoder_create(SampleRate, 1, &cerr)
	if cerr != 0 || st == nil {
		return nil, fmt.Errorf("media: opus decoder: %s", C.GoString(C.opus_strerror(cerr)))
	}
	return &OpusDecoder{st: st}, nil
}

// Decode decodes one packet into pcm (which must hold MaxFrameSamples) and
// returns the samples written.
func (d *OpusDecoder) Decode(pkt []byte, pcm []int16) (int, error) {
	if err := checkPacket(pkt); err != nil {
		return 0, err
	}
	if len(pcm) < MaxFrameSamples {
		return 0, fmt.Errorf("%w: pcm holds %d samples, need %d", ErrOpusBuffer, len(pcm), MaxFrameSamples)
	}
	return d.decode(pkt, pcm, MaxFrameSamples, false)
}

// Conceal runs packet-loss concealment for n samples (a lost frame). n must
// be a multiple of 2.5 ms (120 samples) and at most MaxFrameSamples.
func (d *OpusDecoder) Conceal(pcm []int16, n int) (int, error) {
	if err := checkConceal(pcm, n); err != nil {
		return 0, err
	}
	return d.decode(nil, pcm, n, false)
}

// DecodeFEC recovers the frame before pkt from pkt's in-band FEC data (n
// samples); libopus falls back to PLC when pkt has none.
func (d *OpusDecoder) DecodeFEC(pkt []byte, pcm []int16, n int) (int, error) {
	if err := checkPacket(pkt); err != nil {
		return 0, err
	}
	if err := checkConceal(pcm, n); err != nil {
		return 0, err
	}
	return d.decode(pkt, pcm, n, true)
}

func (d *OpusDecoder) decode(pkt []byte, pcm []int16, n int, fec bool) (int, error) {
	if d.st == nil {
		return 0, ErrClosed
	}
	var data *C.uchar
	if len(pkt) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&pkt[0]))
	}
	f := C.int(0)
	if fec {
		f = 1
	}
	r := C.opus_decode(d.st, data, C.int32_t(len(pkt)), (*C.int16_t)(unsafe.Pointer(&pcm[0])), C.int(n), f)
	if r < 0 {
		return 0, fmt.Errorf("%w: %s", ErrOpusPacket, C.GoString(C.opus_strerror(r)))
	}
	return int(r), nil
}

// Close frees the decoder. Closing twice is fine.
func (d *OpusDecoder) Close() error {
	if d.st != nil {
		C.opus_decoder_destroy(d.st)
		d.st = nil
	}
	return nil
}
