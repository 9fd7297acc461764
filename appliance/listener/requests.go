package listener

import (
	"context"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// MonitorInfo asks the monitor for its control card: its port, pairing
// window and live connections with their last heartbeat.
func (s *Session) MonitorInfo(ctx context.Context) (control.Info, error) {
	r, err := s.ask(ctx, control.InfoRequest{})
	if err != nil {
		return control.Info{}, err
	}
	if r.Err != nil {
		return control.Info{}, r.Err
	}
	info, _ := r.Msg.(control.Info)
	return info, nil
}

// ask sends req on the live connection and waits for the answer the core
// matches to it by its type (the answer's ref).
func (s *Session) ask(ctx context.Context, req control.Message) (reply, error) {
	s.mu.Lock()
	c := s.conn
	if c == nil {
		s.mu.Unlock()
		return reply{}, ErrOffline
	}
	s.lastAsk++
	id := s.lastAsk
	ch := make(chan reply, 1)
	s.waiters[id] = ch
	s.step(asked{ID: id, Ref: req.MessageType()})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, waiting := s.waiters[id]; waiting {
			delete(s.waiters, id)
			s.step(askGone{ID: id})
		}
	}()
	if err := c.Send(ctx, req); err != nil {
		return reply{}, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.Done():
		return reply{}, ErrOffline
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}
