// Package history keeps the nursery's sound history on the monitor: the
// level per minute, noise episodes, microphone faults and the listeners
// that were connected, for the last days (30 by default), whether or not
// anybody listened.
//
// It is separate from the trust log (package store): its own bbolt file
// (history.db), so that nothing it does can slow or endanger who is
// trusted. It never imports appliance/.
//
// # Parts
//
//   - Recorder is the pure core. It is fed sound levels, fault and
//     connection changes, each with the time it happened (a wall clock
//     and a monotonic reading), and says what to write: records to put
//     (Record) and clock corrections (Shift). It buffers between
//     flushes; it does no I/O and reads no clock.
//   - DB is the bbolt shell: Apply writes a flush in one transaction,
//     Prune drops old days, Read answers a time range in bounded pages.
//   - Summarize turns a night's episodes into the one-line summary
//     ("3 wake-ups, the longest 12 min, quiet since 04:10").
//
// # Time
//
// A Pi has no clock at boot: it reads the time systemd-timesyncd saved
// at the last shutdown (or 1970) until NTP answers, then jumps. Every
// record carries the boot it was written in (a counter the DB keeps), and
// the Recorder times records by the monotonic clock from an anchor (the
// wall time at one monotonic reading). When the wall clock departs from
// the anchor by more than JumpTolerance, the Recorder moves the anchor
// and emits a Shift: the DB moves every record of this boot by the same
// amount, in one transaction. Records of this boot therefore stay right
// relative to each other and to the corrected clock. A boot that never
// learns the time keeps the times it had; Prune does not run while the
// clock reads earlier than MinPlausible.
//
// # Wear
//
// The Recorder keeps what it measured in memory and the monitor flushes
// it every FlushEvery (5 minutes): one small transaction. A power cut
// loses at most what was not flushed: the last flush interval and the
// minute in progress. docs/STORE.md gives the layout and the figures.
package history
