package listener

import (
	"io"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/rtc"
)

// Recorder writes a stream's packets to a file: Ogg for Opus audio, IVF
// for VP8 video. Feed it the MediaEvents of a subscription.
type Recorder struct{ r *rtc.Recorder }

// NewRecorder records packets of mime ("audio/opus", "video/vp8") to w.
// If w can seek (a file), the container's header is finalised on Close.
func NewRecorder(w io.Writer, mime string) (*Recorder, error) {
	r, err := rtc.NewRecorder(w, webrtc.RTPCodecCapability{MimeType: mime})
	if err != nil {
		return nil, err
	}
	return &Recorder{r: r}, nil
}

// Write records one packet.
func (r *Recorder) Write(ev MediaEvent) error { return r.r.WriteRTP(ev.Packet) }

// Close finishes the file (the writer stays open: it is the caller's).
func (r *Recorder) Close() error { return r.r.Close() }

// RecordingExt is the file extension for a recording of mime (".ogg", ".ivf").
func RecordingExt(mime string) string { return rtc.Ext(mime) }
