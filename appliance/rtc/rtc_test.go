package rtc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"h264", Config{VideoMimeType: webrtc.MimeTypeH264}, true},
		{"ports", Config{UDPPortMin: 50000, UDPPortMax: 50100}, true},
		{"av1", Config{VideoMimeType: webrtc.MimeTypeAV1}, false},
		{"ports reversed", Config{UDPPortMin: 50100, UDPPortMax: 50000}, false},
		{"port min only", Config{UDPPortMin: 50000}, false},
		{"negative limit", Config{MaxSessions: -1}, false},
		{"negative timeout", Config{ConnectTimeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
			if _, err := NewEngine(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("NewEngine = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestAudioStream: a listener receives the monitor's Opus packets, and
// closing the listener ends the monitor's session on its own.
func TestAudioStream(t *testing.T) {
	e := newEngine(t, loopConfig())
	c := newConn(t, e)
	track := opusTrack(t)

	// The pump starts when the monitor's side connects, as the media
	// pipeline's first write would.
	var p *pump
	var once sync.Once
	started := make(chan struct{})
	state := c.a.OnState
	c.a.OnState = func(s string, st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { p = startPump(t, track, silence, frame); close(started) })
		}
		state(s, st)
	}

	l := c.dial(e, "s1", false, []webrtc.TrackLocal{track}, nil)
	l.waitConnected(t)
	<-started
	l.waitPackets(t, 10)

	if n := c.a.Count(); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	if n := e.Sessions(); n != 1 {
		t.Errorf("engine Sessions = %d, want 1", n)
	}

	// The listener goes away: the monitor sees its session close by
	// itself (reported, so that it can tell the listener) and frees it.
	if err := l.o.Close(); err != nil {
		t.Fatal(err)
	}
	c.waitState("s1", webrtc.PeerConnectionStateClosed)
	if n := c.a.Count(); n != 0 {
		t.Errorf("Count = %d once the session reported closed", n)
	}
	c.a.Close()
	if n := e.Sessions(); n != 0 {
		t.Errorf("engine Sessions = %d after Close", n)
	}
	p.Stop()
}

// TestReceivedPayload checks what arrives is what was written.
func TestReceivedPayload(t *testing.T) {
	e := newEngine(t, loopConfig())
	c := newConn(t, e)
	track := opusTrack(t)
	startPump(t, track, silence, frame)

	type rx struct {
		mime    string
		payload []byte
	}
	got := make(chan rx, 1)
	c.dial(e, "s1", false, []webrtc.TrackLocal{track}, func(tr *webrtc.TrackRemote) {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		got <- rx{tr.Codec().MimeType, p.Payload}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	select {
	case r := <-got:
		if !strings.EqualFold(r.mime, webrtc.MimeTypeOpus) || !bytes.Equal(r.payload, silence) {
			t.Fatalf("got %s %x, want opus %x", r.mime, r.payload, silence)
		}
	case <-time.After(wait):
		t.Fatal("no packet")
	}
}

// TestFanOut: four listeners on one shared track all receive; closing one
// leaves the others streaming.
func TestFanOut(t *testing.T) {
	e := newEngine(t, loopConfig())
	track := opusTrack(t)
	startPump(t, track, silence, frame)
	conns := []*conn{newConn(t, e), newConn(t, e)}

	var ls []*listener
	for i := range 4 {
		c := conns[i%2]
		ls = append(ls, c.dial(e, fmt.Sprintf("s%d", i), false, []webrtc.TrackLocal{track}, nil))
	}
	for _, l := range ls {
		l.waitConnected(t)
		l.waitPackets(t, 5)
	}
	if n := e.Sessions(); n != 4 {
		t.Fatalf("engine Sessions = %d, want 4", n)
	}

	if err := ls[0].o.Close(); err != nil {
		t.Fatal(err)
	}
	conns[0].waitState("s0", webrtc.PeerConnectionStateClosed)
	if n := conns[0].a.Count(); n != 1 {
		t.Errorf("Count = %d after one of two listeners left, want 1", n)
	}
	for _, l := range ls[1:] {
		// Drain what came before, then ask for fresh packets.
		for len(l.got) > 0 {
			<-l.got
		}
		l.waitPackets(t, 5)
	}
}

// TestTrickle forces candidates out of the SDP (a gather timeout too
// short to find any) so that the connection depends on trickling.
func TestTrickle(t *testing.T) {
	cfg := loopConfig()
	cfg.GatherTimeout = time.Nanosecond
	e := newEngine(t, cfg)
	c := newConn(t, e)
	track := opusTrack(t)
	startPump(t, track, silence, frame)

	l := c.dial(e, "s1", false, []webrtc.TrackLocal{track}, nil)
	l.waitConnected(t)
	l.waitPackets(t, 3)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Errorf("trickle errors: %v", c.errs)
	}
	ends := 0
	for _, m := range c.trickled {
		if m.Candidate == "" {
			ends++
		}
	}
	t.Logf("%d candidate messages, %d end-of-candidates", len(c.trickled), ends)
	if len(c.trickled) > 0 && ends == 0 {
		t.Error("candidates trickled without an end-of-candidates message")
	}
}

// TestReplace: a second offer for a live session replaces it.
func TestReplace(t *testing.T) {
	e := newEngine(t, loopConfig())
	c := newConn(t, e)
	track := opusTrack(t)
	startPump(t, track, silence, frame)

	first := c.dial(e, "s1", false, []webrtc.TrackLocal{track}, nil)
	first.waitConnected(t)
	second := c.dial(e, "s1", false, []webrtc.TrackLocal{track}, nil)
	second.waitConnected(t)
	second.waitPackets(t, 3)
	if n, m := c.a.Count(), e.Sessions(); n != 1 || m != 1 {
		t.Fatalf("Count = %d, Sessions = %d, want 1, 1", n, m)
	}
}

// TestConnectTimeout: an answered session whose listener never connects is
// closed and reported.
func TestConnectTimeout(t *testing.T) {
	cfg := loopConfig()
	cfg.ConnectTimeout = 50 * time.Millisecond
	e := newEngine(t, cfg)
	c := newConn(t, e)
	if _, err := c.a.HandleOffer("s1", offerSDP(t, e, false), nil); err != nil {
		t.Fatal(err)
	}
	c.waitState("s1", webrtc.PeerConnectionStateClosed)
	if n := c.a.Count(); n != 0 {
		t.Errorf("Count = %d after the connect timeout", n)
	}
	c.a.Close()
	if n := e.Sessions(); n != 0 {
		t.Errorf("engine Sessions = %d after Close", n)
	}
}

func TestAnswererErrors(t *testing.T) {
	e := newEngine(t, loopConfig())
	offer := offerSDP(t, e, false)
	cand := control.WebRTCICE{Session: "s1", Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	long := control.WebRTCICE{Session: "s1", Candidate: strings.Repeat("x", MaxCandidate+1)}

	tests := []struct {
		name string
		do   func(a *Answerer) error
		code control.Code
	}{
		{"candidate before offer", func(a *Answerer) error { return a.AddCandidate("s1", cand) }, control.CodeBadRequest},
		{"candidate too long", func(a *Answerer) error { return a.AddCandidate("s1", long) }, control.CodeBadRequest},
		{"stop unknown", func(a *Answerer) error { return a.Stop("nope") }, control.CodeBadRequest},
		{"candidate unknown session", func(a *Answerer) error {
			if _, err := a.HandleOffer("s1", offer, nil); err != nil {
				return err
			}
			return a.AddCandidate("other", cand)
		}, control.CodeBadRequest},
		{"garbage candidate", func(a *Answerer) error {
			if _, err := a.HandleOffer("s1", offer, nil); err != nil {
				return err
			}
			return a.AddCandidate("s1", control.WebRTCICE{Session: "s1", Candidate: "candidate:nonsense"})
		}, control.CodeBadRequest},
		{"empty session", func(a *Answerer) error { _, err := a.HandleOffer("", offer, nil); return err }, control.CodeBadRequest},
		{"long session", func(a *Answerer) error {
			_, err := a.HandleOffer(strings.Repeat("s", MaxSessionID+1), offer, nil)
			return err
		}, control.CodeBadRequest},
		{"after close", func(a *Answerer) error {
			a.Close()
			_, err := a.HandleOffer("s1", offer, nil)
			return err
		}, control.CodeGoingAway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.NewAnswerer()
			defer a.Close()
			err := tt.do(a)
			if err == nil {
				t.Fatal("no error")
			}
			if c := control.CodeOf(err); c != tt.code {
				t.Fatalf("code %v (%v), want %v", c, err, tt.code)
			}
		})
	}
	if n := e.Sessions(); n != 0 {
		t.Fatalf("engine Sessions = %d after all answerers closed", n)
	}
}

func TestMalformedOffer(t *testing.T) {
	e := newEngine(t, loopConfig())
	good := offerSDP(t, e, true)
	noAudio := strings.Replace(good, "m=audio", "m=text", 1)
	manyMedia := good
	for range MaxMedia {
		manyMedia += good[strings.Index(good, "m=audio"):]
	}
	tests := map[string]string{
		"empty":          "",
		"garbage":        "hello, monitor",
		"no media":       "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		"no audio":       noAudio,
		"too big":        good + strings.Repeat("a=x:y\r\n", MaxSDP/7),
		"too many":       manyMedia,
		"truncated":      good[:len(good)/2],
		"no ice creds":   strings.ReplaceAll(good, "a=ice-ufrag", "a=x-ufrag"),
		"no fingerprint": strings.ReplaceAll(good, "a=fingerprint", "a=x-fingerprint"),
	}
	a := e.NewAnswerer()
	defer a.Close()
	for name, sdp := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := a.HandleOffer("s1", sdp, []webrtc.TrackLocal{opusTrack(t)})
			if !errors.Is(err, control.ErrBadRequest) {
				t.Fatalf("HandleOffer = %v, want bad_request", err)
			}
			if n := a.Count(); n != 0 {
				t.Fatalf("Count = %d after a rejected offer", n)
			}
		})
	}
	if n := e.Sessions(); n != 0 {
		t.Fatalf("engine Sessions = %d", n)
	}
}

// TestOfferFlood: offers beyond the per-connection and total limits get
// busy and leave nothing behind.
func TestOfferFlood(t *testing.T) {
	e := newEngine(t, loopConfig())
	offer := offerSDP(t, e, false)
	var as []*Answerer
	for range 5 {
		as = append(as, e.NewAnswerer())
	}
	ok, busy := 0, 0
	for i := range 50 {
		a := as[i%len(as)]
		_, err := a.HandleOffer(fmt.Sprintf("s%d", i), offer, nil)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, control.ErrBusy):
			busy++
		default:
			t.Fatalf("offer %d: %v", i, err)
		}
		if a.Count() > DefaultMaxSessionsPerConn || e.Sessions() > DefaultMaxSessions {
			t.Fatalf("offer %d: Count %d, Sessions %d over the limits", i, a.Count(), e.Sessions())
		}
	}
	if ok != DefaultMaxSessions || busy != 50-DefaultMaxSessions {
		t.Fatalf("%d accepted, %d busy; want %d, %d", ok, busy, DefaultMaxSessions, 50-DefaultMaxSessions)
	}
	for _, a := range as {
		a.Close()
		a.Close() // idempotent
		if n := a.Count(); n != 0 {
			t.Fatalf("Count after Close = %d", n)
		}
	}
	if n := e.Sessions(); n != 0 {
		t.Fatalf("engine Sessions after Close = %d", n)
	}
}

// TestHostOnly: the answer carries host candidates only, on loopback only
// when asked.
func TestHostOnly(t *testing.T) {
	for _, loop := range []bool{true, false} {
		t.Run(fmt.Sprintf("loopback=%v", loop), func(t *testing.T) {
			cfg := loopConfig()
			cfg.IncludeLoopback = loop
			e := newEngine(t, cfg)
			a := e.NewAnswerer()
			defer a.Close()
			answer, err := a.HandleOffer("s1", offerSDP(t, e, true), []webrtc.TrackLocal{opusTrack(t)})
			if err != nil {
				t.Fatal(err)
			}
			var cands []string
			for _, line := range strings.Split(answer, "\r\n") {
				if strings.HasPrefix(line, "a=candidate:") {
					cands = append(cands, line)
				}
			}
			if loop && len(cands) == 0 {
				t.Fatalf("no candidates in answer:\n%s", answer)
			}
			if !loop && len(cands) != 0 {
				t.Fatalf("candidates without loopback on lo only: %q", cands)
			}
			v4 := false
			for _, c := range cands {
				if !strings.Contains(c, " typ host") || strings.Contains(c, "srflx") || strings.Contains(c, "relay") {
					t.Errorf("not a host candidate: %s", c)
				}
				if strings.Contains(c, ".local") || strings.Contains(c, " tcp ") {
					t.Errorf("mDNS or TCP candidate: %s", c)
				}
				v4 = v4 || strings.Contains(c, " 127.0.0.1 ")
			}
			if loop && !v4 {
				t.Errorf("no 127.0.0.1 candidate in %q", cands)
			}
		})
	}
}

// TestTrackKinds: tracks the offer has no section for are left out.
func TestTrackKinds(t *testing.T) {
	e := newEngine(t, loopConfig())
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cradle")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		video          bool
		tracks         []webrtc.TrackLocal
		sent, sections int // tracks in the answer, m= sections
	}{
		{"audio offer, audio+video tracks", false, []webrtc.TrackLocal{opusTrack(t), video}, 1, 1},
		{"audio offer, two audio tracks", false, []webrtc.TrackLocal{opusTrack(t), opusTrack(t)}, 1, 1},
		{"video offer, audio track", true, []webrtc.TrackLocal{opusTrack(t)}, 1, 2},
		{"video offer, both", true, []webrtc.TrackLocal{nil, opusTrack(t), video}, 2, 2},
		{"no tracks", true, nil, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.NewAnswerer()
			defer a.Close()
			answer, err := a.HandleOffer("s1", offerSDP(t, e, tt.video), tt.tracks)
			if err != nil {
				t.Fatal(err)
			}
			sent, sections := strings.Count(answer, "a=msid:"), strings.Count(answer, "m=")
			if sent != tt.sent || sections != tt.sections {
				t.Fatalf("%d tracks in %d sections; want %d in %d:\n%s", sent, sections, tt.sent, tt.sections, answer)
			}
		})
	}
}

func TestOffererErrors(t *testing.T) {
	e := newEngine(t, loopConfig())
	cand := control.WebRTCICE{Session: "s1", Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}

	o := e.NewOfferer()
	if err := o.SetAnswer(offerSDP(t, e, false)); !errors.Is(err, ErrNotStarted) {
		t.Errorf("SetAnswer before Start = %v, want ErrNotStarted", err)
	}
	if err := o.AddCandidate(cand); !errors.Is(err, ErrNotStarted) {
		t.Errorf("AddCandidate before Start = %v, want ErrNotStarted", err)
	}
	if _, err := o.Start("", false); err == nil {
		t.Error("Start with an empty session succeeded")
	}
	if _, err := o.Start("s1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Start("s1", false); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if err := o.AddCandidate(control.WebRTCICE{Session: "s2", Candidate: cand.Candidate}); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("candidate for another session = %v, want ErrBadCandidate", err)
	}
	if err := o.AddCandidate(cand); err != nil {
		t.Errorf("candidate before the answer = %v, want it held", err)
	}
	if err := o.SetAnswer("nonsense"); !errors.Is(err, ErrBadSDP) {
		t.Errorf("bad answer = %v, want ErrBadSDP", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := o.AddCandidate(cand); !errors.Is(err, ErrClosed) {
		t.Errorf("AddCandidate after Close = %v, want ErrClosed", err)
	}
}
