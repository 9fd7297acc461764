package rtc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// signalWriter signals each Write, so a test can wait for output.
type signalWriter struct {
	io.Writer
	writes chan struct{}
}

func (w signalWriter) Write(p []byte) (int, error) {
	select {
	case w.writes <- struct{}{}:
	default:
	}
	return w.Writer.Write(p)
}

// signalFile is a signalWriter that keeps the file's Seek and WriteAt, so
// the recorder finalizes it in place.
type signalFile struct {
	*os.File
	writes chan struct{}
}

func (f signalFile) Write(p []byte) (int, error) {
	select {
	case f.writes <- struct{}{}:
	default:
	}
	return f.File.Write(p)
}

type recordResult struct {
	st  Stats
	err error
}

// TestRecordOgg records the Opus stream to Ogg, stopped two ways: by
// cancelling (into a file, finalized in place) and by the listener
// closing (into a pipe-like writer, with an end-of-stream page appended).
func TestRecordOgg(t *testing.T) {
	for _, tt := range []struct {
		name string
		file bool
	}{{"file, cancel", true}, {"buffer, close", false}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, loopConfig())
			c := newConn(t, e)
			track := opusTrack(t)
			startPump(t, track, silence, frame)

			writes := make(chan struct{}, 1024)
			var out io.Writer
			var buf bytes.Buffer
			var f *os.File
			if tt.file {
				var err error
				f, err = os.Create(filepath.Join(t.TempDir(), "rec.ogg"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				out = signalFile{f, writes}
			} else {
				out = signalWriter{&buf, writes}
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan recordResult, 1)
			first := make(chan time.Time, 1)
			l := c.dial(e, "s1", false, []webrtc.TrackLocal{track}, func(tr *webrtc.TrackRemote) {
				st, err := Record(ctx, tr, out, func(at time.Time) { first <- at })
				done <- recordResult{st, err}
			})
			l.waitConnected(t)
			for range 12 { // OpusHead, OpusTags, ten packets
				select {
				case <-writes:
				case <-time.After(wait):
					t.Fatal("recording did not grow")
				}
			}
			if tt.file {
				cancel()
			} else if err := l.o.Close(); err != nil {
				t.Fatal(err)
			}
			var r recordResult
			select {
			case r = <-done:
			case <-time.After(wait):
				t.Fatal("Record did not return")
			}
			if r.err != nil {
				t.Fatalf("Record: %v", r.err)
			}
			at := <-first
			if r.st.Packets < 10 || r.st.First != at || r.st.Last.Before(r.st.First) || r.st.Bytes != r.st.Packets*uint64(len(silence)) {
				t.Fatalf("stats %+v (first callback %v)", r.st, at)
			}

			data := buf.Bytes()
			if tt.file {
				var err error
				if data, err = os.ReadFile(f.Name()); err != nil {
					t.Fatal(err)
				}
			}
			checkOgg(t, data, r.st.Packets)
		})
	}
}

// checkOgg parses every page of an Ogg/Opus recording of n silence
// packets: capture patterns, OpusHead and OpusTags, one packet per page,
// granule positions 960 apart and covering the duration, an end of stream.
func checkOgg(t *testing.T, data []byte, n uint64) {
	t.Helper()
	pages, err := parseOgg(data)
	if err != nil {
		t.Fatalf("ogg: %v", err)
	}
	if len(pages) < 3 {
		t.Fatalf("%d pages", len(pages))
	}
	if pages[0].flags&2 == 0 || !bytes.HasPrefix(pages[0].payload, []byte("OpusHead")) {
		t.Fatalf("first page: flags %x payload %q", pages[0].flags, pages[0].payload)
	}
	if ch := pages[0].payload[9]; ch != 1 {
		t.Errorf("OpusHead channels = %d, want 1", ch)
	}
	if !bytes.HasPrefix(pages[1].payload, []byte("OpusTags")) {
		t.Fatalf("second page payload %q", pages[1].payload)
	}
	var granule uint64
	var audio int
	for i, p := range pages[2:] {
		if len(p.payload) == 0 { // the appended end-of-stream page
			continue
		}
		audio++
		if !bytes.Equal(p.payload, silence) {
			t.Fatalf("page %d payload %x", i+2, p.payload)
		}
		if p.granule != granule+960 {
			t.Fatalf("page %d granule %d after %d, want +960", i+2, p.granule, granule)
		}
		granule = p.granule
	}
	if uint64(audio) != n || granule != n*960 {
		t.Errorf("%d audio pages up to granule %d; want %d packets, granule %d (%v)", audio, granule, n, n*960, time.Duration(n)*frame)
	}
	if last := pages[len(pages)-1]; last.flags&4 == 0 || last.granule != granule {
		t.Errorf("last page flags %x granule %d: want end of stream at %d", last.flags, last.granule, granule)
	}

	// Pion's reader agrees, checksums included.
	r, head, err := oggreader.NewWith(bytes.NewReader(data))
	if err != nil || head.Channels != 1 || head.SampleRate != 48000 {
		t.Fatalf("oggreader: %v %+v", err, head)
	}
	for {
		if _, _, err := r.ParseNextPage(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("oggreader: %v", err)
			}
			break
		}
	}
}

type oggPage struct {
	flags   byte
	granule uint64
	payload []byte
}

func parseOgg(b []byte) ([]oggPage, error) {
	var pages []oggPage
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" || b[4] != 0 {
			return nil, fmt.Errorf("page %d: bad header", len(pages))
		}
		nseg := int(b[26])
		if len(b) < 27+nseg {
			return nil, fmt.Errorf("page %d: short segment table", len(pages))
		}
		size := 0
		for _, s := range b[27 : 27+nseg] {
			size += int(s)
		}
		end := 27 + nseg + size
		if len(b) < end {
			return nil, fmt.Errorf("page %d: short payload", len(pages))
		}
		pages = append(pages, oggPage{flags: b[5], granule: binary.LittleEndian.Uint64(b[6:]), payload: b[27+nseg : end]})
		b = b[end:]
	}
	return pages, nil
}

// TestRecordVideo records VP8 to IVF and H.264 to Annex-B.
func TestRecordVideo(t *testing.T) {
	vp8Key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, bytes.Repeat([]byte{0x55}, 200)...)
	h264 := []byte{
		0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x9b, 0x80, 0x80, 0x83, 0x01, // SPS
		0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, // PPS
		0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0xfe, 0xf6, // IDR slice
	}
	for _, tt := range []struct {
		mime  string
		frame []byte
		check func(t *testing.T, out []byte)
	}{
		{webrtc.MimeTypeVP8, vp8Key, func(t *testing.T, out []byte) {
			if len(out) < 32+12+len(vp8Key) || string(out[:4]) != "DKIF" || string(out[8:12]) != "VP80" {
				t.Fatalf("IVF output %d bytes: %x", len(out), out[:min(len(out), 48)])
			}
			if size := binary.LittleEndian.Uint32(out[32:]); !bytes.Equal(out[44:44+size], vp8Key) {
				t.Fatalf("first IVF frame %x", out[44:44+size])
			}
		}},
		{webrtc.MimeTypeH264, h264, func(t *testing.T, out []byte) {
			if !bytes.HasPrefix(out, []byte{0, 0, 0, 1, 0x67}) || !bytes.Contains(out, []byte{0, 0, 0, 1, 0x65}) {
				t.Fatalf("Annex-B output %x", out[:min(len(out), 64)])
			}
		}},
	} {
		t.Run(tt.mime, func(t *testing.T) {
			cfg := loopConfig()
			cfg.VideoMimeType = tt.mime
			e := newEngine(t, cfg)
			c := newConn(t, e)
			audio := opusTrack(t)
			video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: tt.mime, ClockRate: 90000}, "video", "cradle")
			if err != nil {
				t.Fatal(err)
			}
			startPump(t, audio, silence, frame)
			startPump(t, video, tt.frame, 33*time.Millisecond)

			var buf bytes.Buffer
			writes := make(chan struct{}, 1024)
			done := make(chan recordResult, 1)
			var mime string
			var mu sync.Mutex
			l := c.dial(e, "s1", true, []webrtc.TrackLocal{audio, video}, func(tr *webrtc.TrackRemote) {
				if tr.Kind() != webrtc.RTPCodecTypeVideo {
					for {
						if _, _, err := tr.ReadRTP(); err != nil {
							return
						}
					}
				}
				mu.Lock()
				mime = tr.Codec().MimeType
				mu.Unlock()
				st, err := Record(context.Background(), tr, signalWriter{&buf, writes}, nil)
				done <- recordResult{st, err}
			})
			l.waitConnected(t)
			for range 4 {
				select {
				case <-writes:
				case <-time.After(wait):
					t.Fatal("recording did not grow")
				}
			}
			if err := l.o.Close(); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil || r.st.Packets == 0 {
				t.Fatalf("Record: %+v, %v", r.st, r.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.EqualFold(mime, tt.mime) {
				t.Fatalf("negotiated %s, want %s", mime, tt.mime)
			}
			tt.check(t, buf.Bytes())
		})
	}
}

func TestRecorder(t *testing.T) {
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if _, err := NewRecorder(io.Discard, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1}); !errors.Is(err, ErrCodec) {
		t.Errorf("AV1 recorder: %v, want ErrCodec", err)
	}
	for mime, ext := range map[string]string{
		webrtc.MimeTypeOpus: ".ogg", "AUDIO/OPUS": ".ogg", webrtc.MimeTypeVP8: ".ivf",
		webrtc.MimeTypeH264: ".h264", webrtc.MimeTypeAV1: "",
	} {
		if got := Ext(mime); got != ext {
			t.Errorf("Ext(%s) = %q, want %q", mime, got, ext)
		}
	}

	var buf bytes.Buffer
	r, err := NewRecorder(&buf, opus)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.FirstPacket():
		t.Fatal("FirstPacket closed before any packet")
	default:
	}
	pkt := func(seq uint16, payload []byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: payload}
	}
	if err := r.WriteRTP(pkt(1, silence)); err != nil {
		t.Fatal(err)
	}
	<-r.FirstPacket()
	if err := r.WriteRTP(pkt(2, []byte{0x03})); err == nil { // code 3 without a frame count
		t.Error("malformed Opus packet accepted")
	}
	next := pkt(3, silence)
	next.SSRC = 8 // the monitor restarted its track
	if err := r.WriteRTP(next); err != nil {
		t.Fatalf("packet with a new SSRC: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.WriteRTP(pkt(4, silence)); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Close = %v, want ErrClosed", err)
	}
	if st := r.Stats(); st.Packets != 3 {
		t.Errorf("stats %+v, want 3 packets", st)
	}
	checkOgg(t, buf.Bytes(), 2)
}
