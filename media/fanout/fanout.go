// Package fanout hands each published item to every subscriber without
// ever waiting for one: a lossy fan-out with one overflow rule.
//
// Each subscriber has a bounded queue. Publish appends the item to every
// queue and returns at once. When a queue is full, the rule is:
//
//	the subscriber loses its oldest droppable item; if its queue holds
//	only items that may not be dropped, it loses its oldest item.
//
// Whether an item is droppable is decided by the func given to New (nil:
// every item is). A baby monitor drops audio, video and status readings
// for a slow reader, never a presence or alarm change — unless the reader
// has stopped reading altogether and its whole queue is such changes.
// Dropped counts what a subscriber lost.
//
// A Fanout is safe for concurrent use and starts no goroutine. Publish
// holds the Fanout's lock only long enough to queue for each subscriber.
// A subscriber reads with Next, or with C when every item may be dropped
// (New(nil)): keeping a never-dropped item at the head of a queue while
// removing one behind it needs the reader to wait its turn, which Next
// does and a bare channel cannot. Close ends every subscription;
// Subscription.Close ends one.
package fanout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed: Next found the subscription ended (Close, or the Fanout's
// Close; Err says why) and its queue empty.
var ErrClosed = errors.New("fanout: subscription closed")

// Fanout delivers every published item to every subscriber, dropping per
// the package's overflow rule for subscribers that fall behind.
type Fanout[T any] struct {
	droppable func(T) bool

	mu     sync.Mutex
	subs   map[*Subscription[T]]struct{}
	closed bool
	err    error // Close's cause
}

// New returns a Fanout. droppable reports whether an item may be dropped
// for a slow subscriber; nil means every item may (and C may be used).
func New[T any](droppable func(T) bool) *Fanout[T] {
	return &Fanout[T]{droppable: droppable, subs: make(map[*Subscription[T]]struct{})}
}

// Subscribe adds a subscriber whose queue holds up to queue items (at
// least 1). first, if any, are queued before anything published later
// (a new subscriber's view of the present state). After Close it returns
// a subscription that has already ended with Close's cause.
func (f *Fanout[T]) Subscribe(queue int, first ...T) *Subscription[T] {
	return f.SubscribeFunc(queue, nil, first...)
}

// SubscribeFunc is Subscribe for a subscriber that receives only the
// published items for which accept returns true (nil: all). accept runs
// under the Fanout's lock: it must be quick and must not call the Fanout.
func (f *Fanout[T]) SubscribeFunc(queue int, accept func(T) bool, first ...T) *Subscription[T] {
	s := &Subscription[T]{accept: accept, f: f, ch: make(chan T, max(queue, 1)), ready: make(chan struct{}, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		s.end(f.err)
		return s
	}
	for _, v := range first {
		s.push(v, f.droppable)
	}
	f.subs[s] = struct{}{}
	return s
}

// Publish queues v for every subscriber. It never blocks.
func (f *Fanout[T]) Publish(v T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.accept == nil || s.accept(v) {
			s.push(v, f.droppable)
		}
	}
}

// Len returns the number of subscribers.
func (f *Fanout[T]) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Close ends every subscription with cause err (Subscription.Err reports
// it; nil is allowed); later subscriptions start ended. What is queued
// can still be read. Close is idempotent: the first cause stays.
func (f *Fanout[T]) Close(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed, f.err = true, err
	for s := range f.subs {
		s.end(err)
	}
	clear(f.subs)
}

// Subscription is one subscriber's queue: a buffered channel that only
// the Fanout sends on, under its lock.
type Subscription[T any] struct {
	f      *Fanout[T]
	ch     chan T
	accept func(T) bool // nil: every item

	// rd is held by Next while it receives, and by push while it takes an
	// item from the middle of the queue, so Next never sees the queue out
	// of order. C's readers do not take it: C needs New(nil).
	rd sync.Mutex
	// ready holds a token after each push (and is closed at the end): Next
	// waits on it, not on ch, so it never holds rd while it waits.
	ready chan struct{}

	dropped atomic.Uint64
	failure atomic.Pointer[error]
	ended   bool      // guarded by f.mu
	spare   []T       // push's scratch, guarded by f.mu
	once    sync.Once // Close
}

// push queues v under the package's overflow rule; the caller holds f.mu.
func (s *Subscription[T]) push(v T, droppable func(T) bool) {
	if s.ended {
		return
	}
	defer s.signal()
	select {
	case s.ch <- v:
		return
	default:
	}
	if droppable == nil { // every item may go: the oldest does
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default: // the reader made room meanwhile
		}
		s.ch <- v // the only sender: there is room now
		return
	}
	s.rd.Lock()
	defer s.rd.Unlock()
	// Nobody receives now: take the queue out, drop one, put it back.
	q := s.spare[:0]
	for len(q) < cap(s.ch) {
		select {
		case x := <-s.ch:
			q = append(q, x)
			continue
		default:
		}
		break
	}
	if len(q) == cap(s.ch) {
		i := 0
		for i < len(q) && !droppable(q[i]) {
			i++
		}
		if i == len(q) {
			i = 0 // nothing droppable: the reader has stopped; its oldest goes
		}
		q = append(q[:i], q[i+1:]...)
		s.dropped.Add(1)
	}
	for _, x := range q {
		s.ch <- x
	}
	s.ch <- v
	clear(q[:cap(q)])
	s.spare = q[:0]
}

// signal wakes a waiting Next.
func (s *Subscription[T]) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end closes the queue; what it holds stays readable. The caller holds
// f.mu.
func (s *Subscription[T]) end(err error) {
	if !s.ended {
		if err != nil {
			s.failure.Store(&err)
		}
		s.ended = true
		close(s.ch)
		close(s.ready)
	}
}

// Next returns the oldest queued item, waiting until one arrives or ctx
// ends. Once the subscription has ended and its queue is empty, it
// returns ErrClosed. A subscription has one reader.
func (s *Subscription[T]) Next(ctx context.Context) (T, error) {
	for {
		if v, ok, err := s.take(); ok {
			return v, err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// take receives the oldest item if there is one, or ErrClosed if the queue
// is closed and empty.
func (s *Subscription[T]) take() (v T, ok bool, err error) {
	s.rd.Lock()
	defer s.rd.Unlock()
	select {
	case v, open := <-s.ch:
		if !open {
			return v, true, ErrClosed
		}
		return v, true, nil
	default:
		return v, false, nil
	}
}

// C returns the queue as a channel: it delivers the items in order and
// is closed once the subscription has ended and what it held was read.
// C panics unless the Fanout was made with New(nil); use Next otherwise.
func (s *Subscription[T]) C() <-chan T {
	if s.f.droppable != nil {
		panic("fanout: C on a Fanout with never-dropped items; use Next")
	}
	return s.ch
}

// Clear drops everything queued, counting it in Dropped: for a publisher
// with a resync rule of its own (the media Hub restarts a video subscriber
// that lost a frame at the next key frame, dropping what came before).
func (s *Subscription[T]) Clear() {
	for {
		select {
		case _, ok := <-s.ch:
			if !ok {
				return
			}
			s.dropped.Add(1)
		default:
			return
		}
	}
}

// Dropped counts the items this subscriber lost to the overflow rule.
func (s *Subscription[T]) Dropped() uint64 { return s.dropped.Load() }

// Len returns the number of items waiting in the queue.
func (s *Subscription[T]) Len() int { return len(s.ch) }

// Err says why the subscription ended: nil while it runs and after its
// own Close, or the cause given to the Fanout's Close.
func (s *Subscription[T]) Err() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Close unsubscribes and ends the subscription: Next still returns what
// is queued, then ErrClosed. Close is idempotent.
func (s *Subscription[T]) Close() {
	s.once.Do(func() {
		s.f.mu.Lock()
		defer s.f.mu.Unlock()
		delete(s.f.subs, s)
		s.end(nil)
	})
}
