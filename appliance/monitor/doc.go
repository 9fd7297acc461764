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
// I/O; core_test.go runs it as scripts. Monitor is its shell:
// Monitor.step feeds the core under mu and carries out the effects
// without it.
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
// Goroutines, all started by Open and stopped by Close (which cancels the
// context, closes the server and waits on one WaitGroup):
//   - acceptLoop: takes connections from the transport, asks the core's
//     gate, starts serve;
//   - serve, one per connection: its messages until it closes;
//   - the status pump, one per trusted connection: a status every level
//     interval until the connection or the monitor ends;
//   - followStore: store events to the core;
//   - tickWindow: the window's deadlines to the core (Tick);
//   - with a device, buttons (presses to the core) and watchHealth (every
//     5 s, the store and the network to the core: the only place either
//     is probed for the LED);
//   - the shared tracks' pumps, at most one audio and one video, started
//     and stopped by the Pumps effect; Close stops them and waits
//     (sharedTracks.close).
//
// pion's callbacks (a session's state) post StreamEnded to the core;
// they read neither the store nor the network interfaces.
package monitor
