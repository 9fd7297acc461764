package monitor

import (
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/store"
)

// Push-to-talk's side of Core: who talks to the nursery, since when, and
// what the speaker worker must do.
//
// Rules:
//   - A talk is a WebRTC session of its own, of kind talk: stream_start
//     {kind: "talk"}, then the listener's offer (its microphone, sendonly).
//     stream_start is trusted-only (a stranger is refused and closed by
//     the trust gate before anything here); nothing a stranger sends
//     reaches the speaker.
//   - Without a speaker, a talk's stream_start is answered unavailable.
//   - One talker at a time: a talk's stream_start while another talk
//     goes on is answered busy, naming who talks (the same session
//     asking again is not an error).
//   - The talk starts at its stream_start: talk-started is appended, the
//     speaker worker is told (TalkPlay: a chime, then the voice as it
//     arrives; the noise detector gated), and every trusted connection
//     is sent talk_state.
//   - It ends (talk-ended, TalkHalt, talk_state) at stream_stop of its
//     session ("stopped"), when its connection closes or its peer
//     connection ends on its own ("closed"), when its answer fails or
//     the speaker cannot play it ("failed"), or when the monitor stops
//     ("shutdown"). Its session is forgotten with it: a new press is a
//     new stream_start.
//   - A trusted connection is told the talk state once, after hello_ack
//     or pair_done, as it is told the sound state.
type coreTalk struct {
	on      bool
	conn    uint64
	session string
	by      string
	started time.Time
	gen     uint64 // numbers the talks, for the speaker worker
}

// TalkFailed: the speaker could not play talk Gen.
type TalkFailed struct {
	At  time.Time
	Gen uint64
}

func (TalkFailed) coreEvent() {}

// TalkPlay: the speaker plays talk Gen (Conn's session Session): a chime,
// then the voice its peer connection receives, under the ceiling, with a
// soothing sound ducked under it; the noise detector is gated.
type TalkPlay struct {
	Gen     uint64
	Conn    uint64
	Session string
}

// TalkHalt: the speaker stops talk Gen.
type TalkHalt struct{ Gen uint64 }

func (TalkPlay) coreEffect() {}
func (TalkHalt) coreEffect() {}

// TalkState is push-to-talk as connection conn sees it.
func (c *Core) TalkState(conn uint64) control.TalkState {
	t := c.talk
	st := control.TalkState{Speaker: c.cfg.Speaker, Talking: t.on}
	if t.on {
		st.By, st.You = t.by, t.conn == conn
	}
	return st
}

// talkStart handles a stream_start of kind talk from a trusted
// connection.
func (c *Core) talkStart(ev StreamStart) ([]Effect, error) {
	if !c.cfg.Speaker {
		return nil, control.Errorf(control.CodeUnavailable, "the monitor has no speaker to talk through")
	}
	t := &c.talk
	if t.on {
		if t.conn == ev.Conn && t.session == ev.Session {
			return nil, nil // asked again
		}
		return nil, control.Errorf(control.CodeBusy, "%s is talking to the nursery: one at a time", control.Truncate(t.by, 64))
	}
	if err := c.streams.start(ev.Conn, ev.Session, control.StreamTalk); err != nil {
		return nil, err
	}
	t.gen++
	t.on, t.conn, t.session, t.by, t.started = true, ev.Conn, ev.Session, ev.By, ev.At
	eff := []Effect{
		Append{Payload: store.TalkStarted{By: ev.By, Peer: ev.Peer}},
		TalkPlay{Gen: t.gen, Conn: ev.Conn, Session: ev.Session},
	}
	return c.notifyTalk(eff), nil
}

// isTalk reports whether conn's session is the talk going on.
func (c *Core) isTalk(conn uint64, session string) bool {
	return c.talk.on && c.talk.conn == conn && c.talk.session == session
}

// endTalk ends the talk going on, if any, for reason: its log event, the
// speaker's halt, and its session forgotten (stopped when it runs, or
// always when stop: an answer may be on its way). The caller adds the
// talk_state notices (notifyTalk).
func (c *Core) endTalk(now time.Time, reason string, stop bool) []Effect {
	t := &c.talk
	if !t.on {
		return nil
	}
	t.on = false
	eff := []Effect{
		Append{Payload: store.TalkEnded{Reason: reason, Duration: now.Sub(t.started)}},
		TalkHalt{Gen: t.gen},
	}
	if se, ok := c.streams.conns[t.conn][t.session]; ok {
		stop = stop || se.running != ""
		delete(c.streams.conns[t.conn], t.session)
	}
	if stop {
		eff = append(eff, StopSession{Conn: t.conn, Session: t.session})
	}
	return eff
}

// notifyTalk sends the talk state to every trusted connection, after
// eff.
func (c *Core) notifyTalk(eff []Effect) []Effect {
	for _, id := range c.connsOf(identity.Fingerprint{}, true) {
		if c.conns[id].trusted {
			eff = append(eff, Send{Conn: id, Msg: c.TalkState(id)})
		}
	}
	return eff
}
