package listener

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/media"
)

// TalkEvent: push-to-talk changed on the monitor (someone started or
// stopped talking to the nursery), or the monitor told its state after
// hello_ack. State.You: the talk is this session's; State.Speaker false:
// the monitor has no speaker. Every subscription gets it.
type TalkEvent struct {
	Monitor PairedMonitor
	State   control.TalkState
	At      time.Time
}

func (TalkEvent) isEvent() {}

// TalkSource is the talker's microphone: Read returns the next samples
// (48 kHz mono int16, any number), waiting for them as a device does. An
// error ends the talk (io.EOF: the source ended). Read is called from one
// goroutine; it must return once the source is closed.
type TalkSource interface {
	Read() ([]int16, error)
}

// TalkFunc adapts a function to a TalkSource.
type TalkFunc func() ([]int16, error)

// Read implements TalkSource.
func (f TalkFunc) Read() ([]int16, error) { return f() }

// TalkOptions configure a Talk.
type TalkOptions struct {
	// Source is the microphone (required).
	Source TalkSource
	// OnSend, if set, is called with each 10 ms frame of samples as it
	// is written to the monitor (benchmarks).
	OnSend func(pcm []int16)
}

// ErrTalking: this session already talks (one Talk at a time).
var ErrTalking = errors.New("listener: this session is already talking to the monitor")

// Talk is one press of push-to-talk: the parent's voice sent to the
// monitor's speaker over a WebRTC session of its own (kind talk). While
// it runs, and for 700 ms after (the last words on their way back), the
// session's own nursery audio (PCMEvent) is muted, so that the parent
// does not hear their own voice come back (walkie-talkie).
type Talk struct {
	s      *Session
	id     string
	inbox  chan control.Message
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu  sync.Mutex
	err error
}

// Talk starts talking to the monitor: stream_start (kind talk), an offer
// carrying the source as an Opus track, and the monitor's answer. It
// returns once the monitor answered; the voice flows as soon as the peer
// connection is up, until Stop, the source's error, the monitor's
// stream_stop or the connection's end. A monitor that refuses answers a
// *control.Error: busy (someone else talks, named in its message),
// unavailable (no speaker), untrusted.
func (s *Session) Talk(ctx context.Context, opt TalkOptions) (*Talk, error) {
	if opt.Source == nil {
		return nil, errors.New("listener: Talk needs a source")
	}
	var idb [8]byte
	rand.Read(idb[:])
	t := &Talk{s: s, id: "talk-" + hex.EncodeToString(idb[:]), inbox: make(chan control.Message, 64), done: make(chan struct{})}
	s.mu.Lock()
	c := s.conn
	switch {
	case c == nil:
		s.mu.Unlock()
		return nil, ErrOffline
	case s.talk != nil:
		s.mu.Unlock()
		return nil, ErrTalking
	}
	s.talk = t
	s.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			t.unregister()
			close(t.done)
		}
	}()

	enc, err := media.NewOpusEncoder(media.Config{})
	if err != nil {
		return nil, fmt.Errorf("listener: talk: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "voice", "cradle-talk")
	if err != nil {
		enc.Close()
		return nil, err
	}
	eng, err := s.engine(c)
	if err != nil {
		enc.Close()
		return nil, engineError{err}
	}
	off := eng.NewOfferer()
	states := make(chan webrtc.PeerConnectionState, 16)
	off.OnState = func(st webrtc.PeerConnectionState) {
		select {
		case states <- st:
		default:
		}
	}
	off.OnCandidate = func(cand control.WebRTCICE) { _ = c.Send(context.Background(), cand) }
	fail := func(err error) (*Talk, error) {
		off.Close()
		enc.Close()
		return nil, err
	}
	if err := c.Send(ctx, control.StreamStart{Session: t.id, Kind: control.StreamTalk}); err != nil {
		return fail(err)
	}
	stop := func(reason string) {
		sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_ = c.Send(sctx, control.StreamStop{Session: t.id, Reason: reason})
		cancel()
	}
	offer, err := off.StartSend(t.id, track)
	if err != nil {
		stop("listener failed")
		return fail(err)
	}
	if err := c.Send(ctx, control.WebRTCOffer{Session: t.id, SDP: offer}); err != nil {
		return fail(err)
	}
	timer := time.NewTimer(s.opt.AnswerTimeout)
	defer timer.Stop()
	for answered := false; !answered; {
		select {
		case <-ctx.Done():
			stop("listener stopped")
			return fail(ctx.Err())
		case <-c.Done():
			return fail(ErrOffline)
		case <-timer.C:
			stop("no answer")
			return fail(fmt.Errorf("listener: the monitor did not answer the talk within %v", s.opt.AnswerTimeout))
		case m := <-t.inbox:
			switch m := m.(type) {
			case control.ErrorMsg:
				return fail(m.ToError())
			case control.StreamStop:
				return fail(errors.New("listener: the monitor ended the talk"))
			case control.WebRTCICE:
				_ = off.AddCandidate(m)
			case control.WebRTCAnswer:
				if err := off.SetAnswer(m.SDP); err != nil {
					stop("bad answer")
					return fail(err)
				}
				answered = true
			}
		}
	}
	ok = true
	rctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	connected := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { t.send(rctx, opt, enc, track, connected) })
	go func() {
		reason := t.run(rctx, c, off, states, connected)
		cancel()
		if reason != "" {
			stop(reason)
			// Let the monitor end the talk on stream_stop (a stop, in its
			// log) before the peer connection closes under it (which it
			// would record as closed): wait, bounded, for its side to go.
			wait := time.NewTimer(time.Second)
		waiting:
			for {
				select {
				case st := <-states:
					if st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateDisconnected {
						break waiting
					}
				case <-c.Done():
					break waiting
				case <-wait.C:
					break waiting
				}
			}
			wait.Stop()
		}
		off.Close()
		wg.Wait() // the source's Read returns once its owner closes it, or with the next samples
		enc.Close()
		t.unregister()
		close(t.done)
	}()
	return t, nil
}

// run follows the talk's signalling and state until it ends; the reason
// to send in stream_stop ("" when the monitor ended it).
func (t *Talk) run(ctx context.Context, c Conn, off interface {
	AddCandidate(control.WebRTCICE) error
}, states <-chan webrtc.PeerConnectionState, connected chan struct{}) string {
	isUp := false
	for {
		select {
		case <-ctx.Done():
			return "listener stopped talking"
		case <-c.Done():
			t.fail(ErrOffline)
			return ""
		case st := <-states:
			switch st {
			case webrtc.PeerConnectionStateConnected:
				if !isUp {
					isUp = true
					close(connected)
				}
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				t.fail(errors.New("listener: the talk's connection failed"))
				return "talk failed"
			}
		case m := <-t.inbox:
			switch m := m.(type) {
			case control.WebRTCICE:
				_ = off.AddCandidate(m)
			case control.StreamStop:
				return ""
			case control.ErrorMsg:
				if m.Ref == control.TypeStreamStart || m.Ref == control.TypeWebRTCOffer {
					t.fail(m.ToError())
					return "talk failed"
				}
				t.s.log.Debug("the monitor refused a talk message", "ref", m.Ref, "code", m.Code) // a candidate: the talk goes on
			}
		}
	}
}

// send reads the source, in 10 ms frames, and writes them to the track
// once the peer connection is up (pion drops samples written before).
func (t *Talk) send(ctx context.Context, opt TalkOptions, enc *media.OpusEncoder, track *webrtc.TrackLocalStaticSample, connected <-chan struct{}) {
	n := enc.FrameSamples()
	buf := make([]int16, 0, 4*n)
	up := false
	for ctx.Err() == nil {
		pcm, err := opt.Source.Read()
		if err != nil {
			t.fail(err)
			t.cancel()
			return
		}
		if !up {
			select {
			case <-connected:
				up = true
			default:
				continue // not connected yet: dropped
			}
		}
		buf = append(buf, pcm...)
		for len(buf) >= n {
			frame := buf[:n]
			pkt, err := enc.Encode(frame)
			if err == nil {
				_ = track.WriteSample(pmedia.Sample{Data: pkt, Duration: 10 * time.Millisecond})
				if opt.OnSend != nil {
					opt.OnSend(frame)
				}
			}
			buf = append(buf[:0], buf[n:]...)
		}
	}
}

func (t *Talk) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

func (t *Talk) unregister() {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if t.s.talk == t {
		t.s.talk = nil
		t.s.talkTail = time.Now().Add(talkMuteTail)
	}
}

// talkMuteTail is how long the nursery stays muted after a talk: the
// last words still on their way back from the nursery's microphone.
const talkMuteTail = 700 * time.Millisecond

// Stop ends the talk (stream_stop) and waits until it is over. Stopping
// twice is fine.
func (t *Talk) Stop() error {
	t.once.Do(func() {
		if t.cancel != nil {
			t.cancel()
		}
	})
	<-t.done
	return nil
}

// Done is closed once the talk is over.
func (t *Talk) Done() <-chan struct{} { return t.done }

// Err is why the talk ended on its own (nil after Stop, or while it
// runs): the source's error, the monitor's, or the connection's.
func (t *Talk) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if errors.Is(t.err, context.Canceled) {
		return nil
	}
	return t.err
}

// Session returns the talk's session id on the wire.
func (t *Talk) Session() string { return t.id }

// talkInbox routes a signalling message to the session's talk when it
// names the talk's session; false: it is the listening stream's.
func (s *Session) talkInbox(m control.Message) bool {
	var id string
	switch m := m.(type) {
	case control.WebRTCAnswer:
		id = m.Session
	case control.WebRTCICE:
		id = m.Session
	case control.StreamStop:
		id = m.Session
	case control.ErrorMsg:
		id = m.Session
	}
	s.mu.Lock()
	t := s.talk
	s.mu.Unlock()
	if t == nil || id == "" || id != t.id {
		return false
	}
	select {
	case t.inbox <- m:
	default: // a flood: the talk ends on its own state
	}
	return true
}

// talking reports whether the session's nursery audio is muted at now:
// it talks, or talked less than talkMuteTail ago. Called under mu.
func (s *Session) talking(now time.Time) bool {
	return s.talk != nil || now.Before(s.talkTail)
}
