package page

import (
	"context"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// hold is a tab's listen on one monitor. ctx ends when the tab stops
// listening or leaves; the relay may tie the tab's peer connection to it.
type hold struct {
	video  bool
	ctx    context.Context
	cancel context.CancelFunc
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
func (sp *sessionPool) adjustLocked(e *monEntry, audio, video int) {
	e.audio += audio
	e.video += video
	sp.broadcastLocked(event{Type: "listen", Monitor: e.mon.DeviceID, Stream: streamMode(e).String()})
}

// tellStreams hands each entry's session the stream mode its listen
// counts now ask for. The caller holds listenMu, not mu.
func (sp *sessionPool) tellStreams(entries ...*monEntry) {
	for _, e := range entries {
		sp.mu.Lock()
		mode := streamMode(e)
		sp.mu.Unlock()
		e.link.SetStream(mode)
	}
}

// listen holds a listen on monitor id for as long as the caller needs
// audio (an audio stream request); the caller must call unlisten.
func (sp *sessionPool) listen(id string) error {
	sp.listenMu.Lock()
	defer sp.listenMu.Unlock()
	sp.mu.Lock()
	e, ok := sp.mons[id]
	if !ok {
		sp.mu.Unlock()
		return errUnknownMonitor
	}
	sp.adjustLocked(e, 1, 0)
	sp.mu.Unlock()
	sp.tellStreams(e)
	return nil
}

// unlisten releases a listen taken with listen.
func (sp *sessionPool) unlisten(id string) {
	sp.listenMu.Lock()
	defer sp.listenMu.Unlock()
	sp.mu.Lock()
	e, ok := sp.mons[id]
	if !ok || e.audio == 0 {
		sp.mu.Unlock()
		return
	}
	sp.adjustLocked(e, -1, 0)
	sp.mu.Unlock()
	sp.tellStreams(e)
}

// tabListen makes tab listen to monitor id (with video or not); listening
// again changes the kind. It returns the hold's context.
func (sp *sessionPool) tabListen(tab, id string, video bool) (context.Context, error) {
	sp.listenMu.Lock()
	defer sp.listenMu.Unlock()
	sp.mu.Lock()
	ctx, changed, err := sp.tabListenLocked(tab, id, video)
	sp.mu.Unlock()
	sp.tellStreams(changed...)
	return ctx, err
}

// tabListenLocked is tabListen's change under mu; it returns the entries
// whose sessions must be told.
func (sp *sessionPool) tabListenLocked(tab, id string, video bool) (context.Context, []*monEntry, error) {
	c, ok := sp.clients[tab]
	if !ok {
		return nil, nil, errTabGone
	}
	e, ok := sp.mons[id]
	if !ok {
		return nil, nil, errUnknownMonitor
	}
	var changed []*monEntry
	if old, ok := c.holds[id]; ok {
		if old.video == video {
			return old.ctx, nil, nil
		}
		changed = append(changed, sp.releaseLocked(c, id))
	}
	if sp.holds >= sp.maxListens {
		return nil, changed, errTooMany
	}
	ctx, cancel := context.WithCancel(sp.ctx)
	c.holds[id] = &hold{video: video, ctx: ctx, cancel: cancel}
	sp.holds++
	v := 0
	if video {
		v = 1
	}
	sp.adjustLocked(e, 1, v)
	if len(changed) == 0 {
		changed = append(changed, e)
	}
	return ctx, changed, nil
}

// tabHold returns tab's listen on monitor id.
func (sp *sessionPool) tabHold(tab, id string) (*hold, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	c, ok := sp.clients[tab]
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
func (sp *sessionPool) tabStop(tab, id string) error {
	sp.listenMu.Lock()
	defer sp.listenMu.Unlock()
	sp.mu.Lock()
	c, ok := sp.clients[tab]
	if !ok {
		sp.mu.Unlock()
		return errTabGone
	}
	e := sp.releaseLocked(c, id)
	sp.mu.Unlock()
	if e != nil {
		sp.tellStreams(e)
	}
	return nil
}

// releaseLocked ends tab c's hold on monitor id; it returns the entry
// whose session must be told, or nil.
func (sp *sessionPool) releaseLocked(c *client, id string) *monEntry {
	hd, ok := c.holds[id]
	if !ok {
		return nil
	}
	hd.cancel()
	delete(c.holds, id)
	sp.holds--
	e, ok := sp.mons[id]
	if !ok {
		return nil
	}
	v := 0
	if hd.video {
		v = -1
	}
	sp.adjustLocked(e, -1, v)
	return e
}

// counts returns monitor id's listen counts (tests); with listenMu held,
// its session has been told of them.
func (sp *sessionPool) counts(id string) (audio, video int) {
	sp.listenMu.Lock()
	defer sp.listenMu.Unlock()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if e, ok := sp.mons[id]; ok {
		return e.audio, e.video
	}
	return 0, 0
}
