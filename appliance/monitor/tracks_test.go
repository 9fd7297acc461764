package monitor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/media"
)

// pairedListener pairs a new listener with m and connects it.
func pairedListener(t testing.TB, m *Monitor, name string) (*listener.Listener, listener.PairedMonitor) {
	t.Helper()
	l, err := listener.Open(listener.Config{StateDir: filepath.Join(t.TempDir(), name), Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mon, err := l.Pair(ctx, listener.PairRequest{Target: m.Addr().String(), Code: m.SetupCode()})
	if err != nil {
		t.Fatal(err)
	}
	return l, mon
}

type streaming struct{ s *listener.Session }

func startStream(t *testing.T, l *listener.Listener, mon listener.PairedMonitor) *streaming {
	t.Helper()
	st := &streaming{s: l.Start(mon, listener.SessionOptions{Stream: listener.StreamAudio})}
	t.Cleanup(st.stop)
	return st
}

func (s *streaming) stop() {
	if err := s.s.Close(); err != nil {
		panic(err)
	}
}

func (s *streaming) packets() uint64 { return s.s.Stats().AudioPackets }

// waitPackets waits until the stream has received more than n packets.
func (s *streaming) waitPackets(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.packets() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("stream stuck at %d packets", s.packets())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFourListenersShareOneCapture: four listeners stream at once; one
// stopping does not disturb the others; the capture is started once and
// the encoder stops when the last stream stops.
func TestFourListenersShareOneCapture(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	var ss []*streaming
	var first, st = m.hub.Stats(), m.hub.Stats()
	for i := range 4 {
		l, mon := pairedListener(t, m, fmt.Sprint("parent", i))
		s := startStream(t, l, mon)
		s.waitPackets(t, 10)
		ss = append(ss, s)
		if i == 0 {
			first = m.hub.Stats()
		}
	}
	st = m.hub.Stats()
	if st.AudioEncoderStarts != 1 || st.MicStarts != first.MicStarts || st.AudioSubscribers != 1 {
		t.Fatalf("capture restarted or duplicated for later listeners: first %+v, now %+v", first, st)
	}
	ss[0].stop()
	for _, s := range ss[1:] {
		s.waitPackets(t, s.packets()+20) // the others keep receiving
	}
	if st := m.hub.Stats(); !st.AudioEncoding || st.AudioEncoderStarts != 1 {
		t.Fatalf("stopping one listener disturbed the capture: %+v", st)
	}
	for _, s := range ss[1:] {
		s.stop()
	}
	waitFor(t, func() bool { return !m.hub.Stats().AudioEncoding })
	// Nobody listens, but the history keeps the microphone on all night.
	if !m.hub.Stats().MicOn {
		t.Fatal("the microphone stopped with the last listener: the history needs it")
	}
	// The peer connections close on their own goroutines: wait for the
	// last, bounded like every wait here.
	deadline := time.Now().Add(5 * time.Second)
	for m.tracks.engine.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := m.tracks.engine.Sessions(); n != 0 {
		t.Fatalf("%d peer connections left 5 s after every listener stopped", n)
	}
}

// TestStreamRequestErrors: out-of-order and malformed signalling, and an
// offer flood, are answered with errors and leak no peer connection.
func TestStreamRequestErrors(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	_, conn := pairedClient(t, m)
	expectError := func(msg control.Message, code string) {
		t.Helper()
		send(t, conn, msg)
		for {
			switch r := recv(t, conn).(type) {
			case control.Status:
				continue
			case control.ErrorMsg:
				if r.Code != code {
					t.Fatalf("%s: error %s (%s), want %s", msg.MessageType(), r.Code, r.Message, code)
				}
				return
			default:
				t.Fatalf("%s: got %T, want error %s", msg.MessageType(), r, code)
			}
		}
	}
	expectError(control.WebRTCICE{Session: "s1", Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, "bad_request")
	expectError(control.WebRTCOffer{Session: "s1", SDP: "v=0"}, "bad_request") // no stream_start
	expectError(control.StreamStop{Session: "nope"}, "bad_request")
	send(t, conn, control.StreamStart{Session: "s1", Kind: "audio"})
	expectError(control.WebRTCOffer{Session: "s1", SDP: "this is not SDP"}, "bad_request")
	// A flood of well-formed offers: beyond the limits, busy.
	sdp := offerSDP(t)
	busy := 0
	for i := range 20 {
		session := fmt.Sprint("f", i)
		send(t, conn, control.StreamStart{Session: session, Kind: "audio"})
		send(t, conn, control.WebRTCOffer{Session: session, SDP: sdp})
	}
	answers := 0
	for answers+busy < 20 {
		switch r := recv(t, conn).(type) {
		case control.WebRTCAnswer:
			answers++
		case control.ErrorMsg:
			if r.Code == "busy" {
				busy++
			} else if r.Code != "bad_request" { // over the per-connection stream_start limit
				t.Fatalf("flood: unexpected error %+v", r)
			} else {
				busy++
			}
		}
	}
	if n := m.tracks.engine.Sessions(); n > 2 || answers > 2 {
		t.Fatalf("flood left %d peer connections (%d answers), want at most 2", n, answers)
	}
	conn.Close(control.CodeNone, "")
	waitFor(t, func() bool { return m.tracks.engine.Sessions() == 0 })
	waitFor(t, func() bool { return !m.hub.Stats().AudioEncoding })
}

// TestUntrustedOfferRefused: an unpaired listener's stream request closes
// its connection with untrusted.
func TestUntrustedOfferRefused(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	m.OpenPairing(0)
	conn, _ := newClient(t).dial(m)
	send(t, conn, control.WebRTCOffer{Session: "s", SDP: offerSDP(t)})
	<-conn.Done()
	if !errors.Is(conn.Err(), control.ErrUntrusted) {
		t.Fatalf("closed with %v", conn.Err())
	}
	if m.tracks.engine.Sessions() != 0 {
		t.Fatal("an untrusted offer created a peer connection")
	}
}

var offerOnce struct {
	sync.Once
	sdp string
}

// offerSDP is a real receive-only audio offer from the listener's side.
func offerSDP(t *testing.T) string {
	t.Helper()
	offerOnce.Do(func() {
		eng, err := rtcEngine()
		if err != nil {
			t.Fatal(err)
		}
		o := eng.NewOfferer()
		defer o.Close()
		offerOnce.sdp, err = o.Start("x", false)
		if err != nil {
			t.Fatal(err)
		}
	})
	return offerOnce.sdp
}

func rtcEngine() (*rtc.Engine, error) { return rtc.NewEngine(rtc.Config{IncludeLoopback: true}) }

// TestDroppedFrames: a gap in capture times becomes the frames dropped
// before a sample (so the RTP clock keeps real time), rounded, bounded.
func TestDroppedFrames(t *testing.T) {
	const d = 10 * time.Millisecond
	at := func(ms int) media.Sample {
		return media.Sample{Duration: d, Captured: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	for _, tt := range []struct {
		last time.Time
		smp  media.Sample
		want uint16
	}{
		{time.Time{}, at(10), 0}, // the first frame
		{t0, at(10), 0},          // on time
		{t0, at(14), 0},          // jitter
		{t0, at(16), 1},          // one frame late: one lost
		{t0, at(40), 3},          // three frames missing
		{t0, at(0), 0},           // out of order: nothing
		{t0, at(60_000), 1000},   // a minute's stall: bounded
		{t0, media.Sample{Captured: t0.Add(time.Second)}, 0}, // no duration
	} {
		if got := droppedFrames(tt.last, tt.smp); got != tt.want {
			t.Errorf("last %v, captured %v: %d, want %d", tt.last.Sub(t0), tt.smp.Captured.Sub(t0), got, tt.want)
		}
	}
}

// TestSessionLimits: the core's session limits are the engine's: its
// defaults when the configuration leaves them zero, its values otherwise.
func TestSessionLimits(t *testing.T) {
	if p, n := sessionLimits(rtc.Config{}); p != rtc.DefaultMaxSessionsPerConn || n != rtc.DefaultMaxSessions {
		t.Errorf("defaults: %d per connection, %d in all", p, n)
	}
	if p, n := sessionLimits(rtc.Config{MaxSessionsPerConn: 3, MaxSessions: 5}); p != 3 || n != 5 {
		t.Errorf("3 and 5 configured: %d per connection, %d in all", p, n)
	}
}

// TestTracksOfKind: an audio session sends the audio track; an
// audio+video one both shared tracks.
func TestTracksOfKind(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	if tr := m.tracks.tracks(control.StreamAudio); len(tr) != 1 || tr[0] != m.tracks.audio {
		t.Errorf("audio: %v", tr)
	}
	if tr := m.tracks.tracks(control.StreamAudioVideo); len(tr) != 2 || tr[0] != m.tracks.audio || tr[1] != m.tracks.video {
		t.Errorf("audio+video: %v", tr)
	}
}
