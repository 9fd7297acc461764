package webrelay

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestPacer scripts the Ogg pacing: steady packets write through with
// nothing generated; a gap longer than OggGap is filled in real time; a
// burst beyond OggAhead is dropped.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var p pacer
	p.start(t0)
	if n := p.due(t0); n != 1 {
		t.Fatalf("at start: %d due, want 1 (the page starts at once)", n)
	}
	for i := 1; i <= 100; i++ { // 1 s of steady packets
		if !p.packet(ms(10*i), OggFrame) {
			t.Fatalf("steady packet %d dropped", i)
		}
		if n := p.due(ms(10 * i)); n != 0 {
			t.Fatalf("%d generated among steady packets at %d ms", n, 10*i)
		}
	}
	// A 1 s gap: nothing until OggGap after the stream ran dry, then one
	// per 10 ms of real time.
	gen := 0
	for at := 1001; at <= 2000; at++ {
		gen += p.due(ms(at))
	}
	if gen < 90 || gen > 100 {
		t.Fatalf("%d packets generated over a 1 s gap, want about 100", gen)
	}
	if w := p.wake(); w.Before(ms(2000)) || w.After(ms(2010)) {
		t.Fatalf("wake %v after the gap, want within 10 ms", w.Sub(t0))
	}
	// A burst: 50 packets at once; those beyond OggAhead are dropped.
	kept := 0
	for range 50 {
		if p.packet(ms(2000), OggFrame) {
			kept++
		}
	}
	if want := int(OggAhead/OggFrame) + 1; kept < want-1 || kept > want+1 {
		t.Fatalf("kept %d of a 50-packet burst, want about %d", kept, want)
	}
	if n := p.due(ms(2000)); n != 0 {
		t.Fatalf("%d generated right after a burst", n)
	}
	// Frozen for 7 s (a process stopped, a timer that never fired): no 7 s
	// burst, only OggAhead's worth, then real time again.
	if n, want := p.due(ms(9300)), int(OggAhead/OggFrame)+1; n < want-1 || n > want+1 {
		t.Fatalf("%d generated after a 7 s freeze, want about %d (OggAhead)", n, want)
	}
	if n := p.due(ms(9310)); n != 1 {
		t.Fatalf("%d generated 10 ms after the freeze, want 1", n)
	}
}

func TestOpusDuration(t *testing.T) {
	for _, c := range []struct {
		pkt  []byte
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]byte{0xF0}, 10 * time.Millisecond, true},            // CELT FB 10 ms
		{[]byte{0xF8}, 20 * time.Millisecond, true},            // CELT FB 20 ms
		{[]byte{0x08}, 20 * time.Millisecond, true},            // SILK NB 20 ms
		{[]byte{0x78}, 20 * time.Millisecond, true},            // hybrid FB 20 ms
		{[]byte{0xF9}, 40 * time.Millisecond, true},            // two frames
		{[]byte{0xFB, 0x03}, 60 * time.Millisecond, true},      // code 3, three frames
		{[]byte{0xF3}, 0, false},                               // code 3 without a count
		{[]byte{0xF3, 0x00}, 0, false},                         // no frames
		{[]byte{0x18 | 3, 0x03}, 0, false},                     // 3 × 60 ms: over 120 ms
		{[]byte{0xE0 | 3, 0x30}, 120 * time.Millisecond, true}, // 48 × 2.5 ms
	} {
		d, ok := opusDuration(c.pkt)
		if d != c.want || ok != c.ok {
			t.Errorf("opusDuration(% x) = %v, %v; want %v, %v", c.pkt, d, ok, c.want, c.ok)
		}
	}
}

// TestRebaser: a restarted stream (new SSRC, new sequence and timestamp
// bases) continues the old one's numbering, its timestamps advanced by
// the wall-clock break.
func TestRebaser(t *testing.T) {
	b := rebaser{rate: 48000}
	t0 := time.Unix(1000, 0)
	var seq []uint16
	var ts []uint32
	send := func(ssrc uint32, s uint16, stamp uint32, at time.Time, first bool) {
		p := rtp.Packet{Header: rtp.Header{SSRC: ssrc, SequenceNumber: s, Timestamp: stamp}}
		b.apply(&p, at, first)
		seq, ts = append(seq, p.SequenceNumber), append(ts, p.Timestamp)
	}
	send(1, 65534, 1000, t0, true)
	send(1, 65535, 1480, t0.Add(10*time.Millisecond), false)
	send(2, 7, 99999, t0.Add(510*time.Millisecond), true) // restarted 500 ms later
	send(2, 8, 100479, t0.Add(520*time.Millisecond), false)
	if want := []uint16{65534, 65535, 0, 1}; !equal(seq, want) {
		t.Fatalf("sequence numbers %v, want %v", seq, want)
	}
	if want := []uint32{1000, 1480, 1480 + 24000, 1480 + 24000 + 480}; !equal(ts, want) {
		t.Fatalf("timestamps %v, want %v", ts, want)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckOffer(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	audio := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
	video := "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n"
	mdns := "a=candidate:1 1 udp 2113937151 abc-def.local 5000 typ host\r\n"
	host := "a=candidate:2 1 udp 2113937151 192.168.1.20 5001 typ host\r\n"
	info, err := checkOffer(base + audio + mdns + host + video)
	if err != nil || !info.video || info.mdns != 1 || strings.Contains(info.sdp, ".local") || !strings.Contains(info.sdp, host) {
		t.Fatalf("checkOffer = %+v, %v", info, err)
	}
	if _, err := checkOffer(base + audio + audio + audio + audio + audio); err == nil {
		t.Fatal("five media sections accepted")
	}
}

// FuzzCheckOffer: any bytes are refused or accepted without panicking,
// and an accepted offer keeps no .local candidate.
func FuzzCheckOffer(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=candidate:1 1 udp 1 x.local 5 typ host\r\n")
	f.Add("v=0\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		info, err := checkOffer(s)
		if err != nil {
			return
		}
		for line := range strings.SplitAfterSeq(info.sdp, "\n") {
			if isMDNSCandidate(line) {
				t.Fatalf("accepted offer keeps %q", line)
			}
		}
	})
}
