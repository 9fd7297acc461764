//go:build !cgo

package media

import "time"

// MP3Encoder encodes 48 kHz mono PCM to MP3. Without cgo there is no
// libmp3lame: NewMP3Encoder returns ErrNoEncoder.
type MP3Encoder struct{}

// NewMP3Encoder returns ErrNoEncoder: this build has no cgo.
func NewMP3Encoder(cfg MP3Config) (*MP3Encoder, error) { return nil, ErrNoEncoder }

// Encode returns dst and ErrNoEncoder.
func (e *MP3Encoder) Encode(dst []byte, pcm []int16) ([]byte, error) { return dst, ErrNoEncoder }

// FrameDuration returns 0.
func (e *MP3Encoder) FrameDuration() time.Duration { return 0 }

// Delay returns 0.
func (e *MP3Encoder) Delay() time.Duration { return 0 }

// Close does nothing.
func (e *MP3Encoder) Close() error { return nil }
