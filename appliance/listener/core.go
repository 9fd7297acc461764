package listener

import (
	"log/slog"
	"slices"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// sessionCore is a Session's decisions, a pure state machine: no
// goroutines, no clock, no I/O. Step takes one event (with its time) and
// returns the effects the Session's shell carries out, in order. Its
// rules:
//
//   - Presence comes from the heartbeat of the control connection: a
//     dial that succeeded is Online, a failed dial or a lost connection is
//     Offline. Subscribers hear of a change; every report refreshes the
//     Change (time, address, error).
//   - The reconnect policy (Policy.Next) decides the next dial: a dialAt
//     effect after each outcome, or stop when retrying cannot help.
//   - The alarm (package alarm) hears presence, listening on and off,
//     the stream coming up, every audio packet, the monitor's faults and
//     noise, the parent's Ack and the timer at NextDeadline.
//   - Requests (MonitorInfo, OpenPairing, ClosePairing, StartSound,
//     StopSound) wait for the answer whose ref names their type:
//     control.Info answers info_request, a pairing_state or sound_state
//     with a ref answers that request (and, as every sound_state, is
//     delivered as a SoundEvent), an error with a ref
//     answers every request of that type. A lost connection answers every
//     waiting request with ErrOffline.
//   - Messages for the stream session (WebRTC answer and candidates, the
//     monitor's stream_stop, stream errors) go to the streamer, but those
//     that name the session's talk, which the shell hands to the Talk
//     (talk.go).
//   - talk_state is delivered as a TalkEvent (and kept for Snapshot and
//     new subscribers while someone talks).
//
// It is not safe for concurrent use: the Session calls it under its lock.
type sessionCore struct {
	policy Policy
	retry  Retry
	alarm  *alarm.Machine

	mon       PairedMonitor
	change    Change
	mode      StreamMode
	status    *StatusEvent
	pairing   *PairingEvent
	sound     *SoundEvent
	talk      *TalkEvent
	alarmSt   alarm.State
	streaming bool // audio is flowing
	stats     SessionStats
	asks      map[uint64]control.Type // waiting requests: id -> the request's type
}

func newSessionCore(m PairedMonitor, mode StreamMode, pol Policy, cfg alarm.Config) *sessionCore {
	return &sessionCore{
		policy: pol, alarm: alarm.New(cfg), mon: m, mode: mode,
		change: Change{Monitor: m, Presence: Connecting, Address: m.Address},
		asks:   make(map[uint64]control.Type),
	}
}

// Events fed to sessionCore.Step. Each carries its time.
type (
	// started: the session starts (its first dial is due at once).
	started struct{ At time.Time }
	// dialed: a dial ended; Err nil means the monitor answered (Stats is
	// the new connection's heartbeat). Jitter in [0, 1) spreads the backoff.
	dialed struct {
		At     time.Time
		Err    error
		Stats  presence.Stats
		Jitter float64
	}
	// connLost: the live connection closed (heartbeat, remote close,
	// network), with its error.
	connLost struct {
		At     time.Time
		Err    error
		Jitter float64
	}
	// addressFound: rediscovery found the monitor at Addr.
	addressFound struct{ Addr string }
	// received: a message came on the control connection.
	received struct {
		At  time.Time
		Msg control.Message
	}
	// asked: a request of type Ref went out; its answer is awaited as ID.
	asked struct {
		ID  uint64
		Ref control.Type
	}
	// askGone: the caller of request ID stopped waiting.
	askGone struct{ ID uint64 }
	// streamSet: the parent chose what to stream.
	streamSet struct {
		At   time.Time
		Mode StreamMode
	}
	// acked: the parent acknowledged the alarm.
	acked struct{ At time.Time }
	// streamChanged: the streamer's stream changed state.
	streamChanged struct {
		At    time.Time
		State StreamState
		Kind  string
		Err   error
	}
	// streamEnded: a stream attempt ended (no event for subscribers).
	streamEnded struct{}
	// audioSeen: an audio packet of Bytes arrived.
	audioSeen struct {
		At    time.Time
		Bytes int
	}
	// videoSeen: a video packet arrived.
	videoSeen struct{}
	// timerFired: the timer armed at nextDeadline fired.
	timerFired struct{ At time.Time }
)

// Effects returned by sessionCore.Step, for the shell to carry out.
type (
	// deliver: hand Event to the subscribers.
	deliver struct{ Event Event }
	// dialAt: dial again at At, rediscovering the monitor first if asked.
	dialAt struct {
		At         time.Time
		Rediscover bool
	}
	// stopSession: retrying cannot help; end the session with Err.
	stopSession struct{ Err error }
	// answer: hand the reply to request ID.
	answer struct {
		ID    uint64
		Reply reply
	}
	// toStreamer: signalling for the stream session.
	toStreamer struct{ Msg control.Message }
	// modeChanged: the streamer must follow the new mode.
	modeChanged struct{ Mode StreamMode }
	// logLine: something worth a log line.
	logLine struct {
		Level slog.Level
		Msg   string
		Args  []any
	}
)

// reply is a request's answer: the monitor's message, or an error.
type reply struct {
	Msg control.Message
	Err error
}

// effect is one of the effect types above.
type effect any

// Step applies ev and returns the effects, in the order to carry them out.
func (c *sessionCore) Step(ev any) []effect {
	var out []effect
	switch ev := ev.(type) {
	case started:
		if c.mode != StreamOff {
			out = c.applyAlarm(out, c.alarm.Listening(true, ev.At))
		}
		out = append(out, dialAt{At: ev.At})
	case dialed:
		if ev.Err == nil {
			c.retry, _ = c.policy.Next(c.retry, Connected, nil, ev.At, 0)
			out = c.setPresence(out, Online, ev.At, ev.Err, &ev.Stats)
			return out
		}
		out = append(out, logLine{slog.LevelDebug, "dial failed", []any{"err", ev.Err}})
		out = c.refused(out, ev.Err, ev.At)
		out = c.setPresence(out, Offline, ev.At, ev.Err, nil)
		out = c.decide(out, DialFailed, ev.Err, ev.At, ev.Jitter)
	case connLost:
		out = c.refused(out, ev.Err, ev.At)
		out = c.setPresence(out, Offline, ev.At, ev.Err, nil)
		out = c.answerAll(out, func(control.Type) bool { return true }, reply{Err: ErrOffline})
		out = c.decide(out, Disconnected, ev.Err, ev.At, ev.Jitter)
	case addressFound:
		c.mon.Address = ev.Addr
	case received:
		out = c.route(out, ev.Msg, ev.At)
	case asked:
		c.asks[ev.ID] = ev.Ref
	case askGone:
		delete(c.asks, ev.ID)
	case streamSet:
		if c.mode == ev.Mode {
			return nil
		}
		was := c.mode
		c.mode = ev.Mode
		if (was == StreamOff) != (ev.Mode == StreamOff) {
			out = c.applyAlarm(out, c.alarm.Listening(ev.Mode != StreamOff, ev.At))
		}
		out = append(out, modeChanged{Mode: ev.Mode})
	case acked:
		out = c.applyAlarm(out, c.alarm.Ack(ev.At))
	case streamChanged:
		switch ev.State {
		case StreamStarting:
			c.stats.Streams++
		case StreamConnected:
			// The alarm's grace for the first packet restarts: the stream
			// was (re)established (alarm duty 3).
			out = c.applyAlarm(out, c.alarm.StreamUp(ev.At))
		default:
			c.streaming = false
		}
		if ev.State == StreamFailed {
			out = append(out, logLine{slog.LevelWarn, "stream failed", []any{"err", ev.Err}})
		}
		out = append(out, deliver{StreamEvent{Monitor: c.mon, State: ev.State, Kind: ev.Kind, Err: ev.Err, At: ev.At}})
	case streamEnded:
		c.streaming = false
	case audioSeen:
		c.stats.AudioPackets++
		c.stats.AudioBytes += uint64(ev.Bytes)
		c.streaming = true
		out = c.applyAlarm(out, c.alarm.Audio(ev.At))
	case videoSeen:
		c.stats.VideoPackets++
	case timerFired:
		out = c.applyAlarm(out, c.alarm.Tick(ev.At))
	}
	return out
}

// nextDeadline is when the timer must fire next (timerFired), if ever.
func (c *sessionCore) nextDeadline() (time.Time, bool) { return c.alarm.NextDeadline() }

// present returns the events that describe the present to a new
// subscriber: presence (once known), the latest status, a raised alarm,
// the soothing sound playing.
func (c *sessionCore) present() []Event {
	var evs []Event
	if c.change.Presence != Connecting {
		evs = append(evs, PresenceEvent{c.change})
	}
	if c.status != nil {
		evs = append(evs, *c.status)
	}
	if c.alarmSt.Active {
		evs = append(evs, AlarmEvent{Monitor: c.mon, State: c.alarmSt})
	}
	if c.sound != nil && c.sound.State.Playing {
		evs = append(evs, *c.sound) // the notice a front end shows
	}
	if c.talk != nil && c.talk.State.Talking {
		evs = append(evs, *c.talk) // who talks to the nursery
	}
	return evs
}

// setPresence records a presence report and tells the alarm and the
// subscribers when it changed.
// refused raises the alarm's Refused, not LinkLost, when err means the
// monitor refuses this listener for good (Final): the banner says why
// the baby can no longer be heard.
func (c *sessionCore) refused(out []effect, err error, now time.Time) []effect {
	if err == nil || !Final(err) {
		return out
	}
	return c.applyAlarm(out, c.alarm.Refuse(now))
}

func (c *sessionCore) setPresence(out []effect, p Presence, now time.Time, err error, st *presence.Stats) []effect {
	ch := Change{Monitor: c.mon, Presence: p, At: now, Address: c.mon.Address, LastSeen: c.change.LastSeen, Err: err}
	if st != nil {
		ch.RTT, ch.LastSeen = st.SRTT, st.LastSeen
	}
	if p == Online {
		c.stats.Connections++
	} else {
		c.streaming = false
	}
	changed := p != c.change.Presence
	c.change = ch
	if !changed {
		return out
	}
	out = append(out, deliver{PresenceEvent{ch}})
	return c.applyAlarm(out, c.alarm.Presence(p, now))
}

// decide asks the reconnect policy what to do after outcome o.
func (c *sessionCore) decide(out []effect, o Outcome, err error, now time.Time, jitter float64) []effect {
	var d Decision
	c.retry, d = c.policy.Next(c.retry, o, err, now, jitter)
	if d.Stop {
		return append(out, logLine{slog.LevelWarn, "giving up on the monitor", []any{"err", d.Err}}, stopSession{Err: d.Err})
	}
	return append(out, dialAt{At: d.DialAt, Rediscover: d.Rediscover})
}

// route decides what a message from the monitor is for.
func (c *sessionCore) route(out []effect, m control.Message, now time.Time) []effect {
	switch m := m.(type) {
	case control.Status:
		ev := StatusEvent{Monitor: c.mon, Status: m, At: now}
		c.status = &ev
		c.stats.Statuses++
		out = append(out, deliver{ev})
		out = c.applyAlarm(out, c.alarm.Faults(slices.Contains(m.Faults, control.FaultMicrophone), now))
		return c.applyAlarm(out, c.alarm.Noise(m.Noise, now))
	case control.Info:
		return c.answerAll(out, is(control.TypeInfoRequest), reply{Msg: m})
	case control.History:
		return c.answerAll(out, is(control.TypeHistoryRequest), reply{Msg: m})
	case control.PairingState:
		if m.Ref == control.TypePairOpen || m.Ref == control.TypePairClose {
			out = c.answerAll(out, is(m.Ref), reply{Msg: m})
		}
		ev := PairingEvent{Monitor: c.mon, State: m, At: now}
		c.pairing = &ev
		return append(out, deliver{ev})
	case control.SoundState:
		if m.Ref == control.TypeSoundStart || m.Ref == control.TypeSoundStop {
			out = c.answerAll(out, is(m.Ref), reply{Msg: m})
		}
		m.By, m.Sound = control.Truncate(m.By, 64), control.Truncate(m.Sound, 32) // the monitor's text, shown to a parent
		ev := SoundEvent{Monitor: c.mon, State: m, At: now}
		c.sound = &ev
		return append(out, deliver{ev})
	case control.TalkState:
		m.By = control.Truncate(m.By, 64) // the monitor's text, shown to a parent
		ev := TalkEvent{Monitor: c.mon, State: m, At: now}
		c.talk = &ev
		return append(out, deliver{ev})
	case control.DeviceAdded:
		// A phone paired on the monitor's page: the parent must be able
		// to notice one they do not know.
		dev := DeviceEvent{Monitor: c.mon, ID: control.Truncate(m.ID, 32), Name: control.Truncate(m.Name, 64), PairedAt: time.UnixMilli(m.PairedAtMillis).UTC()}
		return append(out, logLine{slog.LevelWarn, "a phone was paired with the monitor on its page; if you do not know it, revoke it with `cradled revoke ID`",
			[]any{"name", dev.Name, "id", dev.ID, "paired_at", dev.PairedAt}}, deliver{dev})
	case control.WebRTCAnswer, control.WebRTCICE, control.StreamStop:
		return append(out, toStreamer{m})
	case control.ErrorMsg:
		switch {
		case m.Ref == control.TypeInfoRequest || m.Ref == control.TypePairOpen || m.Ref == control.TypePairClose || m.Ref == control.TypeHistoryRequest ||
			m.Ref == control.TypeSoundStart || m.Ref == control.TypeSoundStop:
			return c.answerAll(out, is(m.Ref), reply{Err: m.ToError()})
		case m.Session != "" || m.Ref == control.TypeStreamStart || m.Ref == control.TypeWebRTCOffer || m.Ref == control.TypeWebRTCICE:
			return append(out, toStreamer{m})
		}
		return append(out, logLine{slog.LevelWarn, "error from the monitor", []any{"code", m.Code, "ref", m.Ref, "message", control.Truncate(m.Message, 200)}})
	}
	return append(out, logLine{slog.LevelDebug, "message ignored", []any{"type", m.MessageType()}})
}

func is(t control.Type) func(control.Type) bool { return func(x control.Type) bool { return x == t } }

// answerAll answers (and forgets) every waiting request whose type match
// accepts, in the order they were asked.
func (c *sessionCore) answerAll(out []effect, match func(control.Type) bool, r reply) []effect {
	var ids []uint64
	for id, ref := range c.asks {
		if match(ref) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		delete(c.asks, id)
		out = append(out, answer{ID: id, Reply: r})
	}
	return out
}

// applyAlarm turns the alarm's effects into the session's.
func (c *sessionCore) applyAlarm(out []effect, effs []alarm.Effect) []effect {
	for _, e := range effs {
		switch e := e.(type) {
		case alarm.AlarmChanged:
			c.alarmSt = e.State
			if e.State.Active && e.State.Sounding {
				out = append(out, logLine{slog.LevelWarn, "alarm", []any{"reason", e.State.Reason.String()}})
			}
			out = append(out, deliver{AlarmEvent{Monitor: c.mon, State: e.State}})
		case alarm.Chime:
			out = append(out, deliver{ChimeEvent{Monitor: c.mon, At: e.At}})
		}
	}
	return out
}
