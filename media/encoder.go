package media

import (
	"image"
	"time"
)

// MIME types of the encoded streams, as webrtc.MimeTypeOpus and
// webrtc.MimeTypeVP8 spell them.
const (
	AudioMimeType = "audio/opus"
	VideoMimeType = "video/VP8"
)

// audioEncoder turns one frame of PCM (exactly the frame's samples) into
// one Opus packet.
type audioEncoder interface {
	Encode(pcm []int16) ([]byte, error)
	Close() error
}

// videoEncoder turns a picture into one VP8 frame. pts is the capture time
// relative to the first frame; forceKey asks for a key frame. An empty
// result means the encoder dropped the picture (rate control).
type videoEncoder interface {
	Encode(img *image.YCbCr, pts time.Duration, forceKey bool) (data []byte, key bool, err error)
	Close() error
}

// encoders builds the encoders; tests replace them. A nil function means
// the build has no such encoder (no cgo).
type encoders struct {
	audio func(cfg Config) (audioEncoder, error)
	video func(cfg Config, width, height int) (videoEncoder, error)
}
