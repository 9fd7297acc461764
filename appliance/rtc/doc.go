// Package rtc is Cradle's WebRTC layer (pion/webrtc v4): the monitor's
// Answerer, the listener's Offerer, and Recorders that store received
// media without decoding it. It knows nothing of the control channel:
// signalling goes in and out as strings and control.WebRTCICE values, and
// the caller carries them.
//
// ICE is host-only: no STUN or TURN servers, no mDNS candidates, UDP only,
// candidates on the configured LAN interfaces (loopback only with
// Config.IncludeLoopback). Start and HandleOffer wait (up to
// Config.GatherTimeout, a few milliseconds in practice) for host
// candidates and return an SDP that already carries them, so neither side
// depends on the order in which candidates and descriptions arrive;
// candidates found later trickle through OnCandidate.
//
// Monitor duties (one Engine per process, one Answerer per control
// connection):
//  1. eng, err := rtc.NewEngine(cfg); a := eng.NewAnswerer(); set
//     a.OnCandidate (send control.WebRTCICE) and a.OnState (on Closed,
//     send StreamStop{Session}) before the first offer.
//  2. On StreamStart, note the session's Kind. On WebRTCOffer, call
//     a.HandleOffer(session, sdp, tracks) with the shared Opus track (and
//     the video track for audio+video); send WebRTCAnswer with the result,
//     or an error message from control.ErrorMessage(err, TypeWebRTCOffer).
//  3. On WebRTCICE, a.AddCandidate(session, msg); on StreamStop,
//     a.Stop(session). Errors are *control.Error values to send back.
//  4. When the connection ends, a.Close(). Count and eng.Sessions report
//     the live peer connections.
//
// Tracks are written by the caller (a webrtc.TrackLocalStaticSample shared
// by every session fans out). Samples written before a peer connection is
// connected are dropped for it, which is what a live stream wants.
//
// Listener duties (one Offerer per session):
//  1. o := eng.NewOfferer(); set o.OnCandidate, o.OnTrack (read the track
//     until it fails, e.g. with Record) and o.OnState.
//  2. Send StreamStart{Session, Kind}, then offer, err := o.Start(session,
//     video) and send WebRTCOffer.
//  3. On WebRTCAnswer, o.SetAnswer(sdp); on WebRTCICE, o.AddCandidate(msg)
//     (candidates before the answer are held).
//  4. On StreamStop, an error for the session, or state Failed: o.Close(),
//     and start a new Offerer with a new session to resume.
package rtc
