// Package monitor is the monitor role: it wires the event store, the
// device identity and setup code, the QUIC control server, the pairing
// window, the front panel and the admin socket into one daemon.
//
// Trust is never held here: the transport asks Monitor.Trusted (the
// store's allowlist) at the handshake, and a subscription to the store
// applies trust changes to live connections (a revoked listener is
// disconnected, a newly paired one is trusted on the connection it
// paired on).
//
// # The core
//
// The decisions are in Core (core.go, corepairing.go; its vocabulary in
// events.go), a pure state machine in the shape of pairing.Window:
// events in (a connection accepted or closed, a pairing message, a
// stream request, a session ended, a store event, a tick, a button
// press, the microphone and health state), effects out (append, compact,
// send, close with a code, trust, end a PAKE, the status pump, the mDNS
// flag, the LED, the shared tracks' pumps, an answer, a candidate, a
// session stopped, a key frame). It reads no clock, does no I/O and
// imports neither the transport nor the WebRTC engine (the shell passes
// their limits in CoreConfig). It composes sibling machines, each with
// its rules in its doc comment and op/want scripts in its _test.go:
// pairing.Window; admission (admission.go: which strangers are served,
// for how long, who makes room); streams (streams.go: who may stream,
// the limits, the pumps); frontPanel (frontpanel.go: the LED). The core
// checks trust itself: a trusted-only request from an unpaired
// connection is refused whatever the transport's filter let through.
//
// # Web devices: the page host's API
//
// A phone paired on the monitor's page is a web device, trusted in the
// event log beside the listeners (devices.go; the core's part in
// coredevices.go). The HTTPS host that serves the page calls:
//
//  1. PairDevice(ctx, source, code, name) when a parent taps Pair:
//     source is the request's peer address (no port), code what was
//     typed, name the parent's ("Bedside phone"). It returns the
//     credential once: set it as the device's cookie and never log it.
//     Its errors are sentences for the page; tell them apart with
//     errors.Is: pairing.ErrWindowClosed (press the button first),
//     pairing.ErrBusy (try again in a few seconds),
//     pairing.ErrSourceLocked (this device's turn in this window is
//     over), ErrWrongCode, ErrDeviceName; anything else is internal. The
//     attempt counts in the pairing window exactly as a listener's does.
//
//  2. DeviceByCredential(cookie) on every request: the Device, or false
//     (refuse the request). It reads the store's projection: a device
//     revoked a moment ago is refused.
//
//  3. DeviceGone(id) for anything long-lived (an event stream, a media
//     session): its channel closes when the device is revoked or the
//     monitor is reset (within milliseconds); end what it holds then.
//
//  4. Devices, RenameDevice and RevokeDevice for the page's list; a
//     parent may also revoke with `cradled revoke ID`.
//
//  5. ConnectLocal(device) for what the page does as a listener: the
//     card's session (device "") and each phone's WebRTC offer, answered
//     by the same answerer, limits and trust checks as a QUIC listener's;
//     a phone's connections close when it is revoked.
//
// Nothing here listens on the network: the HTTPS server is package
// page's (cradled starts it).
//
// # In-process connections: the page follows the monitor
//
// The page host opens an in-process control connection with
// ConnectLocal (local.go) for each phone's page (LocalPeer.Device, its
// address and name) and one for itself (Device ""). It is trusted from
// the start: a device's only while the device is trusted, checked on the
// core's owner in the step that registers it (ErrUnknownDevice), so it
// cannot race a revocation; a later device-revoked closes it with
// revoked (Err matches control.ErrRevoked), trust-reset too, and
// Monitor.Close with going_away. The LocalConn it returns has the
// listener's Conn methods: Recv gives what a QUIC listener gets after
// its hello_ack (which ConnectLocal returns): status, pairing_state,
// device_added, the answers; Send takes a listener's requests
// (stream_start, webrtc_offer, webrtc_ice, stream_stop, info_request,
// pair_open, pair_close), which reach the core through the same serve
// loop and handle, with the same trust checks, stream limits and
// answerer as a QUIC connection's: a browser's offer goes straight to the
// monitor's engine. Messages pass through the control codec (its size
// limit and checks); the queues are bounded as the transport's, and a
// page that does not read is closed with idle_timeout. Read Recv
// continuously, and Close the connection when the page goes (also when
// the device's DeviceGone channel closes: the monitor closes it anyway).
//
// # Names
//
// A session is one listener's WebRTC peer connection (the core counts
// them; its connection's rtc.Answerer holds it). A pairing attempt is
// one PAKE run on a connection (pairing.Window calls it a session). The
// shared tracks (tracks.go) are the one audio and one video track every
// session sends, each fed from the hub by a pump. A stranger is an
// unpaired connection. Admission is the core's decision on strangers;
// the transport's message filter is the transport's own check.
//
// # Goroutines and the order of effects
//
// One goroutine, the core's owner (coreOwner, owner.go), steps the core
// and carries out each step's effects before the next event (applier.go,
// raft's Ready/Advance shape): first the store's appends, on the owner,
// so that nothing is told to a peer before it is durable (a failed Must
// append stops the rest of that step); then the peers' effects, none of
// which waits: sends queued on each connection's outbox (TrySend; a peer
// whose outbox is full is closed), closes started (StartClose), trust,
// status pumps started; then the slow effects handed, in step order, to
// three workers (worker, owner.go) that each carry out their jobs one at
// a time: panel (the LED), mdns (the pairing flag), media (the shared
// tracks' pumps and key frames). The media worker hands each
// connection's WebRTC jobs (answers, candidates, sessions stopped, at its
// close its answerer's close) on to that connection's own sessions
// worker, in order, so a slow answer holds only its connection; a job
// that a change of the pumps follows in its step (a session stopped) is
// waited for. Order replaces the generation counters the effects once
// carried: the LED and the flag end as the last step asked.
//
// The owner also holds the peer table (Monitor.peers, a connection's I/O
// handles: registered with its ConnAccepted step, removed with its
// ConnClosed step) and answers reads of the core (the window, the counts
// for a status, the next deadline, the admin status). Monitor has no
// mutex over the core or the peer table; codeMu guards only the setup
// code (a factory reset renews it), and a peer's PAKE in progress is an
// atomic pointer (its connection's goroutine sets and takes it,
// EndPairing drops it).
//
// The poster of an event (step) waits for its outcome: the error that
// answers its request, given once its effects are carried out (its media
// ones too when it has any: an offer is answered after the engine
// answered it). It never carries out an effect itself. pion's callbacks
// post StreamEnded without waiting (post).
//
// Goroutines, all started by Open (or by a part) and stopped by Close.
// The parts are each a Serve(ctx) error under one owner (parts, owner.go:
// errgroup's shape); a part that fails while the monitor runs is fatal
// (Fatal):
//   - serveAccept (conn.go): takes connections from the transport and
//     steps ConnAccepted; starts serve;
//   - serve, one per connection: its messages turned into events until
//     it closes, then ConnClosed (an in-process connection's is started
//     by ConnectLocal, which steps its ConnAccepted there);
//   - the status pump, one per trusted connection: a status every level
//     interval until the connection or the monitor ends (it blocks only
//     itself on a slow peer);
//   - serveStore: store events to the core;
//   - serveTicks: the window's and admission's deadlines to the core
//     (Tick);
//   - serveMicrophone (device.go): the Hub's microphone fault to the core
//     (Media) as it rises and clears, for the LED;
//   - with a device (device.go), serveButtons (presses to the core) and
//     serveHealth (every 5 s, the store and the network to the core: the
//     only place either is probed for the LED).
//
// Not parts:
//   - the core's owner and its three workers (startApplier), started
//     before the parts and stopped after them, so that their last steps
//     (a connection's close, recorded) are carried out; the workers stop
//     after the owner, carrying out what it gave them; a post after the
//     owner stopped fails with errStopped;
//   - a sessions worker per connection that streamed, started by the
//     media worker at its first WebRTC job and stopped at its close;
//   - the shared tracks' pumps, at most one audio and one video, started
//     and stopped by the media worker (Pumps).
//
// Close, in order: cancels the parts' context; closes the server (every
// connection closes with going_away); waits for the parts; stops the
// owner, then the workers; closes the admin socket and mDNS; stops the
// pumps and waits (sharedTracks.close); closes the hub and the store.
package monitor
