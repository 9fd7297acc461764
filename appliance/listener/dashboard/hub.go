package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/media/fanout"
)

// statusInterval throttles status events to at most 5 a second per
// monitor (a noise change always goes through).
const statusInterval = 200 * time.Millisecond

// maxNoises is how many recent noise events a card keeps.
const maxNoises = 10

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

// Errors of the hub, mapped to problems by the handlers.
var (
	errUnknownMonitor = errors.New("dashboard: unknown monitor")
	errTabGone        = errors.New("dashboard: no such tab")
	errTooMany        = errors.New("dashboard: too many listens")
	errNotListening   = errors.New("dashboard: the tab does not listen to that monitor")
)

// hub keeps one session per paired monitor, shared by every tab, and
// fans their events out to the tabs' event streams. It owns the listen
// reference count: a session streams while some tab or audio stream
// holds a listen on it.
//
// Locks: mu guards the hub's state and is never held while the hub calls
// into a session (sessionLink): a method copies what it needs under mu,
// lets go, then calls. listenMu orders the listen changes: a change takes
// it, changes the counts under mu, lets mu go and then tells the sessions
// their new stream mode, so the last change is the one a session keeps.
// Lock order: listenMu before mu.
type hub struct {
	log        *slog.Logger
	list       func() ([]listener.Monitor, error) // the paired monitors
	start      func(listener.Monitor) (sessionLink, *listener.Session)
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
	holds   int                  // listens held by tabs, all monitors
	closed  bool
}

// sessionLink is what the hub calls on one monitor's session: a
// listener.Session and the hub's subscription to it (liveLink), or a
// fake in tests. The hub never calls it with mu held.
type sessionLink interface {
	Next(ctx context.Context) (listener.Event, error) // the subscription's next event
	SetStream(listener.StreamMode)
	Snapshot() listener.Snapshot
	Ended() bool // the session has ended (Done is closed)
	Err() error
	Close() // ends the subscription and the session, and waits
}

// liveLink is a listener.Session with the hub's subscription to it.
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

// monEntry is one monitor: its session, the hub's view of it (built only
// from the session's events, so a snapshot never runs ahead of the
// events that follow it) and its listen counts. Its fields but link,
// sess and done are guarded by the hub's mu.
type monEntry struct {
	mon  listener.Monitor
	link sessionLink       // what the hub calls; nil in tests of the views
	sess *listener.Session // handed to the handlers; nil with a fake link
	done chan struct{}     // the pump ended

	audio, video int // listens held (tabs and audio streams)

	presence listener.Presence // the session's, as its events said
	ended    bool              // the session has ended (its subscription said so)

	view       monitorView // Presence is filled by pagePresence
	lastStatus time.Time
}

// client is one tab: its event stream and the listens it holds.
type client struct {
	id    string
	sub   *fanout.Subscription[tabMsg] // ends when the tab leaves or the hub closes
	holds map[string]*hold             // by device id
}

// hold is a tab's listen on one monitor. ctx ends when the tab stops
// listening or leaves; the relay may tie the tab's peer connection to it.
type hold struct {
	video  bool
	ctx    context.Context
	cancel context.CancelFunc
}

func newHub(l *listener.Listener, log *slog.Logger, sopt listener.SessionOptions, maxListens int) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hub{log: log, maxListens: maxListens, ctx: ctx, cancel: cancel, tabs: fanout.New(droppable),
		mons: map[string]*monEntry{}, clients: map[string]*client{}}
	if l != nil {
		h.list = l.Monitors
		h.start = func(m listener.Monitor) (sessionLink, *listener.Session) {
			opt := sopt
			opt.Stream = listener.StreamOff
			sess := l.Start(m, opt)
			return liveLink{sess: sess, sub: sess.Subscribe(listener.SubscribeOptions{})}, sess
		}
	}
	return h
}

// load starts a session for every paired monitor.
func (h *hub) load() error {
	ms, err := h.list()
	if err != nil {
		return err
	}
	for _, m := range ms {
		h.add(m)
	}
	return nil
}

// add starts a session for m unless one runs; a new pairing with a
// monitor whose session ended (its identity changed, say) replaces it.
func (h *hub) add(m listener.Monitor) {
	h.mu.Lock()
	old, closed := h.mons[m.DeviceID], h.closed
	h.mu.Unlock()
	if closed || old != nil && !old.link.Ended() {
		return
	}
	link, sess := h.start(m)
	e := &monEntry{mon: m, link: link, sess: sess, done: make(chan struct{}), presence: listener.Connecting} // as a session starts
	e.view = monitorView{ID: m.DeviceID, Name: m.Name, Address: m.Address, Stream: "off", Noises: []time.Time{}}
	live := h.readLive()
	h.mu.Lock()
	if h.closed || h.mons[m.DeviceID] != old { // closed, or another add or a remove came first
		h.mu.Unlock()
		link.Close()
		return
	}
	if old == nil {
		h.order = append(h.order, m.DeviceID)
	}
	h.mons[m.DeviceID] = e
	h.wg.Go(func() { h.pump(e) })
	h.broadcastLocked(h.snapshotLocked(live))
	h.mu.Unlock()
	if old != nil {
		old.link.Close()
	}
}

// remove stops m's session (after Forget).
func (h *hub) remove(id string) {
	live := h.readLive()
	h.mu.Lock()
	e, ok := h.mons[id]
	if !ok {
		h.mu.Unlock()
		return
	}
	delete(h.mons, id)
	for i, x := range h.order {
		if x == id {
			h.order = append(h.order[:i], h.order[i+1:]...)
			break
		}
	}
	for _, c := range h.clients {
		if hd, ok := c.holds[id]; ok {
			hd.cancel()
			delete(c.holds, id)
			h.holds--
		}
	}
	h.broadcastLocked(h.snapshotLocked(live))
	h.mu.Unlock()
	e.link.Close() // its pump sees the subscription end and returns
}

// close stops every session and pump and ends every tab's stream.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.cancel()
	entries := make([]*monEntry, 0, len(h.mons))
	for _, e := range h.mons {
		entries = append(entries, e)
	}
	for _, c := range h.clients {
		for _, hd := range c.holds {
			hd.cancel()
		}
	}
	h.tabs.Close(nil) // every tab's stream ends once it has read what is queued
	h.mu.Unlock()
	h.wg.Wait()
	for _, e := range entries {
		e.link.Close()
	}
}

// session returns the session of monitor id.
func (h *hub) session(id string) (*listener.Session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.mons[id]
	if !ok {
		return nil, errUnknownMonitor
	}
	return e.sess, nil
}

// pairing returns monitor id's pairing view, or nil before any.
func (h *hub) pairing(id string) *pairingView {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.mons[id]; ok && e.view.Pairing != nil {
		p := *e.view.Pairing
		return &p
	}
	return nil
}

// pump forwards one session's events to the tabs until the hub closes or
// the session ends.
func (h *hub) pump(e *monEntry) {
	defer close(e.done)
	for {
		ev, err := e.link.Next(h.ctx)
		if err != nil {
			if errors.Is(err, listener.ErrSessionClosed) {
				h.sessionEnded(e)
			}
			return
		}
		h.onEvent(e, ev)
	}
}

func (h *hub) sessionEnded(e *monEntry) {
	err := e.link.Err()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mons[e.mon.DeviceID] != e || h.closed {
		return
	}
	e.ended = true
	e.view.At = time.Now()
	if err != nil {
		p := problemFor(err)
		e.view.Error = &p
	}
	h.broadcastLocked(presenceMsg(e))
}

// liveStats are a session's live round-trip time and last-seen time,
// read from it before the hub takes its lock.
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
func (h *hub) readLive() map[*monEntry]liveStats {
	h.mu.Lock()
	entries := make([]*monEntry, 0, len(h.mons))
	for _, e := range h.mons {
		entries = append(entries, e)
	}
	h.mu.Unlock()
	live := make(map[*monEntry]liveStats, len(entries))
	for _, e := range entries {
		if ls, ok := readLiveOf(e.link); ok {
			live[e] = ls
		}
	}
	return live
}

func (h *hub) onEvent(e *monEntry, ev listener.Event) {
	var live liveStats
	var haveLive bool
	switch ev.(type) {
	case listener.PresenceEvent, listener.StatusEvent:
		live, haveLive = readLiveOf(e.link)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mons[e.mon.DeviceID] != e {
		return
	}
	v := &e.view
	switch ev := ev.(type) {
	case listener.PresenceEvent:
		e.presence, v.At, v.Address = ev.Presence, ev.At, ev.Address
		v.Error = nil
		if ev.Err != nil && ev.Presence != listener.Online {
			p := problemFor(ev.Err)
			v.Error = &p
		}
		fillLive(e, live, haveLive)
		h.broadcastLocked(presenceMsg(e))
	case listener.StatusEvent:
		st := statusFrom(ev)
		rising := st.Noise && (v.Status == nil || !v.Status.Noise)
		changed := v.Status == nil || v.Status.Noise != st.Noise
		v.Status = &st
		if rising {
			v.Noises = append(v.Noises, ev.At)
			if len(v.Noises) > maxNoises {
				v.Noises = v.Noises[len(v.Noises)-maxNoises:]
			}
			h.broadcastLocked(event{Type: "noise", Monitor: e.mon.DeviceID, At: &ev.At})
		}
		if !changed && ev.At.Sub(e.lastStatus) < statusInterval {
			return
		}
		e.lastStatus = ev.At
		fillLive(e, live, haveLive)
		h.broadcastLocked(event{Type: "status", Monitor: e.mon.DeviceID, Status: &st, RTTMs: v.RTTMs, LastSeen: v.LastSeen})
	case listener.AlarmEvent:
		v.Alarm = alarmFrom(ev.State)
		h.broadcastLocked(event{Type: "alarm", Monitor: e.mon.DeviceID, Alarm: &v.Alarm})
	case listener.ChimeEvent:
		h.broadcastLocked(event{Type: "chime", Monitor: e.mon.DeviceID, At: &ev.At})
	case listener.StreamEvent:
		v.StreamState = ev.State.String()
		msg := event{Type: "stream", Monitor: e.mon.DeviceID, State: v.StreamState, Kind: ev.Kind}
		if ev.Err != nil {
			p := problemFor(ev.Err)
			msg.Error = &p
		}
		h.broadcastLocked(msg)
	case listener.PairingEvent:
		pv := pairingFrom(ev.State, ev.At, v.Pairing)
		v.Pairing = &pv
		h.broadcastLocked(event{Type: "pairing", Monitor: e.mon.DeviceID, Pairing: pv.at(time.Now())})
	}
}

// fillLive copies the live RTT and last-seen time, read before the lock,
// into the view.
func fillLive(e *monEntry, live liveStats, ok bool) {
	if !ok {
		return
	}
	e.view.RTTMs = float64(live.rtt.Microseconds()) / 1000
	if !live.lastSeen.IsZero() {
		ls := live.lastSeen
		e.view.LastSeen = &ls
	}
}

// pagePresence is the one place the page's presence string comes from:
// the session's presence (listener.Presence, from the heartbeat), and
// offline once the session has ended. The hub keeps no presence states
// of its own.
func pagePresence(p listener.Presence, ended bool) string {
	if ended {
		return listener.Offline.String()
	}
	return p.String()
}

func presenceMsg(e *monEntry) event {
	v := e.view
	return event{Type: "presence", Monitor: e.mon.DeviceID, Presence: pagePresence(e.presence, e.ended), At: &v.At, Address: v.Address, RTTMs: v.RTTMs, LastSeen: v.LastSeen, Error: v.Error}
}

// snapshotLocked describes every monitor, with the live stats read by
// readLive (an entry added since keeps the stats it has).
func (h *hub) snapshotLocked(live map[*monEntry]liveStats) event {
	views := []monitorView{}
	for _, id := range h.order {
		e := h.mons[id]
		ls, ok := live[e]
		fillLive(e, ls, ok)
		v := e.view
		v.Presence = pagePresence(e.presence, e.ended)
		v.Stream = streamMode(e).String()
		v.Noises = append([]time.Time{}, v.Noises...)
		if v.Pairing != nil {
			v.Pairing = v.Pairing.at(time.Now())
		}
		views = append(views, v)
	}
	return event{Type: "snapshot", Monitors: views}
}

// addClient registers a tab; its first events are hello and a snapshot.
func (h *hub) addClient(secure bool) (*client, error) {
	var b [16]byte
	rand.Read(b[:])
	c := &client{id: hex.EncodeToString(b[:]), holds: map[string]*hold{}}
	live := h.readLive()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errTabGone
	}
	h.clients[c.id] = c
	var first []tabMsg
	for _, ev := range []event{{Type: "hello", Tab: c.id, Secure: secure}, h.snapshotLocked(live)} {
		if m, ok := h.encode(ev); ok {
			first = append(first, m)
		}
	}
	c.sub = h.tabs.Subscribe(clientQueue, first...) // under mu: nothing is broadcast between the snapshot and the subscription
	return c, nil
}

// removeClient forgets a tab and releases every listen it held.
func (h *hub) removeClient(c *client) {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	c.sub.Close()
	h.mu.Lock()
	delete(h.clients, c.id)
	var changed []*monEntry
	for id := range c.holds {
		if e := h.releaseLocked(c, id); e != nil {
			changed = append(changed, e)
		}
	}
	h.mu.Unlock()
	h.tellStreams(changed...)
}

// broadcastLocked hands ev to every tab. Called with mu held, so the
// tabs get the events in the order the hub's view changed.
func (h *hub) broadcastLocked(ev event) {
	if m, ok := h.encode(ev); ok {
		h.tabs.Publish(m)
	}
}

func (h *hub) encode(ev event) (tabMsg, bool) {
	b, err := json.Marshal(ev)
	if err != nil {
		h.log.Error("event not encoded", "err", err)
		return tabMsg{}, false
	}
	return tabMsg{data: b, droppable: ev.Type == "status"}, true
}

// streamMode is what a monitor's listen counts ask of its session.
func streamMode(e *monEntry) listener.StreamMode {
	switch {
	case e.video > 0:
		return listener.StreamAudioVideo
	case e.audio > 0:
		return listener.StreamAudio
	}
	return listener.StreamOff
}

// adjustLocked changes a monitor's listen counts and tells the tabs; the
// caller holds listenMu and, after letting mu go, tells the session
// (tellStreams).
func (h *hub) adjustLocked(e *monEntry, audio, video int) {
	e.audio += audio
	e.video += video
	h.broadcastLocked(event{Type: "listen", Monitor: e.mon.DeviceID, Stream: streamMode(e).String()})
}

// tellStreams hands each entry's session the stream mode its listen
// counts now ask for. The caller holds listenMu, not mu.
func (h *hub) tellStreams(entries ...*monEntry) {
	for _, e := range entries {
		h.mu.Lock()
		mode := streamMode(e)
		h.mu.Unlock()
		e.link.SetStream(mode)
	}
}

// listen holds a listen on monitor id for as long as the caller needs
// audio (an audio stream request); the caller must call unlisten.
func (h *hub) listen(id string) error {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	h.mu.Lock()
	e, ok := h.mons[id]
	if !ok {
		h.mu.Unlock()
		return errUnknownMonitor
	}
	h.adjustLocked(e, 1, 0)
	h.mu.Unlock()
	h.tellStreams(e)
	return nil
}

// unlisten releases a listen taken with listen.
func (h *hub) unlisten(id string) {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	h.mu.Lock()
	e, ok := h.mons[id]
	if !ok || e.audio == 0 {
		h.mu.Unlock()
		return
	}
	h.adjustLocked(e, -1, 0)
	h.mu.Unlock()
	h.tellStreams(e)
}

// tabListen makes tab listen to monitor id (with video or not); listening
// again changes the kind. It returns the hold's context.
func (h *hub) tabListen(tab, id string, video bool) (context.Context, error) {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	h.mu.Lock()
	ctx, changed, err := h.tabListenLocked(tab, id, video)
	h.mu.Unlock()
	h.tellStreams(changed...)
	return ctx, err
}

// tabListenLocked is tabListen's change under mu; it returns the entries
// whose sessions must be told.
func (h *hub) tabListenLocked(tab, id string, video bool) (context.Context, []*monEntry, error) {
	c, ok := h.clients[tab]
	if !ok {
		return nil, nil, errTabGone
	}
	e, ok := h.mons[id]
	if !ok {
		return nil, nil, errUnknownMonitor
	}
	var changed []*monEntry
	if old, ok := c.holds[id]; ok {
		if old.video == video {
			return old.ctx, nil, nil
		}
		changed = append(changed, h.releaseLocked(c, id))
	}
	if h.holds >= h.maxListens {
		return nil, changed, errTooMany
	}
	ctx, cancel := context.WithCancel(h.ctx)
	c.holds[id] = &hold{video: video, ctx: ctx, cancel: cancel}
	h.holds++
	v := 0
	if video {
		v = 1
	}
	h.adjustLocked(e, 1, v)
	if len(changed) == 0 {
		changed = append(changed, e)
	}
	return ctx, changed, nil
}

// tabHold returns tab's listen on monitor id.
func (h *hub) tabHold(tab, id string) (*hold, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.clients[tab]
	if !ok {
		return nil, errTabGone
	}
	hd, ok := c.holds[id]
	if !ok {
		return nil, errNotListening
	}
	return hd, nil
}

// tabStop ends tab's listen on monitor id (a no-op if it holds none).
func (h *hub) tabStop(tab, id string) error {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	h.mu.Lock()
	c, ok := h.clients[tab]
	if !ok {
		h.mu.Unlock()
		return errTabGone
	}
	e := h.releaseLocked(c, id)
	h.mu.Unlock()
	if e != nil {
		h.tellStreams(e)
	}
	return nil
}

// releaseLocked ends tab c's hold on monitor id; it returns the entry
// whose session must be told, or nil.
func (h *hub) releaseLocked(c *client, id string) *monEntry {
	hd, ok := c.holds[id]
	if !ok {
		return nil
	}
	hd.cancel()
	delete(c.holds, id)
	h.holds--
	e, ok := h.mons[id]
	if !ok {
		return nil
	}
	v := 0
	if hd.video {
		v = -1
	}
	h.adjustLocked(e, -1, v)
	return e
}

// counts returns monitor id's listen counts (tests); with listenMu held,
// its session has been told of them.
func (h *hub) counts(id string) (audio, video int) {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.mons[id]; ok {
		return e.audio, e.video
	}
	return 0, 0
}

// monitorView is a card's state in a snapshot.
type monitorView struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Address     string       `json:"address"`
	Presence    string       `json:"presence"` // connecting, online, offline (heartbeat)
	At          time.Time    `json:"at"`       // of the presence
	LastSeen    *time.Time   `json:"last_seen,omitempty"`
	RTTMs       float64      `json:"rtt_ms"`
	Error       *Problem     `json:"error,omitempty"` // why it is offline
	Status      *statusView  `json:"status,omitempty"`
	Alarm       alarmView    `json:"alarm"`
	Stream      string       `json:"stream"`                 // off, audio, audio+video: what the listener streams
	StreamState string       `json:"stream_state,omitempty"` // starting, connected, interrupted, failed, stopped
	Noises      []time.Time  `json:"noises"`                 // recent noise events, oldest first
	Pairing     *pairingView `json:"pairing,omitempty"`      // the monitor's pairing window, once heard of
}

type statusView struct {
	RMSDBFS  float64   `json:"rms_dbfs"`
	PeakDBFS float64   `json:"peak_dbfs"`
	Noise    bool      `json:"noise"`
	Faults   []string  `json:"faults,omitempty"`
	At       time.Time `json:"at"`
}

type alarmView struct {
	Active       bool       `json:"active"`
	Reason       string     `json:"reason"` // none, microphone fault, audio lost, link lost
	Since        *time.Time `json:"since,omitempty"`
	Sounding     bool       `json:"sounding"`
	Acknowledged bool       `json:"acknowledged"`
}

func statusFrom(ev listener.StatusEvent) statusView {
	return statusView{RMSDBFS: ev.Status.RMSDBFS, PeakDBFS: ev.Status.PeakDBFS, Noise: ev.Status.Noise, Faults: ev.Status.Faults, At: ev.At}
}

func alarmFrom(st alarm.State) alarmView {
	v := alarmView{Active: st.Active, Reason: st.Reason.String(), Sounding: st.Sounding, Acknowledged: st.Acknowledged}
	if !st.Since.IsZero() {
		s := st.Since
		v.Since = &s
	}
	return v
}

// pairingView is the monitor's pairing window on a card. The wrong setup
// codes of a window stay in it after the window closes, until the next
// window opens (the monitor counts them per window): a parent who was
// not looking when a stranger guessed must still see it.
type pairingView struct {
	Open bool `json:"open"`
	// RemainingMillis is how long the window stays open, as of when the
	// message was sent (the page counts down from its own clock).
	RemainingMillis int64 `json:"remaining_ms,omitempty"`
	FailedAttempts  int   `json:"failed_attempts"`
	// LastFailure is when this listener heard of the latest wrong code.
	LastFailure *time.Time `json:"last_failure,omitempty"`
	// Closed says why the last window closed (control.PairingClosed*).
	Closed string    `json:"closed,omitempty"`
	At     time.Time `json:"at"` // when this listener heard of it

	until time.Time // the window's end, on this listener's clock
}

// pairingFrom builds the view of a pairing state heard at at, given the
// view before it (nil at first).
func pairingFrom(st control.PairingState, at time.Time, prev *pairingView) pairingView {
	v := pairingView{Open: st.Open, FailedAttempts: st.FailedAttempts, Closed: st.Closed, At: at}
	if st.Open {
		v.until = at.Add(time.Duration(st.RemainingMillis) * time.Millisecond)
	}
	switch {
	case st.FailedAttempts == 0:
	case prev == nil || st.FailedAttempts > prev.FailedAttempts:
		t := at
		v.LastFailure = &t
	default:
		v.LastFailure = prev.LastFailure
	}
	return v
}

// at is a copy of the view with its remaining time as of now.
func (v *pairingView) at(now time.Time) *pairingView {
	c := *v
	c.RemainingMillis = 0
	if c.Open {
		c.RemainingMillis = max(c.until.Sub(now).Milliseconds(), 0)
	}
	return &c
}

// event is one message of the event stream; Type says which fields are set.
type event struct {
	Type     string        `json:"type"` // hello, snapshot, presence, status, noise, chime, alarm, stream, listen, pairing
	Tab      string        `json:"tab,omitempty"`
	Secure   bool          `json:"secure,omitempty"`
	Monitors []monitorView `json:"monitors,omitempty"`
	Monitor  string        `json:"monitor,omitempty"`
	Presence string        `json:"presence,omitempty"`
	At       *time.Time    `json:"at,omitempty"`
	Address  string        `json:"address,omitempty"`
	RTTMs    float64       `json:"rtt_ms,omitempty"`
	LastSeen *time.Time    `json:"last_seen,omitempty"`
	Error    *Problem      `json:"error,omitempty"`
	Status   *statusView   `json:"status,omitempty"`
	Alarm    *alarmView    `json:"alarm,omitempty"`
	State    string        `json:"state,omitempty"`
	Kind     string        `json:"kind,omitempty"`
	Stream   string        `json:"stream,omitempty"`
	Pairing  *pairingView  `json:"pairing,omitempty"`
}
