package monitor

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/soothe"
	"github.com/cradle-monitor/cradle/store"
)

// The speaker's shell: the core's SoundPlay, SoundFade and SoundHalt,
// TalkPlay and TalkHalt carried out on the speaker worker (one job at a
// time, in step order), the talk's voice received from its session
// (receive), and the noise gate the monitor's own playback holds closed.

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

// speakerPart plays the soothing sounds and the talks. Its fields are
// the speaker worker's, but for those under mu.
type speakerPart struct {
	m   *Monitor
	spk *soothe.Speaker // nil: no speaker
	w   *worker
	cur *soothe.Stream
	gen uint64
	// The talk's voice playing, and its number.
	talkCur *soothe.Stream
	talkGen uint64
	held    [2]bool // holdSound, holdTalk: who holds the noise gate

	mu     sync.Mutex
	tails  [2]*time.Timer // lift holdSound's and holdTalk's holds after the tail
	closed bool
	voice  *talkVoice // the talk the core started: the only session whose track plays

	onVoiceFrame atomic.Pointer[func(ts uint32)] // benchmark hook (Voice's OnFrameStart)
}

// Who holds the noise gate.
const (
	holdSound = iota
	holdTalk
)

// talkVoice is one talk: the session whose voice the speaker plays.
type talkVoice struct {
	gen     uint64
	conn    uint64
	session string
	v       *soothe.Voice
	stopped atomic.Bool // its halt came: the track's reader ends
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
	case TalkPlay:
		// Registered now, on the owner: the session's offer, a later
		// step, finds it when its track arrives.
		cfg := soothe.VoiceConfig{}
		if f := s.onVoiceFrame.Load(); f != nil {
			cfg.OnFrameStart = *f
		}
		tv := &talkVoice{gen: e.Gen, conn: e.Conn, session: e.Session, v: soothe.NewVoice(cfg)}
		s.mu.Lock()
		if old := s.voice; old != nil {
			old.stopped.Store(true)
		}
		s.voice = tv
		s.mu.Unlock()
		s.w.give(func() { s.talkPlay(tv) })
	case TalkHalt:
		s.mu.Lock()
		if tv := s.voice; tv != nil && tv.gen == e.Gen {
			tv.stopped.Store(true)
			s.voice = nil
		}
		s.mu.Unlock()
		s.w.give(func() { s.talkHalt(e.Gen) })
	}
}

// talkPlay plays a talk: its chime, then its voice, with the soothing
// sound ducked under it.
func (s *speakerPart) talkPlay(tv *talkVoice) {
	s.talkHalt(s.talkGen) // a talk not halted yet
	s.talkGen = tv.gen
	if s.spk == nil {
		s.m.post(TalkFailed{At: s.m.now(), Gen: tv.gen})
		return
	}
	s.hold(holdTalk, true) // before the chime
	st, err := s.spk.Play(tv.v)
	if err != nil {
		s.hold(holdTalk, false)
		s.m.log.Error("the speaker cannot play the talk", "err", err)
		s.m.post(TalkFailed{At: s.m.now(), Gen: tv.gen})
		return
	}
	s.talkCur = st
	if s.cur != nil {
		s.cur.Duck(soothe.DuckGain)
	}
}

// talkHalt stops talk gen, if it plays, lifts the ducking and opens the
// gate after the tail.
func (s *speakerPart) talkHalt(gen uint64) {
	if s.talkCur == nil || s.talkGen != gen {
		return
	}
	st := s.talkCur
	s.talkCur = nil
	st.Stop()
	select {
	case <-st.Done():
	case <-time.After(haltWait):
	}
	if s.cur != nil {
		s.cur.Duck(1)
	}
	s.hold(holdTalk, false)
}

// receive plays a track that conn's session sends, if that session is
// the talk going on: RTP → Opus decoder → the talk's Voice. Anything
// else (a listening session's track, a talk ended) is left unread. It
// runs in the answerer's goroutine for the track until the track or the
// talk ends.
func (s *speakerPart) receive(conn uint64, session string, t *webrtc.TrackRemote) {
	s.mu.Lock()
	tv := s.voice
	s.mu.Unlock()
	if tv == nil || tv.conn != conn || tv.session != session || t.Kind() != webrtc.RTPCodecTypeAudio {
		s.m.log.Debug("a track that is not a talk's voice: ignored", "conn", conn, "session", session, "kind", t.Kind().String())
		return
	}
	if !strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeOpus) {
		s.m.log.Warn("a talk's track is not Opus: ignored", "conn", conn, "codec", t.Codec().MimeType)
		return
	}
	dep, err := play.NewDepacketizer()
	if err != nil {
		s.m.log.Error("the talk cannot be decoded", "err", err)
		return
	}
	defer dep.Close()
	for !tv.stopped.Load() {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		frames, _ := dep.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload) // a corrupt packet is concealed
		for _, f := range frames {
			tv.v.Push(f)
		}
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
	s.hold(holdSound, true) // before the first sample
	if s.cur, err = s.spk.Play(src); err != nil {
		s.hold(holdSound, false)
		fail(err)
		return
	}
	if s.talkCur != nil {
		s.cur.Duck(soothe.DuckGain) // under the voice
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
	s.hold(holdSound, false)
}

// hold records whether who holds the noise gate, and closes it while
// anyone does (opened gateTail after the last lets go).
func (s *speakerPart) hold(who int, on bool) {
	s.held[who] = on
	s.gate(who, on)
}

// gate sets who's hold on the noise detector now (on), or lifts it after
// gateTail. A soothing sound (holdSound) makes noise what rises above it
// (Hub.SetNoiseOverSound: a cry over white noise still counts); a voice
// (holdTalk), which is nothing like a steady sound, gates it entirely
// (Hub.SetNoiseGate).
func (s *speakerPart) gate(who int, on bool) {
	set := s.m.hub.SetNoiseOverSound
	if who == holdTalk {
		set = s.m.hub.SetNoiseGate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tails[who]; t != nil {
		t.Stop()
		s.tails[who] = nil
	}
	if on {
		set(true)
		return
	}
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(gateTail, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed && s.tails[who] == t {
			set(false)
			s.tails[who] = nil
		}
	})
	s.tails[who] = t
}

// close stops the tail's timer and closes the speaker (after the worker
// stopped: nothing plays any more).
func (s *speakerPart) close() {
	s.mu.Lock()
	s.closed = true
	for i, t := range s.tails {
		if t != nil {
			t.Stop()
			s.tails[i] = nil
		}
	}
	s.mu.Unlock()
	if s.spk != nil {
		s.spk.Close()
	}
}

// endDanglingTalk records the end of a talk that was going on when the
// monitor last stopped without recording it (a power cut): its
// talk-ended, reason shutdown, with a zero (unknown) duration.
func (m *Monitor) endDanglingTalk() error {
	talking := false
	err := m.st.Events(0, func(e store.Event) error {
		switch e.Payload.(type) {
		case store.TalkStarted:
			talking = true
		case store.TalkEnded:
			talking = false
		}
		return nil
	})
	if err != nil || !talking {
		return err
	}
	_, err = m.st.Append(context.Background(), store.TalkEnded{Reason: store.TalkEndedShutdown})
	return err
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
