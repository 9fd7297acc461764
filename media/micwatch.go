package media

import "time"

// MicFaultAfter is how long a capturing microphone may deliver nothing
// before the Hub reports it at fault (Hub.MicrophoneFault), and how long
// an open capture stream may stay silent before the Hub closes and
// reopens it.
const MicFaultAfter = time.Second

// micRetryFirst and micRetryMax bound the pause between attempts to reopen
// a microphone that failed or is not there: it doubles from the first to
// the most, so a device that comes back is used within about micRetryMax.
const (
	micRetryFirst = 250 * time.Millisecond
	micRetryMax   = time.Second
)

// micWatch is the pure core of the microphone's health. The Hub feeds it
// the times of what happens to the capture and asks it, every
// MicFaultAfter/4, what to do:
//
//   - start: the capture starts (a subscriber turned the microphone on);
//     the silence is counted from here. The fault, if any, stays until
//     audio arrives: it was true when the capture last ran.
//   - opened: a stream opened. lost: it failed or was closed.
//   - chunk: audio arrived. It clears the fault (changed reports that).
//   - check: the microphone is at fault once nothing has arrived for
//     stallAfter; an open stream that has delivered nothing for stallAfter
//     since it opened (or since its last chunk) is stalled: the Hub closes
//     it, which ends a Read blocked on a device that vanished, and
//     reopens it.
type micWatch struct {
	stallAfter time.Duration
	heard      time.Time // the last chunk, or the start
	opened     time.Time // when the open stream opened; zero while none is
	fault      bool
}

func (w *micWatch) start(now time.Time) { w.heard, w.opened = now, time.Time{} }

func (w *micWatch) open(now time.Time) { w.opened = now }

func (w *micWatch) lost() { w.opened = time.Time{} }

func (w *micWatch) chunk(now time.Time) (changed bool) {
	w.heard = now
	changed, w.fault = w.fault, false
	return changed
}

func (w *micWatch) check(now time.Time) (stalled, changed bool) {
	if !w.fault && now.Sub(w.heard) >= w.stallAfter {
		w.fault, changed = true, true
	}
	if !w.opened.IsZero() && now.Sub(later(w.heard, w.opened)) >= w.stallAfter {
		w.opened, stalled = time.Time{}, true
	}
	return stalled, changed
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
