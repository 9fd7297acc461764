// Package control is Cradle's control protocol, version 1, independent of
// any transport: length-prefixed frames, the ControlMessage catalogue and its
// JSON encoding, and the wire error codes.
//
// A connection carries one bidirectional stream. Each frame is a 4-byte
// big-endian length followed by that many bytes of one JSON-encoded message;
// the length is checked against MaxFrame before anything is allocated.
// Every message is an envelope {"type": "...", "body": {...}}; the body's
// shape depends on the type (see messages.go and docs/PROTOCOL.md).
//
// Codes (codes.go) are the single mapping between wire error codes, QUIC
// application close codes and Go errors.
package control
