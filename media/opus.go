//go:build cgo

package media

import (
	"errors"
	"fmt"
	"io"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// opusEncoder drives mediadevices' Opus encoder (a static libopus, in VoIP
// mode) synchronously: its reader hands over exactly the one frame Encode
// was given, so the encoder never blocks and no goroutine is needed.
type opusEncoder struct {
	rc   codec.ReadCloser
	next *wave.Int16Interleaved
	size int
}

var errNoFrame = errors.New("media: opus: no frame pending")

func newOpusEncoder(cfg Config) (audioEncoder, error) {
	params, err := opus.NewParams()
	if err != nil {
		return nil, fmt.Errorf("media: opus: %w", err)
	}
	params.BitRate = cfg.AudioBitrate
	params.Latency = opus.Latency(cfg.AudioFrame)
	e := &opusEncoder{size: SampleRate * int(cfg.AudioFrame.Milliseconds()) / 1000}
	r := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a := e.next
		if a == nil {
			return nil, func() {}, errNoFrame
		}
		e.next = nil
		return a, func() {}, nil
	})
	e.rc, err = params.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{
		SampleRate: SampleRate, ChannelCount: 1, SampleSize: 2, IsInterleaved: true,
	}})
	if err != nil {
		return nil, fmt.Errorf("media: opus: %w", err)
	}
	return e, nil
}

func (e *opusEncoder) Encode(pcm []int16) ([]byte, error) {
	if len(pcm) != e.size {
		return nil, fmt.Errorf("media: opus: frame of %d samples, want %d", len(pcm), e.size)
	}
	e.next = &wave.Int16Interleaved{
		Data: pcm,
		Size: wave.ChunkInfo{Len: len(pcm), Channels: 1, SamplingRate: SampleRate},
	}
	data, release, err := e.rc.Read()
	if release != nil {
		release()
	}
	if errors.Is(err, io.EOF) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("media: opus: %w", err)
	}
	return data, nil
}

func (e *opusEncoder) Close() error { return e.rc.Close() }
