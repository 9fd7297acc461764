package listener

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// run is the dial loop: it dials when the core says (first: the started
// step's dialAt), serves the connection, reports each outcome to the
// core, and ends the session when the core says stop.
func (s *Session) run(next []effect) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	for {
		var at dialAt
		for _, e := range next {
			switch e := e.(type) {
			case dialAt:
				at = e
			case stopSession:
				s.err = e.Err
				s.cancel()
				return
			}
		}
		if at.Rediscover {
			s.rediscover()
		}
		if d := time.Until(at.At); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		next = s.connect(rng.Float64())
		if next == nil {
			return // the session is closing
		}
	}
}

// connect dials once, serves the connection while it lives and returns
// the core's decision on what to do next; nil when the session closes.
func (s *Session) connect(jitter float64) []effect {
	mon := s.Monitor()
	dctx, cancel := context.WithTimeout(s.ctx, s.dialTimeout())
	c, ack, err := s.dialer.Dial(dctx, mon)
	cancel()
	if s.ctx.Err() != nil {
		if c != nil {
			c.Close(control.CodeGoingAway, "")
		}
		return nil
	}
	if err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.step(dialed{At: time.Now(), Err: err, Jitter: jitter})
	}
	inbox := make(chan control.Message, 64)
	s.mu.Lock()
	s.conn, s.inbox = c, inbox
	s.step(dialed{At: time.Now(), Stats: c.Stats()})
	s.mu.Unlock()
	s.serve(c, ack, inbox)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn, s.inbox = nil, nil
	if s.ctx.Err() != nil {
		c.Close(control.CodeGoingAway, "")
		return nil
	}
	return s.step(connLost{At: time.Now(), Err: c.Err(), Jitter: jitter})
}

func (s *Session) dialTimeout() time.Duration {
	var hb presence.Config
	if s.l != nil {
		hb = s.l.cfg.Heartbeat
	}
	hb = hb.WithDefaults()
	return max(3*time.Second, hb.Interval*time.Duration(hb.Misses))
}

// rediscover looks the monitor up after its last address failed a few
// times; a new address is remembered. The pinned fingerprint still
// decides whom the next dial accepts.
func (s *Session) rediscover() {
	mon := s.Monitor()
	addr, err := s.dialer.Rediscover(s.ctx, mon)
	if err != nil || addr == mon.Address {
		return
	}
	s.log.Info("monitor found at a new address", "old", mon.Address, "new", addr)
	if s.l != nil {
		if err := s.l.RecordAddress(s.ctx, mon, addr); err != nil {
			s.log.Warn("cannot remember the new address", "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step(addressFound{Addr: addr})
}

// serve runs while c is up: the reader feeds every message to the core;
// the streamer streams while the parent listens.
func (s *Session) serve(c Conn, ack control.HelloAck, inbox chan control.Message) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.read(ctx, c, inbox) })
	wg.Go(func() { s.streamer(ctx, c, ack, inbox) })
	select {
	case <-c.Done():
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
}

// read is the connection's one reader: each message goes to the core,
// and what the core routes to the stream session to the streamer.
func (s *Session) read(ctx context.Context, c Conn, inbox chan<- control.Message) {
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		rest := s.step(received{At: time.Now(), Msg: m})
		s.mu.Unlock()
		for _, e := range rest {
			if e, ok := e.(toStreamer); ok {
				if s.talkInbox(e.Msg) {
					continue // the talk's signalling
				}
				select {
				case inbox <- e.Msg:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// listenerDialer dials for sessions of a real Listener.
type listenerDialer struct{ l *Listener }

func (d listenerDialer) Dial(ctx context.Context, m PairedMonitor) (Conn, control.HelloAck, error) {
	c, ack, err := d.l.Dial(ctx, m)
	if err != nil {
		return nil, ack, err
	}
	return c, ack, nil
}

func (d listenerDialer) Rediscover(ctx context.Context, m PairedMonitor) (string, error) {
	if !d.l.cfg.Discovery {
		return "", errors.New("listener: discovery is off")
	}
	return d.l.rediscover(ctx, m)
}
