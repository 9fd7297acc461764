package listener

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/media/fanout"
	"github.com/cradle-monitor/cradle/media/play"
)

// Event is what a Subscription delivers: one of PresenceEvent,
// StatusEvent, StreamEvent, MediaEvent, PCMEvent, AlarmEvent, ChimeEvent,
// PairingEvent, DeviceEvent, SoundEvent and TalkEvent.
type Event interface{ isEvent() }

// PresenceEvent: the monitor came online or went offline (heartbeat).
type PresenceEvent struct{ Change }

// StatusEvent: the monitor's periodic status (sound level, noise,
// faults). It arrives while the monitor is online, streaming or not.
type StatusEvent struct {
	Monitor PairedMonitor
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
	Monitor PairedMonitor
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
	Monitor PairedMonitor
	State   alarm.State
}

// ChimeEvent: the monitor heard the baby (a noise event began).
type ChimeEvent struct {
	Monitor PairedMonitor
	At      time.Time
}

// DeviceEvent: a phone was paired with the monitor on its page
// (device_added). A parent must be able to notice one they do not know.
type DeviceEvent struct {
	Monitor  PairedMonitor
	ID       string
	Name     string
	PairedAt time.Time
}

func (DeviceEvent) isEvent()   {}
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
// events in order. It never slows the session: it is a fanout
// subscription, and a subscriber that does not keep up loses its oldest
// media and status events, never a presence, stream, alarm, chime or
// pairing event (unless its queue holds nothing else).
type Subscription struct {
	s    *Session
	opt  SubscribeOptions
	fs   *fanout.Subscription[Event]
	once sync.Once
}

// droppable reports whether ev may be dropped for a slow subscriber: the
// session fan-out's overflow rule.
func droppable(ev Event) bool {
	switch ev.(type) {
	case MediaEvent, PCMEvent, StatusEvent:
		return true
	}
	return false
}

// wants reports whether a subscriber with these options receives ev.
func (opt SubscribeOptions) wants(ev Event) bool {
	switch ev := ev.(type) {
	case MediaEvent:
		return ev.Video && opt.Video || !ev.Video && opt.Audio
	case PCMEvent:
		return opt.PCM
	}
	return true
}

// Next returns the next event, waiting for one until ctx ends. After the
// session ends (or Close), it returns the events still queued, then
// ErrSessionClosed.
func (sub *Subscription) Next(ctx context.Context) (Event, error) {
	ev, err := sub.fs.Next(ctx)
	if errors.Is(err, fanout.ErrClosed) {
		return nil, ErrSessionClosed
	}
	return ev, err
}

// Dropped counts the events lost because the subscriber fell behind.
func (sub *Subscription) Dropped() uint64 { return sub.fs.Dropped() }

// Close ends the subscription (idempotent); Next then drains and returns
// ErrSessionClosed.
func (sub *Subscription) Close() {
	sub.once.Do(func() {
		if sub.opt.PCM {
			sub.s.pcmSubs.Add(-1)
		}
		sub.fs.Close()
	})
}
