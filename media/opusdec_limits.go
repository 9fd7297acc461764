package media

import (
	"errors"
	"fmt"
)

// Limits of the Opus decoder.
const (
	// MaxFrameSamples is the longest Opus frame: 120 ms at 48 kHz mono.
	MaxFrameSamples = 5760
	// MaxOpusPacket is the largest packet the decoder accepts: three times
	// the largest single frame (1275 bytes plus a length byte), more than
	// any RTP packet on an Ethernet MTU can carry.
	MaxOpusPacket = 1276 * 3
)

// Errors of the Opus decoder.
var (
	// ErrNoDecoder is returned by NewOpusDecoder in a build without cgo
	// (no libopus): such a listener cannot play sound.
	ErrNoDecoder = errors.New("media: this build has no Opus decoder (built without cgo)")
	// ErrOpusPacket wraps the rejection of a packet: empty, larger than
	// MaxOpusPacket, or refused by libopus as corrupt.
	ErrOpusPacket = errors.New("media: bad Opus packet")
	// ErrOpusBuffer wraps a PCM buffer too small for the request, or a
	// concealment length libopus cannot produce.
	ErrOpusBuffer = errors.New("media: bad Opus PCM request")
)

// checkPacket rejects what must not reach libopus.
func checkPacket(pkt []byte) error {
	switch {
	case len(pkt) == 0:
		return fmt.Errorf("%w: empty", ErrOpusPacket)
	case len(pkt) > MaxOpusPacket:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrOpusPacket, len(pkt), MaxOpusPacket)
	}
	return nil
}

// checkConceal checks a concealment (PLC or FEC) request: n samples, a
// whole number of 2.5 ms steps, at most MaxFrameSamples, fitting in pcm.
func checkConceal(pcm []int16, n int) error {
	if n <= 0 || n > MaxFrameSamples || n%(SampleRate/400) != 0 || len(pcm) < n {
		return fmt.Errorf("%w: %d samples into a buffer of %d (want a multiple of %d up to %d)",
			ErrOpusBuffer, n, len(pcm), SampleRate/400, MaxFrameSamples)
	}
	return nil
}
