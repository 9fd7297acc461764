// Package transport is Cradle's control channel: one QUIC connection with
// mutual TLS (ALPN "cradle/1") and one bidirectional stream carrying
// control frames, between a monitor (Server) and a listener (Dial).
//
// Neither side trusts a CA. The listener pins the monitor's key
// fingerprint (a wrong one fails the handshake before any application
// data, with an error that Is control.ErrFingerprintMismatch); the monitor
// requires a client certificate and asks an Allowlist whether its fingerprint is
// trusted. An untrusted listener may only send pairing-class messages
// (control.AllowedUntrusted); anything else is answered with an untrusted
// error and closes the connection.
//
// The connection opens with Hello (listener) and HelloAck (monitor); QUIC
// lets the client finish its handshake before the server checked the
// client certificate, so a listener is connected only once the HelloAck
// arrived. The HelloAck is the server's first frame: a server Conn sends
// no ping or pong, and Send of any other message waits, until a HelloAck
// is queued. Both sides then ping on the presence interval; pings and pongs
// stay inside Conn, and a peer that answers none of this side's pings for
// DeadAfter (Misses intervals and a quarter) is closed with idle_timeout,
// even while its own frames keep arriving (a one-way cut). A peer that breaks the protocol (a frame over
// control.MaxFrame, or over UntrustedMaxFrame before its hello and while
// it is untrusted; bytes that do not decode, MaxUnknown messages of
// unknown type, a message out of order) gets an error message and a QUIC
// close with the matching code (control.Code.QUIC()).
//
// A stranger's cost is bounded: a server refuses new connections at once
// (QUIC CONNECTION_REFUSED) while Config.MaxPending others are handshaking
// or waiting for their hello (MaxPendingPerAddr from one address), asks for address validation (a QUIC Retry)
// from half of it on, gives a hello DefaultHelloTimeout, reads a frame into
// a buffer that grows with the bytes received, and keeps QUIC receive
// windows of tens of KiB. docs/PROTOCOL.md section 2.1 lists these limits.
//
// Every close but a heartbeat timeout delivers its reason: the closing side
// sends its bye or error message, ends its stream, waits (at most
// CloseLinger) for the peer to end its own or close, and only then closes
// QUIC, because a QUIC close discards data the peer has not read yet. A
// side that reads a bye, or an error followed by the end of the stream,
// closes at once with that code.
//
// Monitor duties:
//  1. Listen with the monitor's identity and an Allowlist; Close it on shutdown
//     (it closes every connection with going_away and waits for them).
//  2. Call Accept in a loop. For each connection, first Send a HelloAck
//     (Trusted from c.Trusted()) within the client's hello timeout, or
//     refuse the listener with c.Close(code, reason); then
//     call Recv in a loop until it returns an error (which Is ErrClosed),
//     in its own goroutine. A connection whose Recv is not called stops
//     reading once RecvQueue messages wait, stops answering pings, and is
//     dropped by the peer's heartbeat.
//  3. When pairing succeeds on a connection, call SetTrusted(true) before
//     sending PairDone. Pairing binds to c.Exporter() and both fingerprints.
//
// Listener duties:
//  1. Dial with the pinned fingerprint (zero only for pairing by code),
//     and reconnect with backoff when it fails or when Done closes: the
//     error says what happened and what to do.
//  2. Call Recv in a loop, as above; Close the connection when done.
//
// Send blocks while the send queue is full, until its context is done; a
// nil error means queued, not delivered. TrySend never blocks (it fails
// with ErrSendQueueFull instead), and StartClose starts a Close without
// waiting for it: a caller that must never wait on a peer uses them. Err tells why a connection closed.
package transport
