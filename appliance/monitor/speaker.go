package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/soothe"
	"github.com/cradle-monitor/cradle/store"
)

// The speaker's shell: the core's SoundPlay, SoundFade and SoundHalt
// carried out on the speaker worker (one job at a time, in step order),
// and the noise gate the monitor's own playback holds closed.

// Speaker settings (Config.Speaker).
const (
	SpeakerAuto = "auto" // the system's default output, if there is one
	SpeakerNone = "none" // no speaker
)

// gateTail is how long the noise detector stays gated after the speaker
// falls silent: the room's echo, the output's latency.
const gateTail = time.Second

// haltWait bounds how long the speaker worker waits for a stopped
// stream's ramp (a hung output must not hold it).
const haltWait = time.Second

// speakerPart plays the soothing sounds. Its fields are the speaker
// worker's, but for the gate timer (mu).
type speakerPart struct {
	m   *Monitor
	spk *soothe.Speaker // nil: no speaker
	w   *worker
	cur *soothe.Stream
	gen uint64

	mu     sync.Mutex
	tail   *time.Timer // opens the gate after the tail
	closed bool
}

// openSpeaker opens the speaker cfg names; without one (none, or auto
// with no output, or a device that does not open) the monitor runs
// without: sound_start is answered unavailable.
func (m *Monitor) openSpeaker() *soothe.Speaker {
	out := m.cfg.SpeakerOutput
	if out == nil {
		name := m.cfg.Speaker
		switch name {
		case "", SpeakerNone:
			return nil
		case SpeakerAuto:
			name = ""
		}
		var err error
		if out, err = play.OpenDevice(name); err != nil {
			if m.cfg.Speaker == SpeakerAuto {
				m.log.Info("no speaker: soothing sounds are off", "why", err)
			} else {
				m.log.Error("the speaker cannot be opened: soothing sounds are off", "speaker", m.cfg.Speaker, "err", err)
			}
			return nil
		}
	}
	spk, err := soothe.NewSpeaker(out, m.cfg.SpeakerVolume)
	if err != nil {
		out.Close()
		m.log.Error("the speaker: soothing sounds are off", "err", err)
		return nil
	}
	m.log.Info("speaker ready for soothing sounds", "output", out.Name(), "volume", m.cfg.SpeakerVolume)
	return spk
}

// give hands a sound effect to the speaker worker.
func (s *speakerPart) give(e Effect) {
	switch e := e.(type) {
	case SoundPlay:
		s.w.give(func() { s.play(e) })
	case SoundFade:
		s.w.give(func() {
			if s.cur != nil && s.gen == e.Gen {
				s.cur.FadeOut(e.D)
			}
		})
	case SoundHalt:
		s.w.give(func() { s.halt(e.Gen) })
	}
}

func (s *speakerPart) play(e SoundPlay) {
	s.halt(s.gen) // the sound it replaces
	s.gen = e.Gen
	fail := func(err error) {
		s.m.log.Error("the speaker cannot play", "sound", e.Sound, "err", err)
		s.m.post(SoundFailed{At: s.m.now(), Gen: e.Gen})
	}
	if s.spk == nil {
		fail(control.ErrUnavailable)
		return
	}
	src, err := soothe.New(e.Sound, uint64(s.m.now().UnixNano()))
	if err != nil {
		fail(err)
		return
	}
	s.gate(true) // before the first sample
	if s.cur, err = s.spk.Play(src); err != nil {
		s.gate(false)
		fail(err)
		return
	}
	s.m.log.Info("soothing sound playing", "sound", e.Sound)
}

// halt stops sound gen, if it plays, and opens the gate after the tail.
func (s *speakerPart) halt(gen uint64) {
	if s.cur == nil || s.gen != gen {
		return
	}
	st := s.cur
	s.cur = nil
	st.Stop()
	select {
	case <-st.Done():
	case <-time.After(haltWait):
	}
	s.m.log.Info("soothing sound stopped", "played", st.Played().Round(time.Second))
	s.gate(false)
}

// gate closes the noise gate now (on), or opens it after gateTail.
func (s *speakerPart) gate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tail != nil {
		s.tail.Stop()
		s.tail = nil
	}
	if on {
		s.m.hub.SetNoiseOverSound(true)
		return
	}
	if s.closed {
		return
	}
	s.tail = time.AfterFunc(gateTail, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed && s.tail != nil {
			s.m.hub.SetNoiseOverSound(false)
			s.tail = nil
		}
	})
}

// close stops the tail's timer and closes the speaker (after the worker
// stopped: nothing plays any more).
func (s *speakerPart) close() {
	s.mu.Lock()
	s.closed = true
	if s.tail != nil {
		s.tail.Stop()
		s.tail = nil
	}
	s.mu.Unlock()
	if s.spk != nil {
		s.spk.Close()
	}
}

// endDanglingSound records the end of a sound that was playing when the
// monitor last stopped without recording it (a power cut): its
// sound-stopped, reason shutdown, with a zero (unknown) duration.
func (m *Monitor) endDanglingSound() error {
	playing := false
	err := m.st.Events(0, func(e store.Event) error {
		switch e.Payload.(type) {
		case store.SoundStarted:
			playing = true
		case store.SoundStopped:
			playing = false
		}
		return nil
	})
	if err != nil || !playing {
		return err
	}
	_, err = m.st.Append(context.Background(), store.SoundStopped{Reason: store.SoundStoppedShutdown})
	return err
}
