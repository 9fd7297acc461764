package media

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cradle-monitor/cradle/media/fanout"
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
// levels, a fanout.Subscription underneath. Its queue is bounded and
// follows the fan-out's overflow rule (every item may be dropped): a
// subscriber that falls behind loses its oldest items (audio and levels:
// the newest matter most). Video adds a resync rule, the Hub's: a
// subscriber whose queue was full when a frame came skips the frames up to
// the next key frame, which the Hub then asks for. The channel is closed
// when the subscription ends (Close, Hub.Close, or a failure that Err
// reports) and what was queued has been read.
type Subscription[T any] struct {
	fs    *fanout.Subscription[T]
	unsub func()
	once  sync.Once

	// Video only: the subscriber's own fan-out, fed through the key-frame
	// gate; guarded by the Hub's mu.
	own     *fanout.Fanout[T]
	size    int
	waitKey bool // skip frames until a key frame
	skipped atomic.Uint64
}

// C delivers the items in order; it is closed when the subscription ends.
func (s *Subscription[T]) C() <-chan T { return s.fs.C() }

// Err says why the subscription ended: nil while it runs and after Close,
// ErrClosed after Hub.Close, or the failure that ended it.
func (s *Subscription[T]) Err() error { return s.fs.Err() }

// Dropped counts the items this subscriber lost because it fell behind.
func (s *Subscription[T]) Dropped() uint64 { return s.fs.Dropped() + s.skipped.Load() }

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
