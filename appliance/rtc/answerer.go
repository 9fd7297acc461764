package rtc

import (
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// MaxSessionID is the longest session id accepted.
const MaxSessionID = 64

// Answerer is the monitor's side of one control connection: it answers
// that listener's offers, one peer connection per session. Its methods
// are safe for concurrent use.
//
// Set OnCandidate and OnState before the first HandleOffer. They are
// called from pion's goroutines, one call at a time per session (calls for
// different sessions may overlap), never after Close returned, and must
// not call back into the Answerer synchronously (Close waits for them).
type Answerer struct {
	// OnCandidate receives local candidates that missed the answer (it
	// carries those found within GatherTimeout), then an end-of-candidates
	// message (empty Candidate). Send each as a WebRTCICE message. Nil
	// drops them. One may come before HandleOffer returned: the Offerer
	// holds candidates that overtake the answer.
	OnCandidate func(control.WebRTCICE)
	// OnState receives the connection state changes of every session.
	// A session that ends on its own (ICE failed, the listener closed it,
	// it did not connect within ConnectTimeout) ends with
	// PeerConnectionStateClosed: tell the listener (StreamStop). Sessions
	// ended by Stop, Close, a replacing offer or a failed HandleOffer
	// report nothing more once the call began.
	OnState func(session string, s webrtc.PeerConnectionState)
	// OnTrack receives each track the listener sends on a session (a
	// talk's voice), in a goroutine of its own that Close waits for: it
	// may read the track until it ends (its session closes). Nil leaves
	// remote tracks unread.
	OnTrack func(session string, t *webrtc.TrackRemote)

	eng *Engine
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*streamSession
	closed   bool
	wg       sync.WaitGroup // HandleOffer calls, RTCP readers, async closes
}

// streamSession is one answered peer connection: one stream session.
type streamSession struct {
	id      string
	onClose func()     // gives the engine slot back
	release sync.Once  // runs onClose once
	cbMu    sync.Mutex // serializes OnState calls (pion calls each in a new goroutine)

	mu        sync.Mutex
	pc        *webrtc.PeerConnection
	answered  bool                // the SDP is being handed out: later candidates trickle
	remoteSet bool                // the offer is applied: remote candidates can go in
	pending   []control.WebRTCICE // remote candidates that came before that
	remote    int                 // remote candidates accepted
	timer     *time.Timer         // the connect timeout
	closed    bool
	quiet     bool                       // closed at the caller's request: report no more states
	last      webrtc.PeerConnectionState // last state reported
}

// NewAnswerer returns an Answerer for one control connection, drawing on
// the engine's session budget.
func (e *Engine) NewAnswerer() *Answerer {
	return &Answerer{eng: e, log: e.log, sessions: make(map[string]*streamSession)}
}

// HandleOffer answers a listener's offer for session, sending tracks (an
// Opus track, and a video track when the listener asked for video). A
// track is added only if the offer has a media section of its kind for
// it; the rest are skipped. The answer carries every host candidate
// gathered within GatherTimeout, so it works without trickle.
//
// An offer for a session that already exists replaces it: the old peer
// connection is closed first (no renegotiation; a listener that wants
// other media sends a new offer).
//
// Errors are *control.Error: bad_request for a bad session id or SDP,
// busy when this connection or the whole monitor has too many sessions,
// going_away after Close, internal if pion fails.
func (a *Answerer) HandleOffer(id, offer string, tracks []webrtc.TrackLocal) (string, error) {
	if id == "" || len(id) > MaxSessionID {
		return "", badRequest("rtc: session id must be 1 to %d bytes", MaxSessionID)
	}
	if err := checkSDP(offer); err != nil {
		return "", badRequest("%v", err)
	}
	if !a.enter() {
		return "", control.Errorf(control.CodeGoingAway, "%v", ErrClosed)
	}
	defer a.wg.Done()

	s, err := a.reserve(id)
	if err != nil {
		return "", err
	}
	answer, err := a.answer(s, offer, tracks)
	if err != nil {
		a.drop(s)
		_ = s.close(true)
		return "", err
	}
	return answer, nil
}

// reserve closes any old session with this id and takes a slot for a new
// one, within the per-connection and engine limits.
func (a *Answerer) reserve(id string) (*streamSession, error) {
	a.mu.Lock()
	old := a.sessions[id]
	delete(a.sessions, id)
	a.mu.Unlock()
	if old != nil {
		a.log.Debug("rtc: offer replaces session", "session", id)
		_ = old.close(true)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return nil, control.Errorf(control.CodeGoingAway, "%v", ErrClosed)
	case a.sessions[id] != nil:
		return nil, control.Errorf(control.CodeBusy, "rtc: another offer for session %q is being answered", id)
	case len(a.sessions) >= a.eng.cfg.MaxSessionsPerConn:
		return nil, control.Errorf(control.CodeBusy, "rtc: this listener already has %d streams open: stop one first", len(a.sessions))
	case !a.eng.acquire():
		return nil, control.Errorf(control.CodeBusy, "rtc: the monitor is already streaming to %d listeners", a.eng.cfg.MaxSessions)
	}
	s := &streamSession{id: id, onClose: a.eng.release}
	a.sessions[id] = s
	return s, nil
}

func (a *Answerer) answer(s *streamSession, offer string, tracks []webrtc.TrackLocal) (string, error) {
	pc, err := a.eng.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", control.Errorf(control.CodeInternal, "rtc: new peer connection: %v", err)
	}
	if !s.setPC(pc) {
		_ = pc.GracefulClose()
		return "", control.Errorf(control.CodeBadRequest, "rtc: session %q was stopped while its offer was answered", s.id)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { a.localCandidate(s, c) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { a.stateChange(s, st) })
	if f := a.OnTrack; f != nil {
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			if !a.enter() {
				return
			}
			defer a.wg.Done()
			f(s.id, t)
		})
	}

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", badRequest("rtc: offer rejected: %v", err)
	}
	s.mu.Lock()
	s.remoteSet = true
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, c := range pending {
		if err := pc.AddICECandidate(candidateInit(c)); err != nil {
			a.log.Debug("rtc: early ICE candidate rejected", "session", s.id, "err", err)
		}
	}
	if err := a.addTracks(pc, tracks); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", badRequest("rtc: cannot answer the offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", control.Errorf(control.CodeInternal, "rtc: set local description: %v", err)
	}
	waitGathered(gathered, a.eng.cfg.GatherTimeout)
	// Candidates found from here on may miss the SDP read below and
	// trickle (those found before are in it: pion records a candidate
	// before announcing it).
	if !s.markAnswered(a.eng.cfg.ConnectTimeout, func() { a.connectTimeout(s) }) {
		return "", control.Errorf(control.CodeBadRequest, "rtc: session %q was stopped while its offer was answered", s.id)
	}
	desc := pc.LocalDescription()
	if desc == nil {
		return "", control.Errorf(control.CodeInternal, "rtc: no local description")
	}
	return desc.SDP, nil
}

// addTracks adds each track that the offer has a free media section for,
// and starts reading its RTCP (pion's NACK and report interceptors only
// see RTCP that is read).
func (a *Answerer) addTracks(pc *webrtc.PeerConnection, tracks []webrtc.TrackLocal) error {
	free := map[webrtc.RTPCodecType]int{}
	for _, t := range pc.GetTransceivers() {
		if t.Sender() == nil {
			free[t.Kind()]++
		}
	}
	for _, tr := range tracks {
		if tr == nil {
			continue
		}
		if free[tr.Kind()] == 0 {
			a.log.Debug("rtc: offer has no section for track", "kind", tr.Kind().String(), "track", tr.ID())
			continue
		}
		free[tr.Kind()]--
		sender, err := pc.AddTrack(tr)
		if err != nil {
			return control.Errorf(control.CodeInternal, "rtc: add %s track: %v", tr.Kind(), err)
		}
		a.spawn(func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		})
	}
	return nil
}

// AddCandidate adds a candidate the listener trickled for session. An
// empty Candidate ends the listener's candidates. Errors are bad_request:
// unknown session (including one whose offer did not come yet: candidates
// are not buffered before an offer), too many candidates, or a candidate
// that does not parse.
func (a *Answerer) AddCandidate(id string, c control.WebRTCICE) error {
	if err := checkCandidate(c); err != nil {
		return badRequest("%v", err)
	}
	a.mu.Lock()
	s := a.sessions[id]
	a.mu.Unlock()
	if s == nil {
		return badRequest("rtc: ICE candidate for unknown session %q: send its offer first", id)
	}
	s.mu.Lock()
	if s.closed || s.remote >= MaxRemoteCandidates {
		s.mu.Unlock()
		return badRequest("rtc: session %q is closed or sent more than %d ICE candidates", id, MaxRemoteCandidates)
	}
	s.remote++
	pc, ready := s.pc, s.remoteSet
	if !ready {
		// The offer is still being applied (a caller that handles
		// messages concurrently): hold the candidate until it is.
		s.pending = append(s.pending, c)
	}
	s.mu.Unlock()
	if !ready {
		return nil
	}
	if err := pc.AddICECandidate(candidateInit(c)); err != nil {
		return badRequest("rtc: ICE candidate for session %q: %v", id, err)
	}
	return nil
}

// Stop closes session's peer connection and waits for it. An unknown
// session is a bad_request error; nothing is reported to OnState.
func (a *Answerer) Stop(id string) error {
	a.mu.Lock()
	s := a.sessions[id]
	delete(a.sessions, id)
	a.mu.Unlock()
	if s == nil {
		return badRequest("rtc: stop for unknown session %q", id)
	}
	if err := s.close(true); err != nil {
		a.log.Debug("rtc: closing session", "session", id, "err", err)
	}
	return nil
}

// Count returns the number of live sessions (peer connections).
func (a *Answerer) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

// Close closes every session and waits for their goroutines. Later calls
// to HandleOffer fail with going_away. Close is idempotent.
func (a *Answerer) Close() {
	a.mu.Lock()
	a.closed = true
	ss := make([]*streamSession, 0, len(a.sessions))
	for _, s := range a.sessions {
		ss = append(ss, s)
	}
	clear(a.sessions)
	a.mu.Unlock()
	for _, s := range ss {
		_ = s.close(true)
	}
	a.wg.Wait()
}

// enter registers a call or goroutine that Close waits for; false once
// closed.
func (a *Answerer) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	return true
}

func (a *Answerer) spawn(f func()) {
	if !a.enter() {
		return
	}
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// drop forgets s if it is still the session under its id.
func (a *Answerer) drop(s *streamSession) {
	a.mu.Lock()
	if a.sessions[s.id] == s {
		delete(a.sessions, s.id)
	}
	a.mu.Unlock()
}

// closeAsync removes and closes s off pion's callback goroutine (a
// graceful close waits for those callbacks).
func (a *Answerer) closeAsync(s *streamSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return // Close closes every session it found in the map
	}
	if a.sessions[s.id] == s {
		delete(a.sessions, s.id)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_ = s.close(false)
	}()
}

// stateChange runs in a goroutine of its own per change (pion's way): it
// serializes the reports per session and drops stale or repeated ones.
func (a *Answerer) stateChange(s *streamSession, st webrtc.PeerConnectionState) {
	if !a.enter() {
		return // closed: nothing more is reported
	}
	defer a.wg.Done()
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.mu.Lock()
	report := !s.quiet && advances(s.last, st)
	if report {
		s.last = st
	}
	s.mu.Unlock()
	if !report {
		return
	}
	a.log.Debug("rtc: session state", "session", s.id, "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.stopTimer()
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		a.closeAsync(s) // first, so that Count is exact when OnState runs
	}
	if f := a.OnState; f != nil {
		f(s.id, st)
	}
}

// advances reports whether next is news after prev: no repeats, nothing
// after Closed, only Closed after Failed.
func advances(prev, next webrtc.PeerConnectionState) bool {
	switch prev {
	case next, webrtc.PeerConnectionStateClosed:
		return false
	case webrtc.PeerConnectionStateFailed:
		return next == webrtc.PeerConnectionStateClosed
	}
	return true
}

func (a *Answerer) connectTimeout(s *streamSession) {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc != nil && pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		a.log.Info("rtc: session did not connect in time: closing it", "session", s.id, "timeout", a.eng.cfg.ConnectTimeout)
		a.closeAsync(s)
	}
}

func (a *Answerer) localCandidate(s *streamSession, c *webrtc.ICECandidate) {
	if !a.enter() {
		return
	}
	defer a.wg.Done()
	s.mu.Lock()
	ok := s.answered && !s.closed
	s.mu.Unlock()
	if f := a.OnCandidate; ok && f != nil {
		f(candidateMessage(s.id, c))
	}
}

func (s *streamSession) setPC(pc *webrtc.PeerConnection) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pc = pc
	return true
}

// markAnswered records that the SDP went out and arms the connect timer.
func (s *streamSession) markAnswered(timeout time.Duration, onTimeout func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.answered = true
	s.timer = time.AfterFunc(timeout, onTimeout)
	return true
}

func (s *streamSession) stopTimer() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

// close closes the peer connection, waits for pion's goroutines, and
// gives the slot back. quiet (a close the caller asked for) silences
// OnState for this session from now on. Idempotent.
func (s *streamSession) close(quiet bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed, s.quiet = true, quiet
	pc := s.pc
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	var err error
	if pc != nil {
		err = pc.GracefulClose()
	}
	s.release.Do(s.onClose)
	return err
}

func waitGathered(done <-chan struct{}, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func candidateMessage(session string, c *webrtc.ICECandidate) control.WebRTCICE {
	if c == nil {
		return control.WebRTCICE{Session: session}
	}
	j := c.ToJSON()
	return control.WebRTCICE{Session: session, Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}
}

func candidateInit(c control.WebRTCICE) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
}
