package listener

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/media/play"
)

// Event is what a Subscription delivers: one of PresenceEvent,
// StatusEvent, StreamEvent, MediaEvent, PCMEvent, AlarmEvent, ChimeEvent
// and PairingEvent.
type Event interface{ isEvent() }

// PresenceEvent: the monitor came online or went offline (heartbeat).
type PresenceEvent struct{ Change }

// StatusEvent: the monitor's periodic status (sound level, noise,
// faults). It arrives while the monitor is online, streaming or not.
type StatusEvent struct {
	Monitor Monitor
	Status  control.Status
	At      time.Time
}

// StreamState is where a session's WebRTC stream is.
type StreamState int

// Stream states, in a stream's order of life.
const (
	StreamStarting    StreamState = iota + 1 // stream requested, offer sent
	StreamConnected                          // WebRTC connected: media flows
	StreamInterrupted                        // the stream broke; it is restarted
	StreamFailed                             // the monitor refused or did not answer; retried (Err says why)
	StreamStopped                            // the parent stopped listening, or the session ended
)

func (s StreamState) String() string {
	switch s {
	case StreamStarting:
		return "starting"
	case StreamConnected:
		return "connected"
	case StreamInterrupted:
		return "interrupted"
	case StreamFailed:
		return "failed"
	case StreamStopped:
		return "stopped"
	}
	return "stream?"
}

// StreamEvent: the stream changed state.
type StreamEvent struct {
	Monitor Monitor
	State   StreamState
	Kind    string // control.StreamAudio or control.StreamAudioVideo
	Err     error  // with StreamFailed
	At      time.Time
}

// MediaEvent is one RTP packet of the stream, as received (audio with
// SubscribeOptions.Audio, video with .Video). Packet is shared between
// subscribers: read it, never change it.
type MediaEvent struct {
	Video   bool
	Mime    string // "audio/opus", "video/VP8"
	Packet  *rtp.Packet
	Arrived time.Time
	First   bool // the first audio packet of a stream
}

// PCMEvent is one decoded audio frame (48 kHz mono), with SubscribeOptions.PCM.
// Lost packets are concealed (Frame.Concealed).
type PCMEvent struct {
	Frame   play.Frame
	Arrived time.Time
}

// AlarmEvent: the alarm changed (raised, acknowledged, re-sounded,
// cleared). See package alarm for the rules.
type AlarmEvent struct {
	Monitor Monitor
	State   alarm.State
}

// ChimeEvent: the monitor heard the baby (a noise event began).
type ChimeEvent struct {
	Monitor Monitor
	At      time.Time
}

func (PresenceEvent) isEvent() {}
func (StatusEvent) isEvent()   {}
func (StreamEvent) isEvent()   {}
func (MediaEvent) isEvent()    {}
func (PCMEvent) isEvent()      {}
func (AlarmEvent) isEvent()    {}
func (ChimeEvent) isEvent()    {}

// ErrSessionClosed: the subscription's session ended (Session.Err says
// why) or the subscription was closed.
var ErrSessionClosed = errors.New("listener: session closed")

// SubscribeOptions choose what a subscription receives besides presence,
// status, stream, alarm and chime events, which every subscription gets.
type SubscribeOptions struct {
	Audio bool // encoded audio packets (MediaEvent)
	Video bool // encoded video packets (MediaEvent)
	PCM   bool // decoded audio (PCMEvent); the session decodes once for all
	// Queue bounds the events waiting for Next (default 512, 5 s of audio).
	// When full, the oldest media or status event is dropped (Dropped
	// counts them); presence, stream, alarm and chime events are kept
	// unless the queue holds nothing else (a subscriber that stopped
	// reading altogether), then the oldest of those goes.
	Queue int
}

// Subscription is one front end's view of a session. Next returns its
// events in order. It never slows the session: a subscriber that does
// not keep up loses its oldest media.
type Subscription struct {
	s   *Session
	opt SubscribeOptions

	mu      sync.Mutex
	q       []Event
	wake    chan struct{} // closed and replaced when an event arrives
	closed  bool
	dropped uint64
}

// droppable reports whether ev may be dropped for a slow subscriber.
func droppable(ev Event) bool {
	switch ev.(type) {
	case MediaEvent, PCMEvent, StatusEvent:
		return true
	}
	return false
}

// push queues ev; it never blocks.
func (sub *Subscription) push(ev Event) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return
	}
	if len(sub.q) >= sub.opt.Queue {
		i := 0
		for i < len(sub.q) && !droppable(sub.q[i]) {
			i++
		}
		if i == len(sub.q) {
			i = 0 // only control events: the queue is already far behind
		}
		sub.q = append(sub.q[:i], sub.q[i+1:]...)
		sub.dropped++
	}
	sub.q = append(sub.q, ev)
	close(sub.wake)
	sub.wake = make(chan struct{})
}

// Next returns the next event, waiting for one until ctx ends. After the
// session ends (or Close), it returns the events still queued, then
// ErrSessionClosed.
func (sub *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		sub.mu.Lock()
		if len(sub.q) > 0 {
			ev := sub.q[0]
			sub.q[0] = nil
			sub.q = sub.q[1:]
			sub.mu.Unlock()
			return ev, nil
		}
		if sub.closed {
			sub.mu.Unlock()
			return nil, ErrSessionClosed
		}
		wake := sub.wake
		sub.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Dropped counts the events lost because the subscriber fell behind.
func (sub *Subscription) Dropped() uint64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.dropped
}

// Close ends the subscription (idempotent); Next then drains and returns
// ErrSessionClosed.
func (sub *Subscription) Close() {
	sub.s.unsubscribe(sub)
	sub.end()
}

func (sub *Subscription) end() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.closed {
		sub.closed = true
		close(sub.wake)
	}
}
