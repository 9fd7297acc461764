package listener

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
)

// fakeStream is a stream attempt without WebRTC: it connects at once and
// lasts until the connection or the session ends or the mode changes.
func fakeStream(s *Session, ctx context.Context, c Conn, inbox <-chan control.Message, mode StreamMode, video bool) error {
	s.streamEvent(StreamStarting, control.StreamAudio, nil)
	s.streamEvent(StreamConnected, control.StreamAudio, nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.modeWake:
			if s.Stream() != mode {
				return errModeChanged
			}
		case <-inbox:
		}
	}
}

// quietNursery plays a quiet nursery over c for d: an audio packet every
// 20 ms (Opus keeps sending in silence) and a status every second, as the
// monitor sends them. It returns the time of the last packet.
func quietNursery(s *Session, c *fakeConn, d time.Duration) time.Time {
	pkt := &rtp.Packet{Payload: make([]byte, 3)}
	start := time.Now()
	var last time.Time
	for i := 0; time.Since(start) < d; i++ {
		time.Sleep(20 * time.Millisecond)
		last = time.Now()
		s.onAudio(pkt, "audio/opus", last, i == 0)
		if i%50 == 49 {
			c.in <- control.Status{RMSDBFS: -60}
		}
	}
	return last
}

// TestIdleSessionWakeups: a session listening to a quiet nursery for a
// virtual minute wakes its timer only at the alarm's deadlines, which
// every packet pushes back: not once, where the old 50 ms poll woke 1200
// times. When the audio stops, the timer fires once, at the deadline, and
// raises the alarm there.
func TestIdleSessionWakeups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := fakeSession(t, newFakeDialer(dialResult{conn: c}), false, SessionOptions{Stream: StreamAudio, stream: fakeStream})
		sub := s.Subscribe(SubscribeOptions{})
		waitPresence(t, sub, Online)
		last := quietNursery(s, c, time.Minute)
		synctest.Wait()
		if n := s.wakeups.Load(); n != 0 {
			t.Fatalf("%d timer wake-ups in a minute of quiet streaming, want 0 (the deadline moves with every packet)", n)
		}
		if st := s.Stats(); st.AudioPackets < 2900 || st.Statuses < 59 {
			t.Fatalf("stats %+v: the nursery did not play", st)
		}
		for {
			a, ok := next(t, sub).(AlarmEvent)
			if !ok {
				continue
			}
			if !a.State.Active || a.State.Reason != alarm.AudioLost {
				t.Fatalf("alarm %+v, want audio lost", a.State)
			}
			if gap := a.State.Since.Sub(last); gap != alarm.DefaultAudioGap {
				t.Fatalf("audio-lost alarm %v after the last packet, want exactly %v (the deadline)", gap, alarm.DefaultAudioGap)
			}
			break
		}
		if n := s.wakeups.Load(); n != 1 {
			t.Fatalf("%d timer wake-ups for one alarm, want 1", n)
		}
		// Raised, the alarm waits for nothing: a quiet minute more, no wake-up.
		time.Sleep(time.Minute)
		if n := s.wakeups.Load(); n != 1 {
			t.Fatalf("%d timer wake-ups after the alarm, want still 1", n)
		}
	})
}

// TestIdleSessionNotListening: a session that only watches presence has
// no deadline at all: no wake-ups over a virtual hour of statuses.
func TestIdleSessionNotListening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := fakeSession(t, newFakeDialer(dialResult{conn: c}), false, SessionOptions{stream: fakeStream})
		sub := s.Subscribe(SubscribeOptions{})
		waitPresence(t, sub, Online)
		for range 3600 {
			time.Sleep(time.Second)
			c.in <- control.Status{RMSDBFS: -60}
		}
		synctest.Wait()
		if n := s.wakeups.Load(); n != 0 {
			t.Fatalf("%d timer wake-ups in an hour not listening, want 0", n)
		}
	})
}

// TestSessionStreamUpRestartsGrace: the alarm hears StreamUp when the
// stream connects (alarm duty 3): a stream that connects 4 s after the
// connection gets its full grace from then, not from the connection.
func TestSessionStreamUpRestartsGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		connected := make(chan time.Time, 1)
		late := func(s *Session, ctx context.Context, c Conn, inbox <-chan control.Message, mode StreamMode, video bool) error {
			time.Sleep(4 * time.Second)
			connected <- time.Now()
			return fakeStream(s, ctx, c, inbox, mode, video)
		}
		s := fakeSession(t, newFakeDialer(dialResult{conn: c}), false, SessionOptions{Stream: StreamAudio, stream: late})
		sub := s.Subscribe(SubscribeOptions{})
		waitPresence(t, sub, Online)
		up := <-connected
		for {
			if a, ok := next(t, sub).(AlarmEvent); ok {
				if d := a.State.Since.Sub(up); a.State.Reason != alarm.AudioLost || d != alarm.DefaultStreamGrace {
					t.Fatalf("alarm %v %v after the stream came up, want audio lost after the grace %v", a.State.Reason, d, alarm.DefaultStreamGrace)
				}
				return
			}
		}
	})
}
