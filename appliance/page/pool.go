package page

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media/fanout"
)

// Errors of the pool, mapped to problems by the handlers.
var (
	errUnknownMonitor = errors.New("dashboard: unknown monitor")
	errTabGone        = errors.New("dashboard: no such tab")
	errTooMany        = errors.New("dashboard: too many listens")
	errNotListening   = errors.New("dashboard: the tab does not listen to that monitor")
	errUnauthorized   = errors.New("page: this phone is not paired with the monitor (any more)")
)

// sessionPool is the listener sessions the dashboard shares between its
// tabs: one per paired monitor, whose events it fans out to the tabs'
// event streams. It owns the listen reference count: a session streams
// while some tab or audio stream holds a listen on it.
//
// Locks: mu guards the pool's state and is never held while the pool
// calls into a session (sessionLink): a method copies what it needs under
// mu, lets go, then calls. listenMu orders the listen changes: a change takes
// it, changes the counts under mu, lets mu go and then tells the sessions
// their new stream mode, so the last change is the one a session keeps.
// Lock order: listenMu before mu.
type sessionPool struct {
	log        *slog.Logger
	list       func() ([]listener.PairedMonitor, error) // the paired monitors
	start      func(listener.PairedMonitor) (sessionLink, *listener.Session)
	maxListens int

	ctx    context.Context // ends with close: stops the pumps
	cancel context.CancelFunc
	wg     sync.WaitGroup // the pumps
	tabs   *fanout.Fanout[tabMsg]

	listenMu sync.Mutex // orders listen changes and their SetStream calls

	mu      sync.Mutex
	mons    map[string]*monEntry // by device id
	order   []string             // device ids in the order of l.Monitors
	clients map[string]*client   // by tab id
	// onStatus, when set, sees every status of the monitors (called with
	// mu held: it must not block). The monitor's host's night alarm.
	onStatus func(listener.StatusEvent)
	holds    int // listens held by tabs, all monitors
	closed   bool
}

// sessionLink is what the pool calls on one monitor's session: a
// listener.Session and the pool's subscription to it (liveLink), or a
// fake in tests. The pool never calls it with mu held.
type sessionLink interface {
	Next(ctx context.Context) (listener.Event, error) // the subscription's next event
	SetStream(listener.StreamMode)
	Snapshot() listener.Snapshot
	Ended() bool // the session has ended (Done is closed)
	Err() error
	Close() // ends the subscription and the session, and waits
}

// liveLink is a listener.Session with the pool's subscription to it.
type liveLink struct {
	sess *listener.Session
	sub  *listener.Subscription
}

func (l liveLink) Next(ctx context.Context) (listener.Event, error) { return l.sub.Next(ctx) }
func (l liveLink) SetStream(m listener.StreamMode)                  { l.sess.SetStream(m) }
func (l liveLink) Snapshot() listener.Snapshot                      { return l.sess.Snapshot() }
func (l liveLink) Err() error                                       { return l.sess.Err() }

func (l liveLink) Ended() bool {
	select {
	case <-l.sess.Done():
		return true
	default:
		return false
	}
}

func (l liveLink) Close() {
	l.sub.Close()
	l.sess.Close()
}

// monEntry is one monitor: its session, the pool's view of it (built only
// from the session's events, so a snapshot never runs ahead of the
// events that follow it) and its listen counts. Its fields but mon,
// link and sess are guarded by the pool's mu.
type monEntry struct {
	mon  listener.PairedMonitor
	link sessionLink       // what the pool calls; nil in tests of the views
	sess *listener.Session // handed to the handlers; nil with a fake link

	audio, video int // listens held (tabs and audio streams)

	presence listener.Presence // the session's, as its events said
	ended    bool              // the session has ended (its subscription said so)

	view       monitorView // Presence is filled by pagePresence
	lastStatus time.Time
}

func newSessionPool(l *listener.Listener, log *slog.Logger, sopt listener.SessionOptions, maxListens int) *sessionPool {
	ctx, cancel := context.WithCancel(context.Background())
	sp := &sessionPool{log: log, maxListens: maxListens, ctx: ctx, cancel: cancel, tabs: fanout.New(droppable),
		mons: map[string]*monEntry{}, clients: map[string]*client{}}
	if l != nil {
		sp.list = l.Monitors
		sp.start = func(m listener.PairedMonitor) (sessionLink, *listener.Session) {
			opt := sopt
			opt.Stream = listener.StreamOff
			sess := l.Start(m, opt)
			return liveLink{sess: sess, sub: sess.Subscribe(listener.SubscribeOptions{})}, sess
		}
	}
	return sp
}

// load starts a session for every paired monitor.
func (sp *sessionPool) load() error {
	ms, err := sp.list()
	if err != nil {
		return err
	}
	for _, m := range ms {
		sp.add(m)
	}
	return nil
}

// add starts a session for m unless one runs; a new pairing with a
// monitor whose session ended (its identity changed, say) replaces it.
func (sp *sessionPool) add(m listener.PairedMonitor) {
	sp.mu.Lock()
	old, closed := sp.mons[m.DeviceID], sp.closed
	sp.mu.Unlock()
	if closed || old != nil && !old.link.Ended() {
		return
	}
	link, sess := sp.start(m)
	e := &monEntry{mon: m, link: link, sess: sess, presence: listener.Connecting} // as a session starts
	e.view = monitorView{ID: m.DeviceID, Name: m.Name, Address: m.Address, Stream: "off", Noises: []time.Time{}}
	live := sp.readLive()
	sp.mu.Lock()
	if sp.closed || sp.mons[m.DeviceID] != old { // closed, or another add or a remove came first
		sp.mu.Unlock()
		link.Close()
		return
	}
	if old == nil {
		sp.order = append(sp.order, m.DeviceID)
	} else {
		e.audio, e.video = old.audio, old.video // the listens held on the monitor carry over
	}
	sp.mons[m.DeviceID] = e
	sp.wg.Go(func() { sp.pump(e) })
	sp.broadcastLocked(sp.snapshotLocked(live))
	listening := streamMode(e) != listener.StreamOff
	sp.mu.Unlock()
	if old != nil {
		old.link.Close()
	}
	if listening {
		sp.listenMu.Lock()
		sp.tellStreams(e)
		sp.listenMu.Unlock()
	}
}

// remove stops m's session (after Forget).
func (sp *sessionPool) remove(id string) {
	live := sp.readLive()
	sp.mu.Lock()
	e, ok := sp.mons[id]
	if !ok {
		sp.mu.Unlock()
		return
	}
	delete(sp.mons, id)
	for i, x := range sp.order {
		if x == id {
			sp.order = append(sp.order[:i], sp.order[i+1:]...)
			break
		}
	}
	for _, c := range sp.clients {
		if hd, ok := c.holds[id]; ok {
			hd.cancel()
			delete(c.holds, id)
			sp.holds--
		}
		if stop, ok := c.talks[id]; ok {
			stop()
			delete(c.talks, id)
		}
	}
	sp.broadcastLocked(sp.snapshotLocked(live))
	sp.mu.Unlock()
	e.link.Close() // its pump sees the subscription end and returns
}

// close stops every session and pump and ends every tab's stream.
func (sp *sessionPool) close() {
	sp.mu.Lock()
	if sp.closed {
		sp.mu.Unlock()
		return
	}
	sp.closed = true
	sp.cancel()
	entries := make([]*monEntry, 0, len(sp.mons))
	for _, e := range sp.mons {
		entries = append(entries, e)
	}
	for _, c := range sp.clients {
		for _, hd := range c.holds {
			hd.cancel()
		}
		for _, stop := range c.talks {
			stop()
		}
	}
	sp.tabs.Close(nil) // every tab's stream ends once it has read what is queued
	sp.mu.Unlock()
	sp.wg.Wait()
	for _, e := range entries {
		e.link.Close()
	}
}

// session returns the session of monitor id.
func (sp *sessionPool) session(id string) (*listener.Session, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e, ok := sp.mons[id]
	if !ok {
		return nil, errUnknownMonitor
	}
	if l, ok := e.link.(*lazyLink); ok {
		if s := l.current(); s != nil {
			return s, nil
		}
		return nil, errTabGone // no page open: nobody follows the monitor
	}
	return e.sess, nil
}

// pairing returns monitor id's pairing view, or nil before any.
func (sp *sessionPool) pairing(id string) *pairingView {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if e, ok := sp.mons[id]; ok && e.view.Pairing != nil {
		p := *e.view.Pairing
		return &p
	}
	return nil
}

// pump forwards one session's events to the tabs until the pool closes or
// the session ends.
func (sp *sessionPool) pump(e *monEntry) {
	for {
		ev, err := e.link.Next(sp.ctx)
		if err != nil {
			if errors.Is(err, listener.ErrSessionClosed) {
				sp.sessionEnded(e)
			}
			return
		}
		sp.onEvent(e, ev)
	}
}

func (sp *sessionPool) sessionEnded(e *monEntry) {
	err := e.link.Err()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.mons[e.mon.DeviceID] != e || sp.closed {
		return
	}
	e.ended = true
	e.view.At = time.Now()
	if err != nil {
		p := problemFor(err)
		e.view.Error = &p
	}
	sp.broadcastLocked(presenceMsg(e))
}

// liveStats are a session's live round-trip time and last-seen time,
// read from it before the pool takes its lock.
type liveStats struct {
	rtt      time.Duration
	lastSeen time.Time
}

// readLiveOf reads one session's live stats (none for a nil link).
func readLiveOf(l sessionLink) (liveStats, bool) {
	if l == nil { // tests of the views alone
		return liveStats{}, false
	}
	snap := l.Snapshot()
	return liveStats{rtt: snap.RTT, lastSeen: snap.LastSeen}, true
}

// readLive reads every session's live stats, with mu let go while it
// asks them.
func (sp *sessionPool) readLive() map[*monEntry]liveStats {
	sp.mu.Lock()
	entries := make([]*monEntry, 0, len(sp.mons))
	for _, e := range sp.mons {
		entries = append(entries, e)
	}
	sp.mu.Unlock()
	live := make(map[*monEntry]liveStats, len(entries))
	for _, e := range entries {
		if ls, ok := readLiveOf(e.link); ok {
			live[e] = ls
		}
	}
	return live
}

// entry reports whether monitor id is in the pool.
func (sp *sessionPool) entry(id string) (*monEntry, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e, ok := sp.mons[id]
	if !ok {
		return nil, errUnknownMonitor
	}
	return e, nil
}

// inject shows the pages an event about monitor id that comes from this
// process rather than its session (the monitor's host's night alarm).
func (sp *sessionPool) inject(id string, ev listener.Event) {
	e, err := sp.entry(id)
	if err != nil {
		return
	}
	sp.onEvent(e, ev)
}
