// Package webrelay carries a listener's nursery audio (and video) to web
// pages: the listener terminates the monitor's stream (a
// listener.Session) and serves each browser tab from its own process, so
// the monitor sees one listener however many tabs are open and no browser
// ever talks to the monitor.
//
// Two ways out, for two kinds of page:
//
//   - Relay.Answer: one WebRTC peer connection per tab, low latency. Every
//     tab watching a session shares one webrtc.TrackLocalStaticRTP per
//     kind, fed by one subscription to the session's media (started with
//     the session's first peer, stopped with its last). The monitor's RTP
//     packets pass through unchanged except for their sequence numbers and
//     timestamps, which are rebased when the monitor's stream restarts so
//     that the browser sees one continuous stream.
//   - ServeOgg: a continuous Ogg/Opus HTTP stream for a plain <audio>
//     element, which phones keep playing with the screen locked. The
//     monitor's Opus packets pass through; a gap is filled with generated
//     packets, so the element never stalls, and while the session's alarm
//     sounds the stream carries the alarm itself.
//   - ServeMP3: the night stream, the same stream as MP3 (48 kHz mono,
//     320 kbit/s), which every phone engine plays with the screen locked;
//     the monitor's packets are decoded and encoded again. Both continuous
//     streams share their pacing (runPaced): a stream that fell behind
//     (its process frozen) skips what it missed rather than bursting it.
//
// The caller's duties:
//
//  1. Keep the session streaming while a page listens (Session.SetStream):
//     this package only subscribes to the session's media; it never changes
//     what the session streams.
//  2. Pass Answer a context that lives as long as the peer may: the
//     server's lifetime context, or one derived from it that the caller
//     cancels to end that tab's peer. Not the HTTP request's context: the
//     request ends as soon as the answer is sent.
//  3. Pass ServeOgg the HTTP request's context (it ends when the page goes
//     away) joined with the server's lifetime.
//  4. Close the Relay before the sessions it relays.
//
// Towards the browser ICE is host-only (no STUN or TURN, UDP, no mDNS
// candidates of ours). Chrome and Safari hide their own address behind
// <uuid>.local candidates; those are dropped from the offer, and the
// browser's connectivity checks to our host candidates make the
// peer-reflexive candidates that connect (as MediaMTX does).
package webrelay
