package store

import (
	"context"
	"sync"
)

// subscriptionChunk is how many events a Subscription reads per
// transaction when it is behind.
const subscriptionChunk = 256

// Subscription delivers the events after a given seq, in order, with no
// gap and no duplicate: first those already in the log, then each one as
// it is committed. It holds no goroutine and buffers at most one chunk of
// events, so a slow reader costs nothing but falls behind; it catches up
// by reading the log. Events deleted by Compact before the subscription
// reached them are not delivered.
//
// Next must not be called from more than one goroutine at a time; Close
// may be called from any goroutine.
type Subscription struct {
	s         *Store
	next      uint64 // the seq to read next
	buf       []Event
	done      chan struct{}
	closeOnce sync.Once
}

// Subscribe returns a Subscription to the events after fromSeq. Use 0 for
// the whole log, or State().Seq for only the events appended from now on.
func (s *Store) Subscribe(fromSeq uint64) *Subscription {
	return &Subscription{s: s, next: fromSeq + 1, done: make(chan struct{})}
}

// Next returns the next event, waiting for one to be appended if the
// subscription has caught up. It returns ErrClosed once the subscription
// or the store is closed, and ctx.Err() if ctx ends first.
func (sub *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		select {
		case <-sub.done:
			return Event{}, ErrClosed
		default:
		}
		if len(sub.buf) > 0 {
			e := sub.buf[0]
			sub.buf = sub.buf[1:]
			return e, nil
		}
		s := sub.s
		s.mu.Lock()
		wake, committed, closed := s.notify, s.committed, s.closed
		s.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		if sub.next != 0 && sub.next <= committed {
			evs, next, err := s.read(sub.next, committed, subscriptionChunk)
			if err != nil {
				return Event{}, err
			}
			if len(evs) == 0 {
				next = committed + 1 // the rest was compacted away
			}
			sub.buf, sub.next = evs, next
			continue
		}
		select {
		case <-wake:
		case <-sub.done:
			return Event{}, ErrClosed
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close ends the subscription: a waiting or later Next returns ErrClosed.
// It is idempotent.
func (sub *Subscription) Close() {
	sub.closeOnce.Do(func() { close(sub.done) })
}
