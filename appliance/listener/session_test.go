package listener

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/mediatest"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup runs a monitor and a listener paired with it through a relay.
func setup(t testing.TB, mcfg ...monitor.Config) (*monitor.Monitor, *Listener, PairedMonitor, *relay) {
	t.Helper()
	dir := t.TempDir()
	cfg := monitor.Config{}
	if len(mcfg) > 0 {
		cfg = mcfg[0]
	}
	cfg.StateDir, cfg.Listen = filepath.Join(dir, "m"), "127.0.0.1:0"
	mon, err := monitor.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	r := newRelay(t, mon.Addr())
	l, err := Open(Config{StateDir: filepath.Join(dir, "l"), Name: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := l.Pair(ctx, PairRequest{Target: r.addr(), Code: mon.SetupCode()})
	if err != nil {
		t.Fatal(err)
	}
	return mon, l, m, r
}

// events collects a subscription's events in a goroutine the test owns.
type events struct {
	t   testing.TB
	sub *Subscription
	ch  chan Event
}

func watch(t testing.TB, s *Session, opt SubscribeOptions) *events {
	e := &events{t: t, sub: s.Subscribe(opt), ch: make(chan Event, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := e.sub.Next(context.Background())
			if err != nil {
				return
			}
			e.ch <- ev
		}
	}()
	t.Cleanup(func() { e.sub.Close(); <-done })
	return e
}

// until returns the first event for which match is true, within d.
func (e *events) until(d time.Duration, what string, match func(Event) bool) Event {
	e.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-e.ch:
			if match(ev) {
				return ev
			}
		case <-deadline:
			e.t.Fatalf("no %s within %v", what, d)
			return nil
		}
	}
}

func isPresence(p Presence) func(Event) bool {
	return func(ev Event) bool { pe, ok := ev.(PresenceEvent); return ok && pe.Presence == p }
}

func isAlarm(active bool, r alarm.Reason) func(Event) bool {
	return func(ev Event) bool {
		a, ok := ev.(AlarmEvent)
		return ok && a.State.Active == active && (!active || a.State.Reason == r && a.State.Sounding)
	}
}

func isAudio(ev Event) bool { m, ok := ev.(MediaEvent); return ok && !m.Video }

// TestSessionLinkLostAndBack: while listening, a cut network is reported
// offline and raises the link-lost alarm within 3.5 s; when the network
// returns the session reconnects by itself, the stream resumes and the
// alarm clears by itself.
func TestSessionLinkLostAndBack(t *testing.T) {
	_, l, m, r := setup(t)
	s := l.Start(m, SessionOptions{Stream: StreamAudio})
	defer s.Close()
	ev := watch(t, s, SubscribeOptions{Audio: true})
	ev.until(5*time.Second, "online", isPresence(Online))
	ev.until(5*time.Second, "audio", isAudio)
	cut := time.Now()
	r.blocked.Store(true)
	ev.until(5*time.Second, "offline", isPresence(Offline))
	if d := time.Since(cut); d > 3500*time.Millisecond {
		t.Errorf("offline after %v, want within 3.5s", d)
	}
	ev.until(time.Second, "link-lost alarm", isAlarm(true, alarm.LinkLost))
	if d := time.Since(cut); d > 3500*time.Millisecond {
		t.Errorf("link-lost alarm after %v, want within 3.5s", d)
	}
	before := s.Stats()
	back := time.Now()
	r.blocked.Store(false)
	ev.until(5*time.Second, "online", isPresence(Online))
	ev.until(5*time.Second, "alarm cleared", isAlarm(false, alarm.None))
	ev.until(5*time.Second, "audio after reconnecting", isAudio)
	t.Logf("offline after %v, online and cleared %v after the network returned", back.Sub(cut), time.Since(back))
	if st := s.Stats(); st.Streams <= before.Streams || st.Connections < 2 {
		t.Fatalf("stream not restarted after the reconnection: before %+v, after %+v", before, st)
	}
}

// TestSessionAudioLost: the monitor's microphone stalls while the link
// stays up: the audio-lost alarm within 500 ms of the last packet, and
// no link-lost alarm.
func TestSessionAudioLost(t *testing.T) {
	_, l, m, _ := setup(t, monitor.Config{Media: media.ModeTest, MediaConfig: media.Config{TestAudio: "tone:2s,stall"}, History: monitor.HistoryConfig{Off: true}})
	s := l.Start(m, SessionOptions{Stream: StreamAudio})
	defer s.Close()
	ev := watch(t, s, SubscribeOptions{Audio: true})
	ev.until(5*time.Second, "audio", isAudio)
	var last time.Time
	a := ev.until(10*time.Second, "audio-lost alarm", func(e Event) bool {
		switch e := e.(type) {
		case MediaEvent:
			last = e.Arrived
		case AlarmEvent:
			if e.State.Active && e.State.Reason != alarm.AudioLost {
				t.Fatalf("alarm %v, want audio lost", e.State.Reason)
			}
			return e.State.Active
		}
		return false
	}).(AlarmEvent)
	onset := a.State.Since.Sub(last)
	t.Logf("audio-lost alarm %v after the last packet", onset)
	if onset > 500*time.Millisecond || onset < 300*time.Millisecond {
		t.Fatalf("audio-lost alarm %v after the last packet, want 400-500ms", onset)
	}
	if p := s.Snapshot().Presence; p != Online {
		t.Fatalf("presence %s during an audio stall, want online", p)
	}
}

// TestSessionDecodesTheTone: a PCM subscriber gets the monitor's 440 Hz
// test tone decoded, 10 ms frames with continuous timestamps.
func TestSessionDecodesTheTone(t *testing.T) {
	_, l, m, _ := setup(t, monitor.Config{Media: media.ModeTest})
	s := l.Start(m, SessionOptions{Stream: StreamAudio})
	defer s.Close()
	ev := watch(t, s, SubscribeOptions{PCM: true})
	var pcm []int16
	var prevTS uint32
	prevLen, frames := 0, 0
	ev.until(10*time.Second, "a second of decoded audio", func(e Event) bool {
		p, ok := e.(PCMEvent)
		if !ok {
			return false
		}
		if frames > 0 && p.Frame.TS != prevTS+uint32(prevLen) {
			t.Errorf("timestamp jumped from %d (+%d) to %d", prevTS, prevLen, p.Frame.TS)
		}
		prevTS, prevLen = p.Frame.TS, len(p.Frame.PCM)
		frames++
		pcm = append(pcm, p.Frame.PCM...)
		return len(pcm) >= 48000
	})
	tail := pcm[len(pcm)/2:]
	at440, at1k := pulsetest.Goertzel(tail, pulsetest.Rate, 440), pulsetest.Goertzel(tail, pulsetest.Rate, 1000)
	if at440 < 100*at1k {
		t.Fatalf("decoded audio: power at 440 Hz %.3g, at 1 kHz %.3g: not the tone", at440, at1k)
	}
	// Its subscriber gone (Close twice is one close), nobody is decoded for.
	ev.sub.Close()
	ev.sub.Close()
	if n := s.pcmSubs.Load(); n != 0 {
		t.Fatalf("%d PCM subscribers after the only one closed", n)
	}
}

// TestSessionMonitorInfo: the monitor's control card over the control
// channel: its port, and this listener's connection with a recent
// heartbeat.
func TestSessionMonitorInfo(t *testing.T) {
	mon, l, m, _ := setup(t)
	s := l.Start(m, SessionOptions{})
	defer s.Close()
	ev := watch(t, s, SubscribeOptions{})
	ev.until(5*time.Second, "online", isPresence(Online))
	if _, err := (&Session{}).MonitorInfo(context.Background()); !errors.Is(err, ErrOffline) {
		t.Fatalf("MonitorInfo without a connection: %v, want ErrOffline", err)
	}
	time.Sleep(1500 * time.Millisecond) // a heartbeat or two
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := s.MonitorInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Port != mon.Addr().Port || info.Name == "" {
		t.Fatalf("info %+v, want port %d and the room name", info, mon.Addr().Port)
	}
	if len(info.Connections) != 1 {
		t.Fatalf("%d connections, want this one: %+v", len(info.Connections), info.Connections)
	}
	c := info.Connections[0]
	if !c.You || !c.Trusted || c.Name != "parent" || c.DeviceID != l.Fingerprint().DeviceID() {
		t.Fatalf("connection %+v, want this trusted listener", c)
	}
	if c.HeartbeatMillis > 1500 || c.ConnectedMillis < 1000 || c.RTTMicros <= 0 {
		t.Fatalf("connection %+v: want a heartbeat within 1.5 s, connected over 1 s, an RTT", c)
	}
}

// TestSessionPairingWindow: a paired listener opens the monitor's pairing
// window for a new phone, hears of a wrong code tried by a stranger (the
// parents are told someone may be guessing), and closes it again.
func TestSessionPairingWindow(t *testing.T) {
	mon, l, m, _ := setup(t)
	s := l.Start(m, SessionOptions{})
	defer s.Close()
	ev := watch(t, s, SubscribeOptions{})
	ev.until(5*time.Second, "online", func(e Event) bool { p, ok := e.(PresenceEvent); return ok && p.Presence == Online })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.OpenPairing(ctx, 2*time.Minute)
	if err != nil || !st.Open || st.RemainingMillis < 119000 || st.RemainingMillis > 120000 {
		t.Fatalf("OpenPairing = %+v, %v", st, err)
	}
	if _, err := s.OpenPairing(ctx, time.Hour); !errors.Is(err, control.ErrBadRequest) {
		t.Fatalf("an hour's window: %v, want bad_request", err)
	}
	// A stranger tries a wrong code.
	stranger, err := Open(Config{StateDir: t.TempDir(), Name: "stranger"})
	if err != nil {
		t.Fatal(err)
	}
	wrong := pairing.Code("24681357")
	if mon.SetupCode() == wrong {
		wrong = "13572468"
	}
	if _, err := stranger.Pair(ctx, PairRequest{Target: mon.Addr().String(), Code: wrong}); !errors.Is(err, control.ErrPairingFailed) {
		t.Fatalf("a wrong code: %v", err)
	}
	got := ev.until(5*time.Second, "a wrong code noticed", func(e Event) bool {
		p, ok := e.(PairingEvent)
		return ok && p.State.FailedAttempts == 1
	}).(PairingEvent)
	if !got.State.Open {
		t.Fatalf("the window closed after one wrong code: %+v", got.State)
	}
	if snap := s.Snapshot(); snap.Pairing == nil || snap.Pairing.State.FailedAttempts != 1 {
		t.Fatalf("snapshot pairing %+v", snap.Pairing)
	}
	st, err = s.ClosePairing(ctx)
	if err != nil || st.Open || st.Closed != control.PairingClosedManual || st.FailedAttempts != 1 {
		t.Fatalf("ClosePairing = %+v, %v", st, err)
	}
	if mon.Status().Pairing.Open {
		t.Fatal("the monitor's window is still open")
	}
}

// TestSessionMicrophoneOutage: the monitor's microphone is pulled out
// while a listener listens: the audio-lost alarm sounds and the status
// carries the microphone fault; plugged back, the same session (no
// reconnection, no new stream) hears audio again and the alarm clears by
// itself, within 10 s.
func TestSessionMicrophoneOutage(t *testing.T) {
	mic := mediatest.NewMic(440, 0.25)
	_, l, m, _ := setup(t, monitor.Config{Media: media.ModeDevices, Sources: &media.Sources{Audio: mic}})
	s := l.Start(m, SessionOptions{Stream: StreamAudio})
	defer s.Close()
	ev := watch(t, s, SubscribeOptions{Audio: true})
	ev.until(5*time.Second, "online", isPresence(Online))
	ev.until(5*time.Second, "audio", isAudio)

	mic.PullOut()
	out := time.Now()
	ev.until(2*time.Second, "audio-lost alarm", isAlarm(true, alarm.AudioLost))
	alarmAfter := time.Since(out)
	ev.until(2*time.Second-alarmAfter, "the microphone fault in the status", func(e Event) bool {
		st, ok := e.(StatusEvent)
		return ok && slices.Contains(st.Status.Faults, control.FaultMicrophone)
	})
	faultAfter := time.Since(out)
	before := s.Stats()
	time.Sleep(2 * time.Second) // a while without it

	mic.PlugIn()
	back := time.Now()
	ev.until(10*time.Second, "audio after the microphone came back", isAudio)
	audioAfter := time.Since(back)
	ev.until(10*time.Second-audioAfter, "alarm cleared", isAlarm(false, alarm.None))
	t.Logf("pulled out: alarm after %v, fault in the status after %v; plugged back: audio after %v, alarm cleared after %v",
		alarmAfter.Round(time.Millisecond), faultAfter.Round(time.Millisecond), audioAfter.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	if st := s.Stats(); st.Streams != before.Streams || st.Connections != before.Connections {
		t.Fatalf("the session reconnected or restarted its stream: before %+v, after %+v", before, st)
	}
}
