package monitor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/store"
)

// The ordered applier, in raft's Ready/Advance shape: one goroutine (the
// core's owner, owner.go) steps the core and carries out each step's
// effects before it takes the next event, in this order of kinds:
//
//  1. the store: appends (and compaction) on the owner itself, so that
//     nothing is told to a peer before it is durable; a failed Must
//     append stops the rest of that step's effects and is its answer;
//  2. the peers: sends queued on each connection's outbox
//     (connection.TrySend, which never waits: a peer whose outbox is
//     full is closed, it cannot stall the monitor), closes started
//     (StartClose), trust, status pumps, the end of a PAKE;
//  3. the slow parts, handed to workers that each carry out their jobs
//     one at a time in the order given: the LED (panel), the mDNS flag
//     (mdns), and the media (media: the shared tracks' pumps and key
//     frames; it hands each connection's WebRTC answers, candidates,
//     sessions stopped and, at its close, its answerer's close on to that
//     connection's own sessions worker, so that a slow answer holds only
//     its connection), and the speaker (speakerW: the soothing sounds
//     played, faded and stopped, speaker.go).
//
// Within a step the effects keep the core's order within each of these
// three groups; a step's effects all come (or are handed to their
// worker) before the next step's. Every
// worker is fed in step order, so the LED and the mDNS flag end as the
// last step asked, with no generation counter.
//
// The poster of an event may wait for its outcome (step): the core's
// answer, once the effects are carried out (the media ones too when the
// step has any, an Answer's included); it never carries out an effect.

// step feeds the core ev on its owner, which carries out the effects, and
// waits for the outcome: the error that answers the request ev stands
// for, if any.
func (m *Monitor) step(ev Event) error {
	reply := make(chan error, 1)
	if err := m.owner.post(func() { m.apply(ev, reply, nil) }); err != nil {
		return control.Errorf(control.CodeGoingAway, "%v", err)
	}
	return <-reply
}

// post feeds the core ev without waiting for the outcome (pion's
// callbacks, which must not wait on the media worker that may be calling
// pion).
func (m *Monitor) post(ev Event) {
	_ = m.owner.post(func() { m.apply(ev, nil, nil) })
}

// outcome is what a step answers; media jobs may set it (an Answer).
type outcome struct {
	err     error
	pumpErr error // the pumps of this step could not start
	replied bool  // an AnswerFailed step answers instead
	peer    *peer // the connection whose sessions worker has this step's pion jobs
}

// apply steps ev and carries out its effects (on the owner). The outcome
// goes to reply (nil: nobody waits), after the media jobs when there are
// any. override, when set, replaces the step's error (an AnswerFailed
// answers with the engine's error).
func (m *Monitor) apply(ev Event, reply chan<- error, override error) {
	defer m.poke()
	eff, err := m.core.Step(ev)
	if m.onStep != nil {
		m.onStep(ev, eff)
	}
	if override != nil {
		err = override
	}
	m.carryOut(m.peers, eff, err, reply)
}

// carryOut carries out one step's effects, in order (see above), and
// answers reply with err (or the failure of a Must append, or of a media
// effect). It runs on the owner; peers is the owner's peer table.
func (m *Monitor) carryOut(peers map[uint64]*peer, eff []Effect, err error, reply chan<- error) {
	out := &outcome{err: err}
	// 1. The store: durable before anything is told.
	for _, e := range eff {
		switch e := e.(type) {
		case Append:
			if _, aerr := m.events.Append(context.Background(), e.Payload); aerr != nil {
				if e.Must {
					answer(reply, control.Errorf(control.CodeInternal, "cannot record %s: %v", e.Payload.EventType(), aerr))
					return // nothing else of this step happens
				}
				// Losing a connection record must not take the nursery offline.
				m.log.Error("cannot record event", "type", e.Payload.EventType(), "err", aerr)
			}
			m.logAppend(e.Payload)
			if m.hist != nil {
				m.hist.appended(e.Payload, m.st.State())
			}
		case Compact:
			if n, cerr := m.events.Compact(e.Keep); cerr != nil {
				m.log.Warn("compacting connection history", "err", cerr)
			} else {
				m.log.Info("compacted connection history", "removed", n)
			}
		case RenewCode:
			m.renewCode() // a new code file, and its generation appended
		case WipeMonitor:
			if werr := m.Wipe(context.Background()); werr != nil {
				m.log.Error("button: cannot wipe the monitor", "err", werr)
			}
		}
	}
	// 2. The peers, none of which waits.
	for _, e := range eff {
		switch e := e.(type) {
		case Send:
			if p := peers[e.Conn]; p != nil {
				m.deliver(p.conn, e.Msg)
			}
		case SendInfo:
			if p := peers[e.Conn]; p != nil {
				m.deliver(p.conn, m.info(p))
			}
		case Close:
			if p := peers[e.Conn]; p != nil {
				p.conn.StartClose(e.Code, e.Reason)
			}
		case Trust:
			if p := peers[e.Conn]; p != nil {
				p.conn.SetTrusted(true)
				m.known.addConn(p.conn.RemoteAddr(), m.now())
			}
		case StartStatus:
			if p := peers[e.Conn]; p != nil {
				m.startStatus(p)
			}
		case EndPairing:
			if p := peers[e.Conn]; p != nil {
				p.pake.Store(nil)
			}
		case Alert:
			m.log.Warn(e.Msg)
		case EndDevice:
			m.gone.end(e.ID, e.All)
		}
	}
	// 3. The workers, in step order.
	media := false
	shared := lastShared(eff)
	for i, e := range eff {
		switch e := e.(type) {
		case Advertise:
			m.mdns.give(func() { m.setAdvertisedPairing(e.PairingOpen) })
		case LED:
			if dev := m.cfg.Device; dev != nil {
				m.panel.give(func() { dev.SetState(e.State) })
			}
		case SoundPlay, SoundFade, SoundHalt, TalkPlay, TalkHalt:
			if m.speaker != nil {
				m.speaker.give(e)
			}
		case Pumps, KeyFrame, Answer, AddCandidate, StopSession:
			media = true
			m.media.give(m.mediaJob(peers, e, out, reply, i < shared))
		}
	}
	if !media {
		answer(reply, out.err)
		return
	}
	last := func() {
		if !out.replied {
			answer(reply, out.err)
		}
	}
	m.media.give(func() {
		if out.peer != nil {
			m.onSessions(out.peer, last) // after its pion jobs
		} else {
			last()
		}
	})
}

func answer(reply chan<- error, err error) {
	if reply != nil {
		reply <- err
	}
}

// mediaJob is the media worker's part of an effect. The peer is looked
// up now, on the owner. A connection's pion jobs (an answer, a
// candidate, a session stopped) go on from the media worker to that
// connection's sessions worker, in order: a slow answer holds only its
// own connection.
//
// A pion job that an effect on the shared tracks follows in its step (a
// session stopped, then the pumps) is waited for: the pumps change only
// once the session is gone, in the core's order. An Answer is always
// its step's last effect, so a slow answer never holds the media worker.
func (m *Monitor) mediaJob(peers map[uint64]*peer, e Effect, out *outcome, reply chan<- error, wait bool) func() {
	switch e := e.(type) {
	case Answer, AddCandidate, StopSession:
		p := peers[connOf(e)]
		job := m.sessionJob(p, e, out, reply)
		if p == nil {
			return job
		}
		out.peer = p
		if wait {
			return func() { m.onSessionsWait(p, job) }
		}
		return func() { m.onSessions(p, job) }
	}
	return m.sharedJob(e, out)
}

// lastShared is the index of the last effect on the shared tracks in
// eff, -1 if none.
func lastShared(eff []Effect) int {
	last := -1
	for i, e := range eff {
		switch e.(type) {
		case Pumps, KeyFrame:
			last = i
		}
	}
	return last
}

// onSessionsWait is onSessions, then waits until job is carried out.
func (m *Monitor) onSessionsWait(p *peer, job func()) {
	done := make(chan struct{})
	m.onSessions(p, func() {
		defer close(done)
		job()
	})
	<-done
}

func connOf(e Effect) uint64 {
	switch e := e.(type) {
	case Answer:
		return e.Conn
	case AddCandidate:
		return e.Conn
	case StopSession:
		return e.Conn
	}
	return 0
}

// onSessions hands job to p's sessions worker, started on the first
// (on the media worker, the only goroutine that touches p.sessions).
func (m *Monitor) onSessions(p *peer, job func()) {
	if p.sessions == nil {
		p.sessions = startWorkerIn(&m.sessionWorkers)
	}
	if !p.sessions.give(job) {
		job() // its connection closed already: carried out here, so that a waiter is answered
	}
}

// closeSessions closes p's answerer after its pion jobs, ends its
// sessions worker and waits for it: the pumps that its close may stop
// come after. It runs on the media worker.
func (m *Monitor) closeSessions(p *peer) {
	if p.sessions == nil {
		p.ans.Close() // never answered anything: nothing to wait for
		return
	}
	p.sessions.give(p.ans.Close)
	p.sessions.stop()
}

// sharedJob is the media worker's part of an effect on the shared
// tracks.
func (m *Monitor) sharedJob(e Effect, out *outcome) func() {
	switch e := e.(type) {
	case Pumps:
		return func() {
			if err := m.tracks.set(e); err != nil {
				m.log.Error("the capture cannot start", "err", err)
				out.pumpErr = err
			}
		}
	case KeyFrame:
		return m.hub.RequestKeyFrame
	}
	return func() { m.log.Error("monitor: an effect nobody carries out", "effect", e) }
}

// sessionJob is a connection's pion job (nil p: the connection closed).
func (m *Monitor) sessionJob(p *peer, e Effect, out *outcome, reply chan<- error) func() {
	switch e := e.(type) {
	case Answer:
		return func() {
			if err := m.answer(p, e, out.pumpErr); err != nil {
				out.replied = true
				// The session does not run: the core learns it, and the
				// request is answered once that step is carried out.
				ev := AnswerFailed{At: m.now(), Conn: e.Conn, Session: e.Session}
				if perr := m.owner.post(func() { m.apply(ev, reply, err) }); perr != nil {
					answer(reply, err)
				}
			}
		}
	case AddCandidate:
		return func() {
			if p == nil {
				return
			}
			if err := p.ans.AddCandidate(e.ICE.Session, e.ICE); err != nil {
				out.err = err
			}
		}
	case StopSession:
		return func() {
			if p != nil {
				_ = p.ans.Stop(e.Session)
			}
		}
	}
	return func() { m.log.Error("monitor: an effect nobody carries out", "effect", e) }
}

// deliver queues msg on c's outbox without waiting; a peer whose outbox
// is full reads too slowly (or not at all) and is closed: it cannot stall
// the monitor. Safe on any goroutine.
func (m *Monitor) deliver(c connection, msg control.Message) {
	if err := c.TrySend(msg); errors.Is(err, transport.ErrSendQueueFull) {
		m.log.Log(context.Background(), levelFor(c.Trusted(), slog.LevelWarn), "closing a connection that does not read its messages", "conn", c.ID())
		c.StartClose(control.CodeIdleTimeout, "the listener does not read its messages")
	}
}

// logAppend logs the appends a parent reads in the journal.
func (m *Monitor) logAppend(p store.Payload) {
	switch p := p.(type) {
	case store.PairingWindowOpened:
		m.log.Info("pairing window open", "until", p.Until.Format(time.TimeOnly))
	case store.PairingWindowClosed:
		m.log.Info("pairing window closed", "reason", string(p.Reason))
	}
}

func (m *Monitor) setAdvertisedPairing(open bool) {
	if m.adv == nil {
		return
	}
	if err := m.adv.SetPairingOpen(open); err != nil {
		m.log.Warn("mDNS: cannot update the pairing flag", "err", err)
	}
}

// poke wakes the window ticker: the core's next deadline may have moved.
func (m *Monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// startApplier starts the core's owner and the workers it hands effects
// to; stopApplier stops them (the owner first: the workers carry out
// what it gave them).
func (m *Monitor) startApplier() {
	m.owner = startCoreOwner()
	m.media, m.panel, m.mdns, m.speakerW = startWorker(), startWorker(), startWorker(), startWorker()
}

func (m *Monitor) stopApplier() {
	if m.owner != nil {
		m.owner.stop()
	}
	for _, w := range []*worker{m.media, m.panel, m.mdns, m.speakerW} {
		if w != nil {
			w.stop()
		}
	}
	m.sessionWorkers.Wait() // each ends after its connection's close
}

// settle waits until the effects handed to the workers so far are carried
// out (tests).
func (m *Monitor) settle() {
	_ = m.owner.run(func() {})
	for _, w := range []*worker{m.media, m.panel, m.mdns, m.speakerW} {
		w.settle()
	}
}
