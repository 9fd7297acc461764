//go:build !cgo

package media

// OpusDecoder decodes 48 kHz mono Opus. Without cgo there is no libopus:
// NewOpusDecoder returns ErrNoDecoder.
type OpusDecoder struct{}

// NewOpusDecoder returns ErrNoDecoder: this build has no cgo.
func NewOpusDecoder() (*OpusDecoder, error) { return nil, ErrNoDecoder }

// Decode returns ErrNoDecoder.
func (d *OpusDecoder) Decode(pkt []byte, pcm []int16) (int, error) { return 0, ErrNoDecoder }

// Conceal returns ErrNoDecoder.
func (d *OpusDecoder) Conceal(pcm []int16, n int) (int, error) { return 0, ErrNoDecoder }

// DecodeFEC returns ErrNoDecoder.
func (d *OpusDecoder) DecodeFEC(pkt []byte, pcm []int16, n int) (int, error) {
	return 0, ErrNoDecoder
}

// Close does nothing.
func (d *OpusDecoder) Close() error { return nil }
