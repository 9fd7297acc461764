package monitor

import (
	"slices"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/store"
)

// The soothing sounds' side of Core: which sound plays, who started it,
// until when, and what the speaker worker must do.
//
// Rules:
//   - Only a trusted connection may start or stop a sound (sound_start,
//     sound_stop are trusted-only: refused and closed for a stranger, as
//     every trusted-only request). Nothing a stranger sends reaches the
//     speaker.
//   - Without a speaker, sound_start is answered unavailable.
//   - At most one sound plays: a start replaces the sound playing
//     (sound-stopped "replaced", then sound-started). Starts are limited
//     to one every SoundStartInterval for the whole monitor: a faster one
//     is answered busy and changes nothing (a listener spamming starts
//     cannot wear the card).
//   - A timer is a deadline checked on Tick: SoundFade before it the
//     speaker fades out (SoundFade), at it the sound stops
//     (sound-stopped "timer"). A sound with no timer plays until stopped.
//   - Every change is sent to every trusted connection as sound_state;
//     the one that asked gets it with ref set (its answer). A trusted
//     connection is told the state once, after hello_ack, or after
//     pair_done when it pairs (Speaker false: the monitor has no
//     speaker).
//   - The monitor's shutdown stops the sound (sound-stopped "shutdown");
//     so does the speaker failing ("failed").

// Defaults for CoreConfig's sound settings.
const (
	defaultSoundFade          = 10 * time.Second
	defaultSoundStartInterval = 2 * time.Second
)

type coreSound struct {
	playing   bool
	sound     string
	by        string
	started   time.Time
	until     time.Time // zero: until stopped
	fading    bool
	lastStart time.Time
	gen       uint64 // numbers the sounds started, for the speaker worker
}

// SoundStart: sound_start from Conn. By and Peer are who the shell knows
// Conn to be: the trusted listener's (or phone's) name, and its device id.
type SoundStart struct {
	At      time.Time
	Conn    uint64
	Sound   string
	Minutes int
	By      string
	Peer    string
}

// SoundStop: sound_stop from Conn.
type SoundStop struct {
	At   time.Time
	Conn uint64
}

// SoundFailed: the speaker could not play sound Gen.
type SoundFailed struct {
	At  time.Time
	Gen uint64
}

// Shutdown: the monitor is stopping (a sound playing stops).
type Shutdown struct{ At time.Time }

func (SoundStart) coreEvent()  {}
func (SoundStop) coreEvent()   {}
func (SoundFailed) coreEvent() {}
func (Shutdown) coreEvent()    {}

// SoundPlay: the speaker plays Sound (number Gen), replacing what it
// plays; the noise detector is gated while it plays.
type SoundPlay struct {
	Gen   uint64
	Sound string
}

// SoundFade: the speaker fades sound Gen out over D.
type SoundFade struct {
	Gen uint64
	D   time.Duration
}

// SoundHalt: the speaker stops sound Gen (at once, without a click).
type SoundHalt struct{ Gen uint64 }

func (SoundPlay) coreEffect() {}
func (SoundFade) coreEffect() {}
func (SoundHalt) coreEffect() {}

// SoundState is the speaker as trusted listeners see it at now.
func (c *Core) SoundState(now time.Time) control.SoundState {
	s := c.sound
	st := control.SoundState{Speaker: c.cfg.Speaker, Playing: s.playing}
	if s.playing {
		st.Sound, st.By, st.Fading = s.sound, s.by, s.fading
		if !s.until.IsZero() {
			st.RemainingMillis = max(s.until.Sub(now).Milliseconds(), 1)
		}
	}
	return st
}

func (c *Core) soundStart(ev SoundStart) ([]Effect, error) {
	cc, ok := c.conns[ev.Conn]
	if !ok || !cc.trusted {
		return nil, control.Errorf(control.CodeUntrusted, "only a paired listener may play sounds")
	}
	if !slices.Contains(control.Sounds, ev.Sound) {
		return nil, control.Errorf(control.CodeBadRequest, "unknown sound %q: one of white, pink, brown, heartbeat, lullaby", control.Truncate(ev.Sound, 32))
	}
	if !slices.Contains(control.SoundMinutes, ev.Minutes) {
		return nil, control.Errorf(control.CodeBadRequest, "a timer of %d minutes: 15, 30, 60, or 0 (until stopped)", ev.Minutes)
	}
	if !c.cfg.Speaker {
		return nil, control.Errorf(control.CodeUnavailable, "")
	}
	s := &c.sound
	if !s.lastStart.IsZero() && ev.At.Sub(s.lastStart) < c.cfg.SoundStartInterval {
		return nil, control.Errorf(control.CodeBusy, "sounds started too fast: at most one every %v", c.cfg.SoundStartInterval)
	}
	s.lastStart = ev.At
	var eff []Effect
	if s.playing {
		eff = append(eff, Append{Payload: store.SoundStopped{Reason: store.SoundStoppedReplaced, Duration: ev.At.Sub(s.started)}})
	}
	s.gen++
	s.playing, s.sound, s.by, s.started, s.fading = true, ev.Sound, ev.By, ev.At, false
	s.until = time.Time{}
	if ev.Minutes > 0 {
		s.until = ev.At.Add(time.Duration(ev.Minutes) * c.cfg.SoundMinute)
	}
	eff = append(eff,
		Append{Payload: store.SoundStarted{Sound: ev.Sound, Minutes: uint64(ev.Minutes), By: ev.By, Peer: ev.Peer}},
		SoundPlay{Gen: s.gen, Sound: ev.Sound})
	return c.notifySound(ev.At, eff, ev.Conn, control.TypeSoundStart), nil
}

func (c *Core) soundStop(ev SoundStop) ([]Effect, error) {
	cc, ok := c.conns[ev.Conn]
	if !ok || !cc.trusted {
		return nil, control.Errorf(control.CodeUntrusted, "only a paired listener may stop sounds")
	}
	return c.notifySound(ev.At, c.stopSound(ev.At, store.SoundStoppedByListener), ev.Conn, control.TypeSoundStop), nil
}

// stopSound stops the sound playing, if any, for reason.
func (c *Core) stopSound(now time.Time, reason string) []Effect {
	s := &c.sound
	if !s.playing {
		return nil
	}
	s.playing, s.fading = false, false
	return []Effect{
		Append{Payload: store.SoundStopped{Reason: reason, Duration: now.Sub(s.started)}},
		SoundHalt{Gen: s.gen},
	}
}

// soundTick fades and stops a sound whose timer runs out.
func (c *Core) soundTick(now time.Time) []Effect {
	s := &c.sound
	if !s.playing || s.until.IsZero() {
		return nil
	}
	if !now.Before(s.until) {
		return c.notifySound(now, c.stopSound(now, store.SoundStoppedTimer), 0, "")
	}
	if !s.fading && !now.Before(s.until.Add(-c.cfg.SoundFade)) {
		s.fading = true
		return c.notifySound(now, []Effect{SoundFade{Gen: s.gen, D: s.until.Sub(now)}}, 0, "")
	}
	return nil
}

// soundDeadline is when soundTick has work to do, if ever.
func (c *Core) soundDeadline() (time.Time, bool) {
	s := c.sound
	switch {
	case !s.playing || s.until.IsZero():
		return time.Time{}, false
	case s.fading:
		return s.until, true
	}
	return s.until.Add(-c.cfg.SoundFade), true
}

// notifySound sends the speaker's state to every trusted connection when
// eff changes it, and to conn (which asked, with ref) in any case.
func (c *Core) notifySound(now time.Time, eff []Effect, conn uint64, ref control.Type) []Effect {
	st := c.SoundState(now)
	changed := len(eff) > 0
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		if !c.conns[id].trusted || (id == conn && ref != "") {
			continue
		}
		if changed {
			eff = append(eff, Send{Conn: id, Msg: st})
		}
	}
	if conn != 0 && ref != "" {
		st.Ref = ref
		eff = append(eff, Send{Conn: conn, Msg: st})
	}
	return eff
}
