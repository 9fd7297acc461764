// Package monitor is the monitor role: it wires the event store, the
// device identity and setup code, the QUIC control server, the trust gate,
// the pairing window and the admin socket into one daemon.
//
// Trust is never held here: the gate reads the store's allowlist
// projection, and a subscription to the store applies trust changes to
// live connections (a revoked listener is disconnected, a newly paired
// one is trusted on the connection it paired on).
//
// The decisions are in Core (core.go, corestream.go), a pure state
// machine in the shape of pairing.Window: events in (a connection
// accepted or closed, a pairing message, a stream request, a session
// ended, a store event, a tick, a button press, the microphone and health
// state), effects out (send, close with a code, append an event, compact,
// trust, end a PAKE, answer or stop a session, the shared tracks' pumps,
// a key frame, the mDNS flag, the LED). It reads no clock and does no
// I/O; core_test.go runs it as scripts. Monitor is its shell: one
// goroutine, the core's owner (owner.go), steps it and answers reads of
// it (the window for OpenPairing and the admin Status, the counts for a
// status, the next deadline), one function posted at a time; the poster
// of an event carries out the effects it gets back, in order, outside the
// owner (a Pumps effect carries a generation so that pumps set from two
// goroutines end as the core last asked). mu guards only the peer table
// and each peer's PAKE session, never the core. The shell reaches the
// transport and the store through narrow interfaces (connection, an
// accept function, eventLog), so shell_test.go runs the real shell on
// recording fakes of a connection, the store and the device, without a
// socket.
//
// Two things are called streams, and are named apart: a session is one
// listener's WebRTC peer connection (the core counts them per connection
// and in all, and admits them within the limits; its connection's
// rtc.Answerer holds it); sharedTracks (stream.go) is the one audio and
// one video track every session sends, each fed from the hub by a pump
// that runs while the core wants it (the Pumps effect). The core's
// session table is the only count on the monitor's side; the hub counts
// its own subscribers.
//
// Goroutines, all started by Open (or by a part) and stopped by Close.
// The parts are each a Serve(ctx) error under one owner (parts, owner.go:
// errgroup's shape); a part that fails while the monitor runs is fatal
// (Fatal):
//   - serveAccept: takes connections from the transport, asks the core's
//     gate, starts serve;
//   - serve, one per connection: its messages until it closes, then its
//     sessions closed and ConnClosed stepped;
//   - the status pump, one per trusted connection: a status every level
//     interval until the connection or the monitor ends;
//   - serveStore: store events to the core;
//   - serveTicks: the window's deadlines to the core (Tick);
//   - with a device, serveButtons (presses to the core) and serveHealth
//     (every 5 s, the store and the network to the core: the only place
//     either is probed for the LED).
//
// Two more are not parts:
//   - the core's owner (coreOwner), started before the parts and stopped
//     after them, so that their last steps (a connection's close,
//     recorded) still run; a post after it stopped fails with errStopped;
//   - the shared tracks' pumps, at most one audio and one video, started
//     and stopped by the Pumps effect.
//
// Close, in order: cancels the parts' context; closes the server (every
// connection closes with going_away); waits for the parts; stops the
// core's owner; closes the admin socket and mDNS; stops the pumps and
// waits (sharedTracks.close); closes the hub and the store.
//
// pion's callbacks (a session's state) post StreamEnded to the core;
// they read neither the store nor the network interfaces.
package monitor
