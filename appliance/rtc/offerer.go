package rtc

import (
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// Offerer is the listener's side of one stream session: one peer
// connection with receive-only transceivers. Use a new Offerer for each
// session (and for each restart). Its methods are safe for concurrent use.
//
// Set the callbacks before Start. They are called from pion's goroutines
// (OnState and OnCandidate one call at a time), none after Close returned;
// they must not call Close synchronously (Close waits for them). Close the
// Offerer even when Start fails.
type Offerer struct {
	// OnCandidate receives local candidates that missed the offer, then
	// an end-of-candidates message (empty Candidate). Send each as a
	// WebRTCICE message. Nil drops them. They are held until SetAnswer
	// (and then delivered from within it), so that they cannot overtake
	// the offer on the way to the monitor.
	OnCandidate func(control.WebRTCICE)
	// OnTrack is called in its own goroutine for each remote track. It
	// should read the track (ReadRTP, or Record) until it returns an
	// error, which it does once the Offerer is closed; Close waits for it.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// OnState receives the connection state changes. On Failed or Closed
	// (the monitor ended the session), Close this Offerer and start a new
	// one if the stream should go on. Nothing is reported once Close began.
	OnState func(webrtc.PeerConnectionState)

	eng *Engine

	mu       sync.Mutex
	session  string
	pc       *webrtc.PeerConnection
	started  bool
	answered bool
	closed   bool
	pending  []control.WebRTCICE // remote candidates before the answer
	last     webrtc.PeerConnectionState
	wg       sync.WaitGroup // callbacks in flight

	cbMu sync.Mutex // serializes OnState calls

	candMu   sync.Mutex // serializes OnCandidate calls; guards the fields below
	sdpTaken bool       // the offer SDP was read: later candidates trickle
	trickle  bool       // the answer is applied: trickle right away
	held     []control.WebRTCICE
}

// NewOfferer returns an Offerer using the engine's settings. Offerers do
// not count against the engine's session limits.
func (e *Engine) NewOfferer() *Offerer { return &Offerer{eng: e} }

// Start creates the peer connection with a receive-only audio transceiver
// (and a receive-only video one if video) and returns the offer for
// session, carrying the host candidates gathered within GatherTimeout.
func (o *Offerer) Start(session string, video bool) (string, error) {
	return o.start(session, func(pc *webrtc.PeerConnection) error {
		recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
		kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}
		if video {
			kinds = append(kinds, webrtc.RTPCodecTypeVideo)
		}
		for _, k := range kinds {
			if _, err := pc.AddTransceiverFromKind(k, recv); err != nil {
				return fmt.Errorf("rtc: add %s transceiver: %w", k, err)
			}
		}
		return nil
	})
}

// StartSend creates the peer connection with one send-only transceiver
// carrying track (a talk: the listener's microphone) and returns the
// offer for session, as Start does. Its RTCP is read until Close.
func (o *Offerer) StartSend(session string, track webrtc.TrackLocal) (string, error) {
	return o.start(session, func(pc *webrtc.PeerConnection) error {
		tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("rtc: add %s track: %w", track.Kind(), err)
		}
		sender := tr.Sender()
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
		return nil
	})
}

func (o *Offerer) start(session string, add func(*webrtc.PeerConnection) error) (string, error) {
	if session == "" || len(session) > MaxSessionID {
		return "", fmt.Errorf("rtc: session id must be 1 to %d bytes", MaxSessionID)
	}
	o.mu.Lock()
	switch {
	case o.closed:
		o.mu.Unlock()
		return "", ErrClosed
	case o.started:
		o.mu.Unlock()
		return "", ErrStarted
	}
	o.started, o.session = true, session
	o.mu.Unlock()

	pc, err := o.eng.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("rtc: new peer connection: %w", err)
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		_ = pc.GracefulClose()
		return "", ErrClosed
	}
	o.pc = pc
	o.mu.Unlock()

	pc.OnICECandidate(o.localCandidate)
	pc.OnTrack(o.track)
	pc.OnConnectionStateChange(o.stateChange)
	if err := add(pc); err != nil {
		return "", err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("rtc: create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("rtc: set local description: %w", err)
	}
	waitGathered(gathered, o.eng.cfg.GatherTimeout)
	// From here on, candidates may miss the SDP read below (those found
	// before are in it: pion records a candidate before announcing it).
	o.candMu.Lock()
	o.sdpTaken = true
	o.candMu.Unlock()
	desc := pc.LocalDescription()
	if desc == nil {
		return "", fmt.Errorf("rtc: no local description")
	}
	return desc.SDP, nil
}

// Session returns the session id given to Start.
func (o *Offerer) Session() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.session
}

// SetAnswer applies the monitor's answer, then any candidates that came
// before it.
func (o *Offerer) SetAnswer(sdp string) error {
	if err := checkSDP(sdp); err != nil {
		return err
	}
	o.mu.Lock()
	pc, closed, answered := o.pc, o.closed, o.answered
	o.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case pc == nil:
		return ErrNotStarted
	case answered:
		return fmt.Errorf("%w: a second answer", ErrBadSDP)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	o.mu.Lock()
	o.answered = true
	pending := o.pending
	o.pending = nil
	o.mu.Unlock()
	o.releaseCandidates()
	for _, c := range pending {
		if err := pc.AddICECandidate(candidateInit(c)); err != nil {
			return fmt.Errorf("%w: %w", ErrBadCandidate, err)
		}
	}
	return nil
}

// releaseCandidates delivers the local candidates held until the answer.
func (o *Offerer) releaseCandidates() {
	o.candMu.Lock()
	defer o.candMu.Unlock()
	o.trickle = true
	for _, c := range o.held {
		if f := o.OnCandidate; f != nil {
			f(c)
		}
	}
	o.held = nil
}

// AddCandidate adds a candidate the monitor trickled; one that arrives
// before the answer is held until SetAnswer. An empty Candidate ends the
// monitor's candidates.
func (o *Offerer) AddCandidate(c control.WebRTCICE) error {
	if err := checkCandidate(c); err != nil {
		return err
	}
	o.mu.Lock()
	pc, answered := o.pc, o.answered
	switch {
	case o.closed:
		o.mu.Unlock()
		return ErrClosed
	case pc == nil:
		o.mu.Unlock()
		return ErrNotStarted
	case c.Session != o.session:
		o.mu.Unlock()
		return fmt.Errorf("%w: session %q, want %q", ErrBadCandidate, c.Session, o.session)
	case !answered:
		defer o.mu.Unlock()
		if len(o.pending) >= MaxRemoteCandidates {
			return fmt.Errorf("%w: more than %d candidates before the answer", ErrBadCandidate, MaxRemoteCandidates)
		}
		o.pending = append(o.pending, c)
		return nil
	}
	o.mu.Unlock()
	if err := pc.AddICECandidate(candidateInit(c)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	return nil
}

// State returns the connection state (New before Start).
func (o *Offerer) State() webrtc.PeerConnectionState {
	o.mu.Lock()
	pc := o.pc
	o.mu.Unlock()
	if pc == nil {
		return webrtc.PeerConnectionStateNew
	}
	return pc.ConnectionState()
}

// Close closes the peer connection and waits for pion's goroutines and
// for OnTrack calls to return. Idempotent.
func (o *Offerer) Close() error {
	o.mu.Lock()
	pc := o.pc
	o.closed = true
	o.mu.Unlock()
	var err error
	if pc != nil {
		err = pc.GracefulClose()
	}
	o.wg.Wait()
	return err
}

// enter registers a callback that Close waits for; false once closed.
func (o *Offerer) enter() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.wg.Add(1)
	return true
}

func (o *Offerer) track(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	if o.OnTrack == nil || !o.enter() {
		return
	}
	defer o.wg.Done()
	o.OnTrack(t, r)
}

// stateChange runs in a goroutine of its own per change (pion's way); it
// serializes reports and drops stale or repeated ones.
func (o *Offerer) stateChange(st webrtc.PeerConnectionState) {
	if o.OnState == nil || !o.enter() {
		return
	}
	defer o.wg.Done()
	o.cbMu.Lock()
	defer o.cbMu.Unlock()
	o.mu.Lock()
	report := advances(o.last, st)
	if report {
		o.last = st
	}
	o.mu.Unlock()
	if report {
		o.OnState(st)
	}
}

func (o *Offerer) localCandidate(c *webrtc.ICECandidate) {
	if !o.enter() {
		return
	}
	defer o.wg.Done()
	session := o.Session()
	o.candMu.Lock()
	defer o.candMu.Unlock()
	switch {
	case !o.sdpTaken || o.OnCandidate == nil:
		// in the offer, or nobody to tell
	case !o.trickle:
		o.held = append(o.held, candidateMessage(session, c))
	default:
		o.OnCandidate(candidateMessage(session, c))
	}
}
