package cradlecli

import (
	"context"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// request is how a command that asks one paired monitor something (cradle
// pairing, cradle history) reaches it: resolve the name, start a session
// without a stream, wait until the monitor is online, then ask. It
// returns the session (Close it) or why the monitor cannot be asked: the
// session's own error (revoked, identity changed), or, when the monitor
// did not answer within wait, an error that wraps
// listener.ErrUnreachable (exit status ExitUnreachable).
func (e *env) request(ctx context.Context, l *listener.Listener, target string, wait time.Duration) (*listener.Session, listener.PairedMonitor, error) {
	m, err := l.Resolve(target)
	if err != nil {
		return nil, m, err
	}
	sess := l.Start(m, listener.SessionOptions{Stream: listener.StreamOff, Logger: e.cfg.Logger})
	sub := sess.Subscribe(listener.SubscribeOptions{})
	defer sub.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			if serr := sess.Err(); serr != nil {
				sess.Close()
				return nil, m, serr
			}
			sess.Close()
			return nil, m, offlineError{name: m.Name, wait: wait}
		}
		if p, ok := ev.(listener.PresenceEvent); ok && p.Presence == listener.Online {
			return sess, m, nil
		}
	}
}

// offlineError: the monitor did not come online within the wait.
type offlineError struct {
	name string
	wait time.Duration
}

func (o offlineError) Error() string {
	return fmt.Sprintf("%s did not answer in %v: is it on and on the same network?", o.name, o.wait)
}

func (o offlineError) Unwrap() error { return listener.ErrUnreachable }
