package rtc

import (
	"errors"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// FuzzHandleOffer feeds offers and a trickled candidate from a listener
// to an Answerer: no panic, only *control.Error values, no session left
// behind.
func FuzzHandleOffer(f *testing.F) {
	e := newEngine(f, loopConfig())
	f.Add(offerSDP(f, e, false), "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host")
	f.Add(offerSDP(f, e, true), "")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "candidate:x")
	track := opusTrack(f)
	f.Fuzz(func(t *testing.T, offer, cand string) {
		if len(offer) > 2*MaxSDP || len(cand) > 2*MaxCandidate {
			return
		}
		a := e.NewAnswerer()
		defer func() {
			a.Close()
			if n := e.Sessions(); n != 0 {
				t.Fatalf("engine Sessions = %d after Close", n)
			}
		}()
		var ce *control.Error
		if _, err := a.HandleOffer("f", offer, []webrtc.TrackLocal{track}); err != nil {
			if !errors.As(err, &ce) {
				t.Fatalf("HandleOffer error %T %v is not a *control.Error", err, err)
			}
			if a.Count() != 0 {
				t.Fatalf("Count = %d after a rejected offer", a.Count())
			}
			return
		}
		if err := a.AddCandidate("f", control.WebRTCICE{Session: "f", Candidate: cand}); err != nil && !errors.As(err, &ce) {
			t.Fatalf("AddCandidate error %T %v is not a *control.Error", err, err)
		}
	})
}

// FuzzRecorder feeds arbitrary RTP payloads to each container writer.
// data is a sequence of packets: a length byte, a flags byte (bit 0 the
// marker), then the payload.
func FuzzRecorder(f *testing.F) {
	f.Add(byte(0), []byte{3, 0, 0xf8, 0xff, 0xfe, 3, 1, 0xf8, 0xff, 0xfe})
	f.Add(byte(1), []byte{4, 1, 0x10, 0x10, 0x02, 0x00})
	f.Add(byte(2), []byte{5, 1, 0x18, 0x00, 0x01, 0x67, 0x42, 3, 1, 0x7c, 0x85, 0x88})
	mimes := []string{webrtc.MimeTypeOpus, webrtc.MimeTypeVP8, webrtc.MimeTypeH264}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		if len(data) > 4096 {
			return
		}
		r, err := NewRecorder(discard{}, webrtc.RTPCodecCapability{MimeType: mimes[int(which)%len(mimes)]})
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint16(0); len(data) >= 2; seq++ {
			n, flags := int(data[0]), data[1]
			data = data[2:]
			n = min(n, len(data))
			p := &rtp.Packet{
				Header:  rtp.Header{Version: 2, Marker: flags&1 != 0, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: uint32(flags >> 4)},
				Payload: data[:n],
			}
			data = data[n:]
			_ = r.WriteRTP(p)
		}
		_ = r.Close()
	})
}

// discard is io.Discard without ReaderFrom, so the writers see a plain
// io.Writer.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
