package alarm

import (
	"errors"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/presence"
)

// Defaults for Config's zero fields.
const (
	DefaultAudioGap      = 400 * time.Millisecond // alarm 400 ms after the last packet, with a timer at NextDeadline
	DefaultStreamGrace   = 5 * time.Second
	DefaultReminder      = 5 * time.Minute
	DefaultChimeInterval = 10 * time.Second
)

// ErrConfig: a Config field is negative. Validate wraps it with the field's
// name.
var ErrConfig = errors.New("alarm: invalid configuration")

// Config sets a Machine's times. Zero fields take the defaults.
type Config struct {
	AudioGap      time.Duration // no Audio for this long, once a packet came, raises AudioLost
	StreamGrace   time.Duration // a new stream must deliver its first packet within this long
	Reminder      time.Duration // an acknowledged alarm that still holds sounds again after this long
	ChimeInterval time.Duration // at most one Chime per this long
}

// Validate returns an error wrapping ErrConfig when a field is negative.
// Zero fields are fine: they take the defaults.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"AudioGap", c.AudioGap},
		{"StreamGrace", c.StreamGrace},
		{"Reminder", c.Reminder},
		{"ChimeInterval", c.ChimeInterval},
	} {
		if f.d < 0 {
			return fmt.Errorf("%w: %s is %v: it must be positive, or 0 for the default", ErrConfig, f.name, f.d)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.AudioGap <= 0 {
		c.AudioGap = DefaultAudioGap
	}
	if c.StreamGrace <= 0 {
		c.StreamGrace = DefaultStreamGrace
	}
	if c.Reminder <= 0 {
		c.Reminder = DefaultReminder
	}
	if c.ChimeInterval <= 0 {
		c.ChimeInterval = DefaultChimeInterval
	}
	return c
}

// Reason says why the alarm is active. A larger Reason is more severe.
type Reason int

// Reasons, from the least severe.
const (
	None            Reason = iota // no alarm
	MicrophoneFault               // the monitor's microphone is missing or failed
	AudioLost                     // no audio packet for too long
	LinkLost                      // the monitor's control channel is offline
	Refused                       // the monitor refused this listener (revoked, or its identity changed)
)

func (r Reason) String() string {
	switch r {
	case None:
		return "none"
	case MicrophoneFault:
		return "microphone fault"
	case AudioLost:
		return "audio lost"
	case LinkLost:
		return "link lost"
	case Refused:
		return "access refused"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// State is the alarm as the parent sees it. The zero State is no alarm.
type State struct {
	Active       bool      // a reason holds: show the banner
	Reason       Reason    // None iff !Active
	Since        time.Time // when Reason was raised; zero when !Active
	Sounding     bool      // play the alarm sound, repeating
	Acknowledged bool      // the parent acked; the sound is off until the reminder
}

// Effect is something the Machine's owner must do. The concrete types are
// AlarmChanged and Chime; a type switch handles them.
type Effect interface{ effect() }

// AlarmChanged: the State changed; show it.
type AlarmChanged struct{ State State }

// Chime: the baby makes noise; play the chime once.
type Chime struct{ At time.Time }

func (AlarmChanged) effect() {}
func (Chime) effect()        {}

// Machine is the listener's alarm state machine; the package comment states
// its rules and its owner's duties.
type Machine struct {
	cfg Config
	st  State

	listening bool
	link      presence.State // Connecting until the first Online or Offline
	mic       bool           // the monitor reports its microphone missing or failed
	refused   bool           // the monitor refused this listener: final

	graceFrom time.Time // the latest of Online, StreamUp, Listening(true)
	heard     bool      // a packet came since graceFrom
	lastAudio time.Time
	audioLost bool // raised, until Audio, Online or Listening(true)

	remindAt time.Time // meaningful while st.Acknowledged

	noise     bool
	chimed    bool
	lastChime time.Time
}

// New returns a machine that is not listening, with presence unknown.
// Negative or zero fields of cfg take the defaults.
func New(cfg Config) *Machine {
	return &Machine{cfg: cfg.withDefaults()}
}

// State returns the alarm's state.
func (m *Machine) State() State { return m.st }

// Refuse reports that the monitor refused this listener for good: it
// revoked it, it no longer knows it, or it answered with another
// identity. While listening it raises Refused, before the Offline that
// follows (which it outranks): the parent can no longer hear the baby,
// and the reason says why. Nothing clears it; the session ends.
func (m *Machine) Refuse(now time.Time) []Effect {
	old := m.advance(now)
	m.refused = true
	return m.settle(now, old)
}

// Presence reports the monitor's presence from the heartbeat of its
// control channel. Online clears LinkLost and restarts the stream grace;
// Offline (the heartbeat gave up) raises LinkLost at once while listening.
// Connecting changes nothing.
func (m *Machine) Presence(p presence.State, now time.Time) []Effect {
	old := m.advance(now)
	if p != m.link {
		switch p {
		case presence.Online:
			m.link = p
			m.restartStream(now)
		case presence.Offline:
			m.link = p
			m.audioLost = false // AudioLost holds only while online
		}
	}
	return m.settle(now, old)
}

// Online is Presence(presence.Online, now).
func (m *Machine) Online(now time.Time) []Effect { return m.Presence(presence.Online, now) }

// Offline is Presence(presence.Offline, now).
func (m *Machine) Offline(now time.Time) []Effect { return m.Presence(presence.Offline, now) }

// Listening reports whether the parent wants to hear the nursery. Off
// disarms the alarm; on arms it and starts the stream grace.
func (m *Machine) Listening(on bool, now time.Time) []Effect {
	old := m.advance(now)
	if on != m.listening {
		m.listening = on
		m.restartStream(now)
	}
	return m.settle(now, old)
}

// StreamUp reports that the audio stream was (re)established: its first
// packet is due within StreamGrace.
func (m *Machine) StreamUp(now time.Time) []Effect {
	old := m.advance(now)
	m.graceFrom, m.heard = now, false
	return m.settle(now, old)
}

// Audio reports an audio packet. It clears AudioLost. It returns nil and
// allocates nothing when the State does not change.
func (m *Machine) Audio(now time.Time) []Effect {
	old := m.advance(now)
	m.lastAudio, m.heard, m.audioLost = now, true, false
	return m.settle(now, old)
}

// Faults reports whether the monitor's microphone is missing or failed.
func (m *Machine) Faults(microphone bool, now time.Time) []Effect {
	old := m.advance(now)
	m.mic = microphone
	return m.settle(now, old)
}

// Noise reports the monitor's VOX: on while the baby makes noise. A rising
// edge while listening emits a Chime, at most one per ChimeInterval.
func (m *Machine) Noise(on bool, now time.Time) []Effect {
	old := m.advance(now)
	chime := on && !m.noise && m.listening &&
		(!m.chimed || !now.Before(m.lastChime.Add(m.cfg.ChimeInterval)))
	m.noise = on
	effs := m.settle(now, old)
	if chime {
		m.chimed, m.lastChime = true, now
		effs = append(effs, Chime{At: now})
	}
	return effs
}

// Ack reports that the parent acknowledged the alarm: a sounding alarm goes
// quiet but stays Active until its reason clears or Reminder passes.
func (m *Machine) Ack(now time.Time) []Effect {
	old := m.advance(now)
	m.update(now) // silence what sounds at now: a reason raised at now included
	if m.st.Sounding {
		m.st.Sounding, m.st.Acknowledged = false, true
		m.remindAt = now.Add(m.cfg.Reminder)
	}
	return m.settle(now, old)
}

// Tick applies the timeouts due at now: AudioLost, the reminder.
func (m *Machine) Tick(now time.Time) []Effect {
	return m.settle(now, m.advance(now))
}

// NextDeadline returns when Tick next has work to do, if ever.
func (m *Machine) NextDeadline() (time.Time, bool) {
	var d time.Time
	ok := false
	if m.watching() && !m.audioLost {
		d, ok = m.audioDeadline(), true
	}
	if m.st.Acknowledged && (!ok || m.remindAt.Before(d)) {
		d, ok = m.remindAt, true
	}
	return d, ok
}

// watching reports whether AudioLost can be raised.
func (m *Machine) watching() bool { return m.listening && m.link == presence.Online }

// audioDeadline is when AudioLost is raised without Audio.
func (m *Machine) audioDeadline() time.Time {
	if m.heard {
		return m.lastAudio.Add(m.cfg.AudioGap)
	}
	return m.graceFrom.Add(m.cfg.StreamGrace)
}

// restartStream starts the grace for a new stream's first packet.
func (m *Machine) restartStream(now time.Time) {
	m.graceFrom, m.heard, m.audioLost = now, false, false
}

// advance applies the timeouts due at now and returns the State before
// them, for settle.
func (m *Machine) advance(now time.Time) (old State) {
	old = m.st
	if m.watching() && !m.audioLost && !now.Before(m.audioDeadline()) {
		m.audioLost = true
	}
	if m.st.Acknowledged && !now.Before(m.remindAt) {
		m.st.Sounding, m.st.Acknowledged = true, false
	}
	return old
}

// reason returns the most severe reason that holds.
func (m *Machine) reason() Reason {
	switch {
	case !m.listening:
		return None
	case m.refused:
		return Refused
	case m.link == presence.Offline:
		return LinkLost
	case m.link == presence.Online && m.audioLost:
		return AudioLost
	case m.mic:
		return MicrophoneFault
	}
	return None
}

// update brings the State in line with the reason that holds.
func (m *Machine) update(now time.Time) {
	switch r := m.reason(); {
	case r == None:
		m.st = State{}
	case r != m.st.Reason:
		m.st = State{Active: true, Reason: r, Since: now, Sounding: true}
	}
}

// settle updates the State and reports its change since old, if any: the
// net change of a call.
func (m *Machine) settle(now time.Time, old State) []Effect {
	m.update(now)
	if m.st == old {
		return nil
	}
	return []Effect{AlarmChanged{State: m.st}}
}
