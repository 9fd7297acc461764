package page

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// lazyLink is the card's session on the monitor's host: it runs only
// while some page is open (an event stream), and for lingerFor after the
// last one left (a phone that reloads finds it still there). While no
// page is open, nothing follows the monitor from inside it: its capture
// and status stop as they do when no listener is connected, and no
// connection of the page's counts among its listeners.
//
// When the session stops, Next says the monitor is Connecting (nobody
// knows better until the next session connects): a page opened later is
// never shown the old presence or levels as current.
type lazyLink struct {
	mon    listener.PairedMonitor
	start  func() liveLink // starts a session and subscribes to it
	linger time.Duration

	mu     sync.Mutex
	cur    *liveLink
	demand int
	gen    chan struct{} // closed and replaced whenever cur changes
	timer  *time.Timer   // stops cur lingerFor after demand fell to 0
	closed bool
	wg     sync.WaitGroup // sessions being closed
}

// lingerFor keeps the card's session after the last page left.
const lingerFor = 30 * time.Second

func newLazyLink(mon listener.PairedMonitor, start func() liveLink) *lazyLink {
	return &lazyLink{mon: mon, start: start, linger: lingerFor, gen: make(chan struct{})}
}

// demandChanged adds delta open pages: the first starts the session, the
// last one's leaving stops it after the linger.
func (l *lazyLink) demandChanged(delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.demand += delta
	if l.demand > 0 {
		if l.timer != nil {
			l.timer.Stop()
			l.timer = nil
		}
		if l.cur == nil {
			c := l.start()
			l.cur = &c
			l.bumpLocked()
		}
		return
	}
	if l.cur != nil && l.timer == nil {
		l.timer = time.AfterFunc(l.linger, l.stopIdle)
	}
}

// stopIdle stops the session if still no page is open.
func (l *lazyLink) stopIdle() {
	l.mu.Lock()
	l.timer = nil
	if l.demand > 0 || l.cur == nil || l.closed {
		l.mu.Unlock()
		return
	}
	cur := l.cur
	l.cur = nil
	l.bumpLocked()
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	cur.Close()
}

func (l *lazyLink) bumpLocked() {
	close(l.gen)
	l.gen = make(chan struct{})
}

// current is the running session, nil while none runs.
func (l *lazyLink) current() *listener.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return nil
	}
	return l.cur.sess
}

func (l *lazyLink) Next(ctx context.Context) (listener.Event, error) {
	for {
		l.mu.Lock()
		cur, gen, closed := l.cur, l.gen, l.closed
		l.mu.Unlock()
		if closed {
			return nil, listener.ErrSessionClosed
		}
		if cur == nil {
			select {
			case <-gen:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ev, err := cur.sub.Next(ctx)
		if err == nil || !errors.Is(err, listener.ErrSessionClosed) {
			return ev, err
		}
		l.mu.Lock()
		stopped := l.cur != cur && !l.closed
		l.mu.Unlock()
		if !stopped {
			return nil, err // it ended by itself, or the pool closes
		}
		return listener.PresenceEvent{Change: listener.Change{Monitor: l.mon, Presence: listener.Connecting, Address: l.mon.Address, At: time.Now()}}, nil
	}
}

// SetStream: the card's session never streams (each phone streams on a
// connection of its own).
func (l *lazyLink) SetStream(listener.StreamMode) {}

func (l *lazyLink) Snapshot() listener.Snapshot {
	if s := l.current(); s != nil {
		return s.Snapshot()
	}
	return listener.Snapshot{}
}

func (l *lazyLink) Ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *lazyLink) Err() error { return nil }

// Close stops the session for good and waits for it.
func (l *lazyLink) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return
	}
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	cur := l.cur
	l.cur = nil
	l.bumpLocked()
	l.mu.Unlock()
	if cur != nil {
		cur.Close()
	}
	l.wg.Wait()
}
