package transport

import (
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// heartbeat adapts presence's pure state machine to control messages. It
// is not safe for concurrent use: Conn guards it with hbMu.
type heartbeat struct {
	cfg presence.Config
	h   *presence.Heartbeat
}

func newHeartbeat(cfg presence.Config, now time.Time) *heartbeat {
	return &heartbeat{cfg: cfg, h: presence.New(cfg, now)}
}

// tick returns the ping to send now, if any, and whether the peer is dead.
func (hb *heartbeat) tick(now time.Time) (*control.Ping, bool) {
	p, dead := hb.h.Tick(now)
	if p == nil {
		return nil, dead
	}
	return &control.Ping{Seq: p.Seq, Sent: p.SentUnixNano}, dead
}

func (hb *heartbeat) nextTick() time.Time { return hb.h.NextTick() }

func (hb *heartbeat) onFrame(t time.Time) { hb.h.OnFrame(t) }

func (hb *heartbeat) onPong(p control.Pong, now time.Time) {
	hb.h.OnPong(presence.Pong{Seq: p.Seq, EchoUnixNano: p.Echo}, now)
}

func (hb *heartbeat) stats() presence.Stats { return hb.h.Stats() }

// deadAfter is how long a silent peer lives.
func (hb *heartbeat) deadAfter() time.Duration { return hb.cfg.DeadAfter() }

// answer is the pong for a ping.
func answer(p control.Ping) control.Pong {
	a := presence.Answer(presence.Ping{Seq: p.Seq, SentUnixNano: p.Sent})
	return control.Pong{Seq: a.Seq, Echo: a.EchoUnixNano}
}
