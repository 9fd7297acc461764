package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// The connections' side of the shell: serveAccept hands each connection
// to the core, and one goroutine per connection (serve) turns its
// messages into the core's events. Neither carries out an effect: the
// applier does (applier.go).

// serveAccept takes connections from the transport and hands each to the
// core (ConnAccepted), which answers or refuses it; serve then reads it
// until it closes. An Accept failure while the monitor runs is fatal.
func (m *Monitor) serveAccept(ctx context.Context) error {
	for {
		c, hello, err := m.accept(ctx)
		if err != nil {
			return fmt.Errorf("monitor: accepting connections stopped: %w", err)
		}
		p := &peer{conn: c, hello: hello, since: m.now()}
		if c.Trusted() {
			m.known.addConn(c.RemoteAddr(), p.since)
		}
		p.ans = m.newAnswerer(p)
		ev := ConnAccepted{At: p.since, Conn: c.ID(), Peer: c.Peer(), Remote: c.RemoteAddr().String(), Trusted: c.Trusted()}
		reply := make(chan error, 1)
		err = m.owner.post(func() {
			// Registered with its step, on the owner: no later step's
			// effects can miss it. A refused one is closed by its effects
			// and forgotten at its ConnClosed, as every other.
			m.peers[ev.Conn] = p
			m.apply(ev, reply, nil)
		})
		if err != nil {
			p.ans.Close()
			c.Close(control.CodeGoingAway, "")
			continue
		}
		<-reply
		m.parts.Go(func(context.Context) error {
			m.serve(p)
			return nil
		})
	}
}

// serve reads one connection's messages until it closes, then tells the
// core (ConnClosed), whose applier forgets the peer and closes its
// sessions.
func (m *Monitor) serve(p *peer) {
	c := p.conn
	log := m.log.With("conn", c.ID(), "peer", c.Peer(), "remote", c.RemoteAddr().String())
	if p.local != nil {
		log = m.log.With("conn", c.ID(), "page", pageName(p.local.Device), "remote", c.RemoteAddr().String())
	}
	// A stranger's comings and goings (and the name it chose) are debug
	// lines: it can connect as often as it likes.
	log.Log(m.ctx, levelFor(c.Trusted(), slog.LevelInfo), "listener connected", "trusted", c.Trusted(), "name", control.Truncate(p.hello.Name, maxPeerText))
	defer func() {
		err := c.Err()
		ev := ConnClosed{At: m.now(), Conn: c.ID(), Reason: closeReason(err)}
		reply := make(chan error, 1)
		perr := m.owner.post(func() {
			delete(m.peers, ev.Conn)
			m.media.give(func() { m.closeSessions(p) }) // its sessions end; the core forgets them with the step
			m.apply(ev, reply, nil)
		})
		if perr != nil {
			p.ans.Close() // the applier stopped: nothing else uses it
		} else {
			<-reply
		}
		log.Log(m.ctx, levelFor(c.Trusted(), slog.LevelInfo), "listener disconnected", "reason", ev.Reason, "err", err)
	}()
	for {
		msg, err := c.Recv(m.ctx)
		if err != nil {
			c.Close(control.CodeGoingAway, "")
			return
		}
		if err := m.handle(p, msg); err != nil {
			// A stranger can fail requests as fast as it can send them:
			// its failures are debug lines, never the default log.
			log.Log(m.ctx, levelFor(c.Trusted(), slog.LevelWarn), "request failed", "type", msg.MessageType(), "err", control.Truncate(err.Error(), maxPeerText))
			if !errors.As(err, new(Answered)) {
				em := control.ErrorMessage(err, msg.MessageType())
				em.Session = sessionOf(msg) // a talk's refusal reaches its talk, not the listening stream
				m.deliver(c, em)
			}
		}
	}
}

// handle turns one message into the core's event, and returns the error
// that answers it. Every request the transport let through reaches the
// core, which checks trust again.
func (m *Monitor) handle(p *peer, msg control.Message) error {
	id := p.conn.ID()
	switch msg := msg.(type) {
	case control.PairStart, control.PairConfirm:
		if p.local != nil {
			// Nothing to pair: the page's device paired with PairDevice,
			// and the page host is the monitor.
			return control.Errorf(control.CodeProtocol, "%s on an in-process connection, which is trusted already", msg.MessageType())
		}
		if msg, ok := msg.(control.PairStart); ok {
			return m.pairStart(p, msg)
		}
		return m.pairConfirm(p, msg.(control.PairConfirm))
	case control.Bye:
		p.conn.Close(control.CodeNone, "bye")
		return nil
	case control.ErrorMsg:
		m.log.Log(m.ctx, levelFor(p.conn.Trusted(), slog.LevelInfo), "listener reported an error",
			"conn", id, "code", control.Truncate(msg.Code, maxPeerText), "message", control.Truncate(msg.Message, maxPeerText))
		return nil
	case control.StreamStart:
		ev := StreamStart{At: m.now(), Conn: id, Session: msg.Session, Kind: msg.Kind}
		if msg.Kind == control.StreamTalk {
			ev.By, ev.Peer = m.whoIs(p)
		}
		err := m.step(ev)
		if err == nil && msg.Kind == control.StreamTalk {
			m.log.Info("a listener talks to the nursery", "conn", id, "by", ev.By)
		}
		return err
	case control.WebRTCOffer:
		return m.step(StreamOffer{Conn: id, Session: msg.Session, SDP: msg.SDP})
	case control.WebRTCICE:
		return m.step(StreamCandidate{Conn: id, ICE: msg})
	case control.StreamStop:
		return m.step(StreamStop{At: m.now(), Conn: id, Session: msg.Session})
	case control.InfoRequest:
		return m.step(InfoRequest{Conn: id})
	case control.HistoryRequest:
		if err := m.step(HistoryRequest{Conn: id}); err != nil {
			return err // untrusted: refused and closed
		}
		return m.answerHistory(m.ctx, p, msg)
	case control.PairOpen:
		d := time.Duration(msg.DurationMillis) * time.Millisecond
		if msg.DurationMillis < 0 || msg.DurationMillis > int64(pairing.DefaultWindowMax/time.Millisecond)*4 {
			d = -1 // would overflow: the window refuses it (bad_request), after the core checked trust
		}
		err := m.step(PairOpen{At: m.now(), Conn: id, D: d})
		if err == nil {
			m.log.Info("pairing window opened by a paired listener", "conn", id, "peer", p.conn.Peer())
		}
		return err
	case control.PairClose:
		err := m.step(PairClose{At: m.now(), Conn: id})
		if err == nil {
			m.log.Info("pairing window closed by a paired listener", "conn", id, "peer", p.conn.Peer())
		}
		return err
	case control.SoundStart:
		by, peerID := m.whoIs(p)
		err := m.step(SoundStart{At: m.now(), Conn: id, Sound: msg.Sound, Minutes: msg.Minutes, By: by, Peer: peerID})
		if err == nil {
			m.log.Info("soothing sound started", "conn", id, "by", by, "sound", msg.Sound, "minutes", msg.Minutes)
		}
		return err
	case control.SoundStop:
		err := m.step(SoundStop{At: m.now(), Conn: id})
		if err == nil {
			m.log.Info("soothing sound stopped by a listener", "conn", id)
		}
		return err
	default:
		return control.Errorf(control.CodeProtocol, "unexpected %s from a listener", msg.MessageType())
	}
}

// whoIs names p's trusted listener (or phone) as the event log records
// who started a sound: its name, and its device id.
func (m *Monitor) whoIs(p *peer) (name, id string) {
	st := m.st.State()
	if p.local != nil {
		if p.local.Device == "" {
			return "the monitor's page", "page"
		}
		if d, ok := st.Devices[p.local.Device]; ok {
			return d.Name, d.ID
		}
		return p.local.Name, p.local.Device
	}
	fp := p.conn.Peer()
	if l, ok := st.Allowlist[fp]; ok {
		return l.Name, fp.DeviceID()
	}
	return control.Truncate(p.hello.Name, 64), fp.DeviceID()
}

// sessionOf is the session a stream message names, if any.
func sessionOf(msg control.Message) string {
	switch msg := msg.(type) {
	case control.StreamStart:
		return msg.Session
	case control.WebRTCOffer:
		return msg.Session
	case control.WebRTCICE:
		return msg.Session
	case control.StreamStop:
		return msg.Session
	}
	return ""
}

// closeReason names why a connection ended, for the event log.
func closeReason(err error) string {
	var ce *control.Error
	if errors.As(err, &ce) {
		return ce.Code.String()
	}
	if err == nil || errors.Is(err, transport.ErrClosed) {
		return "closed"
	}
	return err.Error()
}

// maxPeerText bounds a string a peer chose (an error's code or message)
// in the log.
const maxPeerText = 120

// levelFor is level for a trusted peer, and debug for a stranger, whose
// messages must not fill the log.
func levelFor(trusted bool, level slog.Level) slog.Level {
	if trusted {
		return level
	}
	return slog.LevelDebug
}
