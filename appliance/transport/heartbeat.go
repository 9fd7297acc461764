package transport

import (
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// heartbeat adapts presence's pure state machine to control messages. It
// is not safe for concurrent use: Conn guards it with hbMu.
//
// On the wire a ping's sent time is microseconds of the monotonic clock
// since the heartbeat started (control.Ping): it stays below 2^53, so a
// peer that reads JSON numbers as doubles echoes it unchanged. presence
// keeps its own nanosecond times; sent maps one to the other.
type heartbeat struct {
	cfg  presence.Config
	h    *presence.Heartbeat
	base time.Time // with a monotonic reading
	sent [sentWindow]sentStamp
}

// sentWindow is how many pings' stamps are remembered, as presence does.
const sentWindow = 32

type sentStamp struct {
	seq    uint64
	micros int64 // on the wire
	nanos  int64 // presence's
}

func newHeartbeat(cfg presence.Config, now time.Time) *heartbeat {
	return &heartbeat{cfg: cfg, h: presence.New(cfg, now), base: now}
}

// tick returns the ping to send now, if any, and whether the peer is dead.
func (hb *heartbeat) tick(now time.Time) (*control.Ping, bool) {
	p, dead := hb.h.Tick(now)
	if p == nil {
		return nil, dead
	}
	us := now.Sub(hb.base).Microseconds()
	hb.sent[p.Seq%sentWindow] = sentStamp{seq: p.Seq, micros: us, nanos: p.SentUnixNano}
	return &control.Ping{Seq: p.Seq, Sent: us}, dead
}

func (hb *heartbeat) nextTick() time.Time { return hb.h.NextTick() }

// onFrame records a frame for Stats.LastSeen; it is not a sign of life.
func (hb *heartbeat) onFrame(t time.Time) { hb.h.OnFrame(t) }

// onPong hands presence the pong with the echo mapped back to its
// nanoseconds (a valid pong is the only sign of life); an echo that does not match the ping's stamp is passed as
// a mismatch, which presence ignores.
func (hb *heartbeat) onPong(p control.Pong, now time.Time) {
	echo := int64(0)
	if e := hb.sent[p.Seq%sentWindow]; e.seq == p.Seq {
		echo = e.nanos
		if e.micros != p.Echo {
			echo = e.nanos + 1
		}
	}
	hb.h.OnPong(presence.Pong{Seq: p.Seq, EchoUnixNano: echo}, now)
}

func (hb *heartbeat) stats() presence.Stats { return hb.h.Stats() }

// deadAfter is how long a silent peer lives.
func (hb *heartbeat) deadAfter() time.Duration { return hb.cfg.DeadAfter() }

// answer is the pong for a ping.
func answer(p control.Ping) control.Pong {
	a := presence.Answer(presence.Ping{Seq: p.Seq, SentUnixNano: p.Sent})
	return control.Pong{Seq: a.Seq, Echo: a.EchoUnixNano}
}
