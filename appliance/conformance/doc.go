// Package conformance checks an implementation of Cradle's protocol
// version 1 against the contract in docs/: the vectors in
// docs/conformance/ (checked against this repository's code by this
// package's tests and by appliance/transport's), and Run, which drives a
// live monitor through the documented behaviours (hello_ack first, the
// trust gate, unknown and malformed frames, errors delivered before the
// close, the heartbeat, pairing errors, timeouts, and, for a trusted
// listener, the sound history's pages and limits) and prints each check
// with pass or fail. Someone writing a second monitor implementation runs
// it against theirs; ExporterFromSecret is the channel binding for QUIC
// stacks without a TLS exporter API.
package conformance
