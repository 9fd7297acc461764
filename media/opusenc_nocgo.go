//go:build !cgo

package media

// OpusEncoder encodes 48 kHz mono Opus. Without cgo there is no libopus:
// NewOpusEncoder returns ErrNoEncoder.
type OpusEncoder struct{}

// NewOpusEncoder returns ErrNoEncoder: this build has no cgo.
func NewOpusEncoder(cfg Config) (*OpusEncoder, error) { return nil, ErrNoEncoder }

// FrameSamples returns 0.
func (e *OpusEncoder) FrameSamples() int { return 0 }

// Encode returns ErrNoEncoder.
func (e *OpusEncoder) Encode(pcm []int16) ([]byte, error) { return nil, ErrNoEncoder }

// Close does nothing.
func (e *OpusEncoder) Close() error { return nil }
