package monitor

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/mediatest"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"github.com/cradle-monitor/cradle/media/soothe"
	"github.com/cradle-monitor/cradle/store"
)

// toneSource is a talker's microphone: hz at half scale, 10 ms chunks
// paced in real time, until closed.
type toneSource struct {
	hz   float64
	n    int
	tick *time.Ticker
	done chan struct{}
}

func newToneSource(hz float64) *toneSource {
	return &toneSource{hz: hz, tick: time.NewTicker(10 * time.Millisecond), done: make(chan struct{})}
}

func (s *toneSource) Read() ([]int16, error) {
	select {
	case <-s.done:
		return nil, errors.New("closed")
	case <-s.tick.C:
	}
	pcm := make([]int16, media.SampleRate/100)
	for i := range pcm {
		pcm[i] = int16(16000 * math.Sin(2*math.Pi*s.hz*float64(s.n+i)/media.SampleRate))
	}
	s.n += len(pcm)
	return pcm, nil
}

func (s *toneSource) Close() { s.tick.Stop(); close(s.done) }

// talk starts a talk on s once the session is online.
func talk(t *testing.T, s *listener.Session, src listener.TalkSource) (*listener.Talk, error) {
	t.Helper()
	return talkOnline(t, s, src)
}

// talkOnline starts a talk on s once the session is online.
func talkOnline(t testing.TB, s *listener.Session, src listener.TalkSource) (*listener.Talk, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		tk, err := s.Talk(ctx, listener.TalkOptions{Source: src})
		if !errors.Is(err, listener.ErrOffline) {
			return tk, err
		}
		select {
		case <-ctx.Done():
			t.Fatal("the session did not come online")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pcmOf collects a subscription's decoded nursery audio until stop.
func pcmOf(sub *listener.Subscription, stop <-chan struct{}) <-chan []int16 {
	out := make(chan []int16, 1)
	go func() {
		var pcm []int16
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-stop; cancel() }()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				out <- pcm
				return
			}
			if p, ok := ev.(listener.PCMEvent); ok {
				pcm = append(pcm, p.Frame.PCM...)
			}
		}
	}()
	return out
}

// tone700 reports whether 700 Hz dominates pcm at a level over -40 dBFS.
func tone700(pcm []int16) bool {
	if len(pcm) == 0 || pulsetest.RMS(pcm) < 0.01 {
		return false
	}
	return math.Abs(pulsetest.Dominant(pcm, media.SampleRate, 300, 1200, 5)-700) <= 5
}

// TestTalkPlaysOnSpeaker: a paired listener talks with a 700 Hz tone on
// its microphone: the monitor's speaker (a paced test output whose
// microphone hears it) plays the chime, then 700 Hz under the ceiling;
// another listener hears it in the nursery, the talker's own nursery
// audio is muted while it talks (walkie-talkie); both are told who
// talks; a second talker is refused busy, naming the first; no status
// says noise; the log records who talked, and for how long.
func TestTalkPlaysOnSpeaker(t *testing.T) {
	out := mediatest.NewEcho(play.NewTestSink(10 * time.Millisecond))
	m := soundMonitor(t, out, time.Minute, time.Second)
	la, mona := pairedListener(t, m, "kitchen")
	lb, monb := pairedListener(t, m, "bedroom")
	a := la.Start(mona, listener.SessionOptions{Stream: listener.StreamAudio})
	defer a.Close()
	b := lb.Start(monb, listener.SessionOptions{Stream: listener.StreamAudio})
	defer b.Close()
	subA := a.Subscribe(listener.SubscribeOptions{PCM: true})
	defer subA.Close()
	subB := b.Subscribe(listener.SubscribeOptions{PCM: true})
	defer subB.Close()
	evB := b.Subscribe(listener.SubscribeOptions{})
	defer evB.Close()

	// Both listen first: the nursery is quiet.
	waitStreaming(t, a)
	waitStreaming(t, b)
	stopPCM := make(chan struct{})
	pcmA, pcmB := pcmOf(subA, stopPCM), pcmOf(subB, stopPCM)

	src := newToneSource(700)
	defer src.Close()
	began := time.Now()
	tk, err := talk(t, a, src)
	if err != nil {
		t.Fatalf("Talk: %v", err)
	}
	// Another listener is refused while kitchen talks.
	src2 := newToneSource(300)
	defer src2.Close()
	if _, err := talk(t, b, src2); !errors.Is(err, control.ErrBusy) || !strings.Contains(err.Error(), "kitchen") {
		t.Errorf("a second talker: %v, want busy naming kitchen", err)
	}
	// bedroom is told that kitchen talks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for told := false; !told; {
		ev, err := evB.Next(ctx)
		if err != nil {
			t.Fatalf("bedroom was not told who talks: %v", err)
		}
		if e, ok := ev.(listener.TalkEvent); ok && e.State.Talking {
			if e.State.By != "kitchen" || e.State.You || !e.State.Speaker {
				t.Errorf("bedroom told %+v", e.State)
			}
			told = true
		}
		if e, ok := ev.(listener.StatusEvent); ok && e.Status.Noise {
			t.Fatal("status says noise while the monitor plays a voice")
		}
	}
	time.Sleep(1500 * time.Millisecond)
	// A voice is nothing like a steady sound: the noise detector is gated
	// entirely, not merely raised above it (as for a soothing sound).
	if !m.hub.NoiseGated() {
		t.Error("the noise detector is not gated while a voice plays")
	}
	if err := tk.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	tk.Stop() // twice is fine
	talked := time.Since(began)
	time.Sleep(300 * time.Millisecond)
	close(stopPCM)
	heardA, heardB := <-pcmA, <-pcmB

	// The speaker: silence, the chime, then the voice, never over the
	// ceiling.
	played := out.Output.(*play.TestSink).Played()
	start := -1
	for i, v := range played {
		if v > 50 || v < -50 {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("the speaker played nothing")
	}
	note := int(soothe.ChimeNote * media.SampleRate / time.Second)
	if len(played) < start+2*note+media.SampleRate/2 {
		t.Fatalf("the speaker played %d samples after the start", len(played)-start)
	}
	if d := pulsetest.Dominant(played[start:start+note], media.SampleRate, 300, 1200, 5); math.Abs(d-soothe.ChimeLow) > 10 {
		t.Errorf("the talk began at %v Hz, want the chime's %v", d, soothe.ChimeLow)
	}
	if d := pulsetest.Dominant(played[start+note:start+2*note], media.SampleRate, 300, 1200, 5); math.Abs(d-soothe.ChimeHigh) > 10 {
		t.Errorf("the chime's second note at %v Hz, want %v", d, soothe.ChimeHigh)
	}
	voice := played[start+2*note+media.SampleRate/10 : start+2*note+media.SampleRate/2]
	if !tone700(voice) {
		t.Errorf("after the chime the speaker plays %v Hz at %.3f, want the voice's 700 Hz", pulsetest.Dominant(voice, media.SampleRate, 300, 1200, 5), pulsetest.RMS(voice))
	}
	ceilF := float32(soothe.DefaultCeiling)
	ceil := int16(ceilF * 32767)
	for i, v := range played {
		if v > ceil || v < -ceil {
			t.Fatalf("speaker sample %d is %d, over the ceiling %d", i, v, ceil)
		}
	}
	tail := played[len(played)-media.SampleRate/10:]
	if r := pulsetest.RMS(tail); r > 0.001 {
		t.Errorf("the speaker still plays %.3f after the talk stopped", r)
	}

	// The nursery's feed: bedroom hears the voice (the microphone hears
	// the speaker); kitchen, while it talks, hears nothing of it.
	if !hasTone700(heardB) {
		t.Error("bedroom did not hear the voice in the nursery")
	}
	if hasTone700(heardA) {
		t.Error("kitchen heard its own voice come back")
	}

	// The log: who talked, and for how long.
	var started, ended bool
	var endedAs []store.TalkEnded
	m.st.Events(0, func(e store.Event) error {
		switch p := e.Payload.(type) {
		case store.TalkStarted:
			started = p.By == "kitchen" && p.Peer != ""
		case store.TalkEnded:
			endedAs = append(endedAs, p)
			// (the monitor ends it when the stop arrives, a moment after Stop returns)
			ended = p.Reason == store.TalkEndedStopped && p.Duration > time.Second && p.Duration <= talked+2*time.Second
		}
		return nil
	})
	if !started || !ended {
		t.Errorf("log: talk-started by kitchen %v, talk-ended stopped with its length %v (talked %v; ended %+v)", started, ended, talked, endedAs)
	}
	if m.hub.Stats().NoiseEvents != 0 {
		t.Errorf("the VOX counted %d noise events on the monitor's own playback", m.hub.Stats().NoiseEvents)
	}
}

// hasTone700 reports whether some 100 ms of pcm carry the 700 Hz voice.
func hasTone700(pcm []int16) bool {
	const w = media.SampleRate / 10
	for off := 0; off+w <= len(pcm); off += w / 2 {
		if tone700(pcm[off : off+w]) {
			return true
		}
	}
	return false
}

func waitStreaming(t *testing.T, s *listener.Session) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.Snapshot().Streaming {
		if time.Now().After(deadline) {
			t.Fatal("the session does not stream")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTalkStrangerRefused: a stranger's talk request (stream_start kind
// talk, then an offer) is refused untrusted and closed; the speaker stays
// silent and nothing is logged.
func TestTalkStrangerRefused(t *testing.T) {
	sink := play.NewTestSink(10 * time.Millisecond)
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.OpenPairing(0)
	c := newClient(t)
	conn, ack := c.dial(m)
	if ack.Trusted {
		t.Fatal("a stranger trusted")
	}
	conn.Send(context.Background(), control.StreamStart{Session: "t", Kind: control.StreamTalk})
	conn.Send(context.Background(), control.WebRTCOffer{Session: "t", SDP: "v=0\r\n"})
	msg := recvAny(t, conn)
	if e, ok := msg.(control.ErrorMsg); !ok || e.Code != control.CodeUntrusted.String() {
		t.Fatalf("a stranger's talk answered %+v, want untrusted", msg)
	}
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the stranger is still connected")
	}
	time.Sleep(300 * time.Millisecond)
	for i, v := range sink.Played() {
		if v != 0 {
			t.Fatalf("the speaker sounded (sample %d) for a stranger", i)
		}
	}
	m.st.Events(0, func(e store.Event) error {
		if _, ok := e.Payload.(store.TalkStarted); ok {
			t.Error("a stranger's talk was logged as started")
		}
		return nil
	})
}

// TestTalkEndedAfterPowerCut: a talk-started without its talk-ended (the
// power went while a parent talked) is closed at the next start.
func TestTalkEndedAfterPowerCut(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Store().Append(context.Background(), store.TalkStarted{By: "kitchen", Peer: "ABCDEFG"}); err != nil {
		t.Fatal(err)
	}
	m.Close() // as a power cut would: the core never heard of it
	m, err = Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var last store.Payload
	m.Store().Events(0, func(e store.Event) error {
		switch e.Payload.(type) {
		case store.TalkStarted, store.TalkEnded:
			last = e.Payload
		}
		return nil
	})
	if p, ok := last.(store.TalkEnded); !ok || p.Reason != store.TalkEndedShutdown {
		t.Fatalf("last talk event %+v, want talk-ended shutdown", last)
	}
}

// TestTalkDucksSound: a soothing sound playing while a parent talks is
// lowered by about 12 dB under the voice, and comes back after.
func TestTalkDucksSound(t *testing.T) {
	sink := play.NewTestSink(10 * time.Millisecond)
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, mon := pairedListener(t, m, "kitchen")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	startSound(t, s, control.SoundWhite, 0)
	time.Sleep(500 * time.Millisecond)
	level := func(d time.Duration) float64 {
		n := len(sink.Played())
		time.Sleep(d)
		return pulsetest.RMS(sink.Played()[n:])
	}
	before := level(300 * time.Millisecond)
	silent := listener.TalkFunc(func() ([]int16, error) { // a parent who says nothing
		time.Sleep(10 * time.Millisecond)
		return make([]int16, media.SampleRate/100), nil
	})
	tk, err := talk(t, s, silent)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // past the chime
	during := level(300 * time.Millisecond)
	tk.Stop()
	time.Sleep(300 * time.Millisecond)
	after := level(300 * time.Millisecond)
	t.Logf("white noise RMS before %.4f, under the voice %.4f, after %.4f", before, during, after)
	if db := 20 * math.Log10(during/before); db > -10 || db < -14 {
		t.Errorf("ducked by %.1f dB, want about -12", db)
	}
	if db := 20 * math.Log10(after/before); math.Abs(db) > 1 {
		t.Errorf("after the talk the sound is %.1f dB from before, want back at its level", db)
	}
}

// TestTalkEndsWithSession: closing the talker's session ends its talk
// (Done) and the monitor records it closed.
func TestTalkEndsWithSession(t *testing.T) {
	sink := play.NewTestSink(10 * time.Millisecond)
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, mon := pairedListener(t, m, "kitchen")
	s := l.Start(mon, listener.SessionOptions{})
	src := newToneSource(700)
	defer src.Close()
	tk, err := talk(t, s, src)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-tk.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the talk outlived its session")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var reason string
		m.st.Events(0, func(e store.Event) error {
			if p, ok := e.Payload.(store.TalkEnded); ok {
				reason = p.Reason
			}
			return nil
		})
		if reason == store.TalkEndedClosed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("talk-ended %q, want closed", reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
