package page

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/cradle-monitor/cradle/media/fanout"
)

// clientQueue bounds the events waiting for one event stream. A tab that
// falls further behind loses its oldest status events (package fanout's
// rule, with droppable); every other event is kept.
const clientQueue = 256

// tabMsg is one encoded event on its way to the tabs.
type tabMsg struct {
	data      []byte
	droppable bool // a status event: the next one says the same, newer
}

// droppable is the tabs' overflow rule: only status events (sound level,
// superseded by the next) may be dropped for a slow tab; presence, alarm,
// noise, chime, stream, listen and pairing changes never are (unless the
// tab has stopped reading altogether and its whole queue is such changes).
func droppable(m tabMsg) bool { return m.droppable }

// client is one tab: its event stream and the listens it holds.
type client struct {
	id    string
	sub   *fanout.Subscription[tabMsg]  // ends when the tab leaves or the pool closes
	holds map[string]*hold              // by device id
	talks map[string]context.CancelFunc // the tab's talk, by device id (talk.go)
}

// addClient registers a tab; its first events are hello and a snapshot.
func (sp *sessionPool) addClient(secure bool) (*client, error) {
	var b [16]byte
	rand.Read(b[:])
	c := &client{id: hex.EncodeToString(b[:]), holds: map[string]*hold{}, talks: map[string]context.CancelFunc{}}
	live := sp.readLive()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return nil, errTabGone
	}
	sp.clients[c.id] = c
	var first []tabMsg
	for _, ev := range []event{{Type: "hello", Tab: c.id, Secure: secure}, sp.snapshotLocked(live)} {
		if m, ok := sp.encode(ev); ok {
			first = append(first, m)
		}
	}
	c.sub = sp.tabs.Subscribe(clientQueue, first...) // under mu: nothing is broadcast between the snapshot and the subscription
	sp.demandLocked(1)
	return c, nil
}

// demandLocked tells the monitor's host's card sessions (lazyLink) that a
// page opened or left. Called with mu held: lazyLink never calls back
// into the pool, and starting a session (listener.StartSession) only
// starts its goroutines, it waits for nothing; stopping one happens on
// the linger's timer, without the pool's lock.
func (sp *sessionPool) demandLocked(delta int) {
	for _, e := range sp.mons {
		if l, ok := e.link.(*lazyLink); ok {
			l.demandChanged(delta)
		}
	}
}

// removeClient forgets a tab and releases every listen it held.
func (sp *sessionPool) removeClient(c *client) {
	sp.listenMu.Lock()
	defer sp.listenMu.Unlock()
	c.sub.Close()
	sp.mu.Lock()
	if _, ok := sp.clients[c.id]; ok {
		sp.demandLocked(-1)
	}
	delete(sp.clients, c.id)
	for _, stop := range c.talks {
		stop()
	}
	clear(c.talks)
	var changed []*monEntry
	for id := range c.holds {
		if e := sp.releaseLocked(c, id); e != nil {
			changed = append(changed, e)
		}
	}
	sp.mu.Unlock()
	sp.tellStreams(changed...)
}

// broadcastLocked hands ev to every tab. Called with mu held, so the
// tabs get the events in the order the pool's view changed.
func (sp *sessionPool) broadcastLocked(ev event) {
	if m, ok := sp.encode(ev); ok {
		sp.tabs.Publish(m)
	}
}

func (sp *sessionPool) encode(ev event) (tabMsg, bool) {
	b, err := json.Marshal(ev)
	if err != nil {
		sp.log.Error("event not encoded", "err", err)
		return tabMsg{}, false
	}
	return tabMsg{data: b, droppable: ev.Type == "status"}, true
}

// notify tells every tab of ev (a change the pool does not follow itself,
// such as the monitor's list of phones).
func (sp *sessionPool) notify(ev event) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.closed {
		sp.broadcastLocked(ev)
	}
}
