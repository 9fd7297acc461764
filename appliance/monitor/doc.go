// Package monitor is the monitor role: it wires the event store, the
// device identity and setup code, the QUIC control server, the trust gate,
// the pairing window and the admin socket into one daemon.
//
// Trust is never held here: the gate reads the store's allowlist
// projection, and a subscription to the store applies trust changes to
// live connections (a revoked listener is disconnected, a newly paired
// one is trusted on the connection it paired on).
//
// Concurrency: one goroutine accepts connections, one per connection reads
// its messages, one follows the store subscription, one ticks the pairing
// window. mu guards the window and the peer table. Run starts them; Close
// stops them and waits.
package monitor
