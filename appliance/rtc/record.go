package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// ErrCodec: a recording was asked for a codec Cradle cannot store.
var ErrCodec = errors.New("rtc: no container for this codec")

// Stats describes what a Recorder received.
type Stats struct {
	Packets uint64    // RTP packets received
	Bytes   uint64    // their payload bytes
	First   time.Time // when the first packet arrived (zero if none)
	Last    time.Time // when the last packet arrived
}

// Recorder stores a track's RTP packets in a container without decoding
// them: Opus in Ogg, VP8 in IVF, H.264 as an Annex-B byte stream. It never
// closes the writer it was given.
type Recorder struct {
	w     rtpWriter
	first chan struct{}
	now   func() time.Time

	mu     sync.Mutex
	st     Stats
	closed bool
}

type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// Ext returns the file extension for a codec's container (".ogg", ".ivf",
// ".h264"), or "" if there is none.
func Ext(mimeType string) string {
	switch {
	case strings.EqualFold(mimeType, webrtc.MimeTypeOpus):
		return ".ogg"
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP8):
		return ".ivf"
	case strings.EqualFold(mimeType, webrtc.MimeTypeH264):
		return ".h264"
	}
	return ""
}

// NewRecorder returns a Recorder writing codec's packets to w. For Opus,
// the Ogg header says stereo only if the codec's fmtp says stereo=1. If w
// can seek (a file), the container's header is finalized on Close.
func NewRecorder(w io.Writer, codec webrtc.RTPCodecCapability) (*Recorder, error) {
	r := &Recorder{first: make(chan struct{}), now: time.Now}
	switch Ext(codec.MimeType) {
	case ".ogg":
		channels := 1
		if strings.Contains(codec.SDPFmtpLine, "stereo=1") {
			channels = 2
		}
		opts := []oggwriter.WriterOption{oggwriter.WithChannelCount(uint16(channels))}
		if s, ok := w.(interface {
			io.Seeker
			io.WriterAt
		}); ok {
			opts = append(opts, oggwriter.WithSeekableOutput(s))
		}
		ow, err := oggwriter.NewWriter(noClose{w}, opts...)
		if err != nil {
			return nil, fmt.Errorf("rtc: ogg: %w", err)
		}
		r.w = &oggTrack{w: ow}
	case ".ivf":
		var out io.Writer = noClose{w}
		if ws, ok := w.(io.WriteSeeker); ok {
			out = noCloseSeeker{ws}
		}
		iw, err := ivfwriter.NewWith(out, ivfwriter.WithCodec(webrtc.MimeTypeVP8))
		if err != nil {
			return nil, fmt.Errorf("rtc: ivf: %w", err)
		}
		r.w = iw
	case ".h264":
		r.w = h264writer.NewWith(noClose{w})
	default:
		return nil, fmt.Errorf("%w: %q", ErrCodec, codec.MimeType)
	}
	return r, nil
}

// WriteRTP stores one packet. A packet the container cannot take (a
// malformed payload) is counted, skipped and reported; recording goes on.
func (r *Recorder) WriteRTP(p *rtp.Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	now := r.now()
	if r.st.Packets == 0 {
		r.st.First = now
		close(r.first)
	}
	r.st.Packets++
	r.st.Bytes += uint64(len(p.Payload))
	r.st.Last = now
	return r.w.WriteRTP(p)
}

// FirstPacket is closed when the first packet arrives; Stats().First then
// holds its arrival time.
func (r *Recorder) FirstPacket() <-chan struct{} { return r.first }

// Stats returns the counts so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Close finalizes the container (the Ogg end-of-stream page, the IVF
// frame count on a seekable writer). Idempotent.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.w.Close()
}

// Record reads track into a new Recorder on w until the track ends (its
// peer connection closed) or ctx is done, then closes the recorder and
// returns its stats. Malformed packets are skipped. onFirst, if not nil,
// is called with the first packet's arrival time (for time-to-first-audio
// figures).
func Record(ctx context.Context, track *webrtc.TrackRemote, w io.Writer, onFirst func(time.Time)) (Stats, error) {
	rec, err := NewRecorder(w, track.Codec().RTPCodecCapability)
	if err != nil {
		return Stats{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = track.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			_ = track.SetReadDeadline(time.Time{}) // the track stays readable
		}
	}()
	var readErr error
	for {
		p, _, err := track.ReadRTP()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("rtc: read %s track: %w", track.Kind(), err)
			}
			break
		}
		_ = rec.WriteRTP(p) // a malformed packet is dropped, not fatal
		if st := rec.Stats(); onFirst != nil && st.Packets == 1 {
			onFirst(st.First)
		}
	}
	return rec.Stats(), errors.Join(readErr, rec.Close())
}

// oggTrack binds the multi-track Ogg writer (which finalizes the stream
// properly on Close, unlike the single-track one on a plain io.Writer) to
// the first packet's SSRC.
type oggTrack struct {
	w    *oggwriter.Writer
	t    *oggwriter.Track
	ssrc uint32
}

func (o *oggTrack) WriteRTP(p *rtp.Packet) error {
	if o.t == nil {
		t, err := o.w.NewTrack(p.SSRC)
		if err != nil {
			return err
		}
		o.t, o.ssrc = t, p.SSRC
	}
	if p.SSRC != o.ssrc {
		// A new SSRC mid-recording (the monitor restarted its track) goes
		// on in the same logical stream.
		q := *p
		q.SSRC = o.ssrc
		p = &q
	}
	return o.t.WriteRTP(p)
}

func (o *oggTrack) Close() error { return o.w.Close() }

// noClose hides the writer's Close: the caller owns it.
type noClose struct{ io.Writer }

// noCloseSeeker keeps Seek (for the IVF frame count) and hides Close.
type noCloseSeeker struct{ io.WriteSeeker }
