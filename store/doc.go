// Package store is Cradle's append-only event log, kept in a bbolt file,
// and the projections built from it: the monitor's identity, setup code,
// allowlist of trusted listeners, pairing state and connection history,
// and the listener's paired monitors.
//
// # Log
//
// Every change is an Event appended with Append. Events are numbered by a
// seq (uint64, from 1, never reused) and stored under 8-byte big-endian
// keys, so the log is ordered by seq. Each record is a versioned envelope:
// seq, type, the payload's schema version, the wall time when appended, a
// boot id with monotonic nanoseconds since that Open, a CRC-32C, and the
// payload. Wall time on a Pi may read 1970 until NTP syncs: order by seq,
// never by time.
//
// Encoding: the envelope is a fixed 53-byte binary header; payloads are a
// compact binary encoding (uvarints, length-prefixed strings, raw 32-byte
// fingerprints, times as Unix seconds and nanoseconds), one schema version
// per event type. docs/STORE.md gives the exact layouts.
//
// # Caller's duties
//
//  1. Open the store once per process; a second process gets an *OpenError
//     wrapping ErrLocked after about a second. A file that is not a valid
//     store gives an *OpenError wrapping ErrCorrupt whose message says what
//     to do: show it, do not delete the file.
//  2. Append returns only when the events are fsynced and visible in State.
//     Record decisions after they are made, and act on ones that must not be
//     lost (a trusted listener) only after Append returns.
//  3. Read State as often as needed: it is an immutable value behind an
//     atomic pointer. Never modify its maps or slices.
//  4. The store does not expire anything: append PairingWindowClosed when
//     a window times out (also after a restart that finds one open).
//  5. Close the store on shutdown; it waits for pending appends and writes
//     a snapshot so the next Open is fast.
//
// # Faults
//
// Records this release cannot read (a type or schema version from a newer
// release, or bytes that do not decode) are kept in the log, delivered as
// Unknown payloads, skipped by projections, and logged as warnings at Open.
// A snapshot that does not decode is ignored in favour of a full replay.
// Faults and panics from a damaged file are returned as errors wrapping
// ErrCorrupt, never as a crash.
//
// # Subscriptions
//
// Subscribe(fromSeq) returns a Subscription whose Next delivers every event
// after fromSeq in order, with no gap and no duplicate, while appends go
// on: it reads the log while it is behind and waits on a broadcast when it
// has caught up. It holds no goroutine and no unbounded buffer. Events
// removed by Compact before a subscription reaches them are not delivered.
//
// # Snapshots and retention
//
// The projections are snapshotted every Options.SnapshotEvery events, on
// Snapshot, on Compact and on Close, so Open replays only the events after
// the snapshot. Compact deletes old connection and soothing-sound events; every other
// event is kept forever.
package store
