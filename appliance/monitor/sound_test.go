package monitor

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/mediatest"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"github.com/cradle-monitor/cradle/store"
)

// soundMonitor opens a monitor whose speaker is out and whose
// microphone hears it; a timer's minute lasts minute and the fade fade.
// Its VOX fires on anything over -45 dBFS within 200 ms.
func soundMonitor(t *testing.T, out *mediatest.Echo, minute, fade time.Duration) *Monitor {
	t.Helper()
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0",
		Sources:       &media.Sources{Audio: out},
		MediaConfig:   media.Config{Vox: media.VoxConfig{ThresholdDBFS: -45, Attack: 200 * time.Millisecond, Hold: 300 * time.Millisecond}},
		History:       HistoryConfig{Step: time.Second, Flush: 200 * time.Millisecond, Gap: 2 * time.Second},
		SpeakerOutput: out, SoundMinute: minute, SoundFade: fade})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// startSound starts sound on s once the session is online.
func startSound(t *testing.T, s *listener.Session, sound string, minutes int) control.SoundState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		st, err := s.StartSound(ctx, sound, minutes)
		if !errors.Is(err, listener.ErrOffline) {
			if err != nil {
				t.Fatalf("StartSound: %v", err)
			}
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatal("the session did not come online")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestSoothingSoundPlaysFadesStops plays pink noise with a 15-minute
// timer (a minute of 300 ms: 4.5 s) through miniaudio into PulseAudio's
// null sink, with a microphone that hears the speaker: the recording
// holds pink noise at the ceiling's level, then a fade, then silence; the
// listener hears sound_state playing, fading, stopped; no status says
// noise, the VOX counts no event, the history holds no episode; the log
// records who started it and that the timer stopped it.
func TestSoothingSoundPlaysFadesStops(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	dev, err := play.OpenDevice("")
	if err != nil {
		t.Fatalf("OpenDevice: %v", err)
	}
	out := mediatest.NewEcho(dev)
	m := soundMonitor(t, out, 300*time.Millisecond, 1500*time.Millisecond)
	l, mon := pairedListener(t, m, "kitchen")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	sub := s.Subscribe(listener.SubscribeOptions{})
	defer sub.Close()

	rec := srv.StartRecording(t)
	began := time.Now()
	st := startSound(t, s, control.SoundPink, 15)
	if !st.Playing || st.Sound != control.SoundPink || st.By != "kitchen" || !st.Speaker || st.Ref != control.TypeSoundStart {
		t.Fatalf("answer %+v", st)
	}
	if st.RemainingMillis < 4000 || st.RemainingMillis > 4500 {
		t.Errorf("remaining %d ms, want 4500", st.RemainingMillis)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var playing, fading, stopped bool
	var statuses int
	for !stopped {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for the sound's end: %v (fading seen: %v)", err, fading)
		}
		switch ev := ev.(type) {
		case listener.SoundEvent:
			fading = fading || ev.State.Fading
			playing = playing || ev.State.Playing
			stopped = playing && !ev.State.Playing
		case listener.StatusEvent:
			statuses++
			if ev.Status.Noise {
				t.Fatalf("status says noise %.0f s into the monitor's own playback (%.1f dBFS)", time.Since(began).Seconds(), ev.Status.RMSDBFS)
			}
		}
	}
	played := time.Since(began)
	time.Sleep(700 * time.Millisecond) // silence after: recorded, and heard by the VOX
	pcm := rec.Stop()
	if !fading {
		t.Error("no sound_state said fading")
	}
	if played < 4*time.Second || played > 7*time.Second {
		t.Errorf("played %v, want about 4.5 s", played)
	}
	if statuses == 0 {
		t.Error("no status while playing")
	}

	// The recording: loud from the start to the fade, then fading, then
	// silence.
	start := -1
	for i, v := range pcm {
		if v > 100 || v < -100 {
			start = i
			break
		}
	}
	if start < 0 {
		played, peak := out.Played()
		t.Fatalf("nothing recorded (%d samples, RMS %.5f); played %d, peak %d", len(pcm), pulsetest.RMS(pcm), played, peak)
	}
	sec := pulsetest.Rate
	full := pcm[start+sec/2 : start+5*sec/2] // 0.5 to 2.5 s: before the fade (3 s)
	rms := pulsetest.RMS(full)
	want := 0.25 * 0.25 // the ceiling, times pink's RMS of -12 dBFS
	if math.Abs(20*math.Log10(rms/want)) > 2 {
		t.Errorf("RMS while playing %.4f (%.1f dBFS), want %.4f (%.1f dBFS)", rms, 20*math.Log10(rms), want, 20*math.Log10(want))
	}
	slope := pulsetest.SpectrumDB(full, pulsetest.Rate, 4000) - pulsetest.SpectrumDB(full, pulsetest.Rate, 250)
	if slope < -16 || slope > -8 {
		t.Errorf("spectrum %.1f dB from 250 Hz to 4 kHz, want about -12 (pink)", slope)
	}
	fade := pulsetest.RMS(pcm[start+3*sec+sec/2 : start+4*sec+sec/4]) // 3.5 to 4.25 s
	if fade > rms*0.7 || fade < rms*0.02 {
		t.Errorf("RMS in the fade %.4f, want between silence and %.4f", fade, rms)
	}
	if tail := pulsetest.RMS(pcm[len(pcm)-sec/4:]); tail > 0.0005 {
		t.Errorf("RMS after the end %.5f: the speaker plays on", tail)
	}
	t.Logf("recorded %.1f s: RMS %.1f dBFS, slope %.1f dB over 4 octaves, fade RMS %.1f dBFS", float64(len(pcm))/float64(sec), 20*math.Log10(rms), slope, 20*math.Log10(fade))

	if n := m.hub.Stats().NoiseEvents; n != 0 {
		t.Errorf("the VOX counted %d noise events from the monitor's own playback", n)
	}
	h, err := listener.FetchHistory(ctx, s, began.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Episodes) != 0 {
		t.Errorf("the history holds episodes from the monitor's own playback: %+v", h.Episodes)
	}
	var started, ended []store.Payload
	m.Store().Events(0, func(e store.Event) error {
		switch e.Payload.(type) {
		case store.SoundStarted:
			started = append(started, e.Payload)
		case store.SoundStopped:
			ended = append(ended, e.Payload)
		}
		return nil
	})
	if len(started) != 1 || len(ended) != 1 {
		t.Fatalf("log: started %+v, stopped %+v", started, ended)
	}
	if p := started[0].(store.SoundStarted); p.Sound != "pink" || p.Minutes != 15 || p.By != "kitchen" || p.Peer != l.Fingerprint().DeviceID() {
		t.Errorf("sound-started %+v", p)
	}
	if p := ended[0].(store.SoundStopped); p.Reason != store.SoundStoppedTimer || p.Duration < 4500*time.Millisecond || p.Duration > 5*time.Second {
		t.Errorf("sound-stopped %+v, want timer after 4.5s", p)
	}
}

// TestSoundStrangerRefused: a stranger's sound_start and sound_stop are
// refused (untrusted) and its connection closed; nothing is recorded and
// the speaker never starts.
func TestSoundStrangerRefused(t *testing.T) {
	sink := play.NewTestSink(0)
	m := soundMonitor(t, mediatest.NewEcho(sink), 0, 0)
	if _, err := m.OpenPairing(0); err != nil { // so that a stranger is served at all
		t.Fatal(err)
	}
	for _, req := range []control.Message{control.SoundStart{Sound: control.SoundWhite}, control.SoundStop{}} {
		c := newClient(t)
		conn, ack := c.dial(m)
		if ack.Trusted {
			t.Fatal("a stranger trusted")
		}
		send(t, conn, req)
		msg := recv(t, conn)
		if e, ok := msg.(control.ErrorMsg); !ok || e.Code != control.CodeUntrusted.String() {
			t.Fatalf("%s from a stranger answered %#v", req.MessageType(), msg)
		}
		select {
		case <-conn.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the stranger's connection stays open")
		}
	}
	m.settle()
	if n := len(sink.Played()); n != 0 {
		t.Errorf("the speaker played %d samples for a stranger", n)
	}
	m.Store().Events(0, func(e store.Event) error {
		switch e.Payload.(type) {
		case store.SoundStarted, store.SoundStopped:
			t.Errorf("a stranger's request recorded: %+v", e.Payload)
		}
		return nil
	})
}

// TestSoundWithoutSpeaker: a monitor with no speaker answers
// unavailable, with advice about plugging one in.
func TestSoundWithoutSpeaker(t *testing.T) {
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Speaker: SpeakerNone})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, mon := pairedListener(t, m, "kitchen")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err = s.StartSound(ctx, control.SoundLullaby, 30)
		if !errors.Is(err, listener.ErrOffline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(err, control.ErrUnavailable) {
		t.Fatalf("StartSound without a speaker: %v, want unavailable", err)
	}
	t.Logf("the parent reads: %v", err)
}

// TestSoundEndedAfterPowerCut: a sound-started without its sound-stopped
// (the power went while it played) is closed at the next start.
func TestSoundEndedAfterPowerCut(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Store().Append(context.Background(), store.SoundStarted{Sound: "brown", By: "kitchen"}); err != nil {
		t.Fatal(err)
	}
	m.Close() // as a power cut would: the core never played it
	m, err = Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var last store.Payload
	m.Store().Events(0, func(e store.Event) error {
		switch e.Payload.(type) {
		case store.SoundStarted, store.SoundStopped:
			last = e.Payload
		}
		return nil
	})
	if p, ok := last.(store.SoundStopped); !ok || p.Reason != store.SoundStoppedShutdown {
		t.Fatalf("last sound event %+v, want sound-stopped shutdown", last)
	}
}
