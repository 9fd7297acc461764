//go:build cgo

package media

import "fmt"

// OpusEncoder encodes 48 kHz mono PCM into Opus packets, one packet per
// frame of Config.AudioFrame, with the settings the Hub's audio uses
// (libopus in VoIP mode, Config.AudioBitrate). It is the same static
// libopus the Hub links. Not safe for concurrent use.
type OpusEncoder struct {
	enc   audioEncoder
	frame int
}

// NewOpusEncoder returns an encoder for cfg (zero fields take their
// defaults: 10 ms frames at 32 kbit/s). Without cgo it returns
// ErrNoEncoder.
func NewOpusEncoder(cfg Config) (*OpusEncoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, err := newOpusEncoder(cfg)
	if err != nil {
		return nil, err
	}
	return &OpusEncoder{enc: enc, frame: SampleRate * int(cfg.AudioFrame.Milliseconds()) / 1000}, nil
}

// FrameSamples is the number of samples Encode takes: 480 for 10 ms.
func (e *OpusEncoder) FrameSamples() int { return e.frame }

// Encode encodes exactly FrameSamples samples into one Opus packet, a
// fresh slice the caller owns. After Close it returns ErrClosed.
func (e *OpusEncoder) Encode(pcm []int16) ([]byte, error) {
	if e.enc == nil {
		return nil, ErrClosed
	}
	if len(pcm) != e.frame {
		return nil, fmt.Errorf("media: opus: frame of %d samples, want %d", len(pcm), e.frame)
	}
	return e.enc.Encode(pcm)
}

// Close frees the encoder. Closing twice is fine.
func (e *OpusEncoder) Close() error {
	if e.enc == nil {
		return nil
	}
	err := e.enc.Close()
	e.enc = nil
	return err
}
