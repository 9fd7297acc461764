package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Sample is one encoded frame: an Opus packet or a VP8 frame. Data is
// shared by every subscriber: do not modify it.
type Sample struct {
	Data []byte
	// Duration is the frame's length (audio) or the time since the previous
	// frame (video): what webrtc's media.Sample.Duration wants.
	Duration time.Duration
	// Captured is when the frame's first PCM sample (audio) or picture
	// (video) was captured, for latency measurement.
	Captured time.Time
	// KeyFrame is true for a VP8 key frame; audio frames are all key frames.
	KeyFrame bool
}

// Subscription is one subscriber's view of an encoded stream or of the
// levels. Its channel is bounded: a subscriber that falls behind loses the
// oldest items (audio and levels: the newest matter most) or, for video,
// the frames up to the next key frame, which the Hub then asks for. The
// channel is closed when the subscription ends: Close, Hub.Close, or a
// failure that Err reports.
type Subscription[T any] struct {
	ch      chan T
	dropped atomic.Uint64
	unsub   func()
	once    sync.Once

	failure atomic.Pointer[error]

	// Guarded by the Hub's mu.
	ended   bool
	waitKey bool // video: skip frames until a key frame
}

func newSubscription[T any](size int) *Subscription[T] {
	return &Subscription[T]{ch: make(chan T, size)}
}

// C delivers the items in order; it is closed when the subscription ends.
func (s *Subscription[T]) C() <-chan T { return s.ch }

// Err says why the subscription ended: nil while it runs and after Close,
// ErrClosed after Hub.Close, or the failure that ended it.
func (s *Subscription[T]) Err() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Dropped counts the items this subscriber lost because it fell behind.
func (s *Subscription[T]) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription (unsubscribes) and closes C. When it was the
// last user of a device, the device is closed before Close returns. Close
// is idempotent.
func (s *Subscription[T]) Close() {
	s.once.Do(func() {
		if s.unsub != nil {
			s.unsub()
		}
	})
}

// offer queues v, dropping the oldest item if the queue is full. Only the
// Hub's fan-out sends, so the loop ends: each turn either sends or makes
// room.
func (s *Subscription[T]) offer(v T) {
	for {
		select {
		case s.ch <- v:
			return
		default:
		}
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default:
		}
	}
}

// tryOffer queues v if there is room.
func (s *Subscription[T]) tryOffer(v T) bool {
	select {
	case s.ch <- v:
		return true
	default:
		return false
	}
}

// drain empties the queue, counting what it drops.
func (s *Subscription[T]) drain() {
	for {
		select {
		case <-s.ch:
			s.dropped.Add(1)
		default:
			return
		}
	}
}

// end closes the channel once; the caller holds the Hub's mu.
func (s *Subscription[T]) end(err error) {
	if !s.ended {
		if err != nil {
			s.failure.Store(&err)
		}
		s.ended = true
		close(s.ch)
	}
}
