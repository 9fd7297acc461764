package play

import (
	"time"

	"github.com/cradle-monitor/cradle/media"
)

// Jitter buffer tuning. The rules are in Jitter's doc comment.
const (
	// jitterSlots bounds the frames held; jitterMaxSamples the audio.
	jitterSlots      = 128
	jitterMaxSamples = media.SampleRate // 1 s
	// devWindow is how many recent arrivals the deviation percentile
	// covers; devBins the 1 ms bins of its histogram (the last bin
	// collects everything longer).
	devWindow = 500
	devBins   = 256
	// boostDecay: the underrun boost falls by 1 ms every boostDecay of
	// playing.
	boostDecay = 2 * time.Second
	// catchUpMargin and catchUpAfter: buffered audio more than
	// catchUpMargin over the target for catchUpAfter is caught up.
	catchUpMargin = 20 * time.Millisecond
	catchUpAfter  = 200 * time.Millisecond
	// restartSamples: a timestamp this far from the expected one starts a
	// new stream (the monitor restarted) instead of counting as late.
	restartSamples = media.SampleRate
)

// JitterConfig configures a Jitter buffer. Zero values take the defaults.
type JitterConfig struct {
	// Min and Max bound the target depth (defaults 10 ms and 120 ms).
	Min, Max time.Duration
	// Period is the output device's period: the audio Pull asks for at a
	// time (default 10 ms). It is part of every target.
	Period time.Duration
	// OnFrameStart, if set, is called from Pull when the first sample of
	// a frame is handed out, with the frame's RTP timestamp.
	OnFrameStart func(ts uint32)
}

func (c *JitterConfig) fill() {
	if c.Min <= 0 {
		c.Min = 10 * time.Millisecond
	}
	if c.Max <= 0 {
		c.Max = 120 * time.Millisecond
	}
	c.Max = max(c.Max, c.Min)
	if c.Period <= 0 {
		c.Period = 10 * time.Millisecond
	}
}

// JitterStats is a snapshot of a Jitter buffer.
type JitterStats struct {
	// Depth is the audio buffered now; Target the depth playback starts
	// at and catch-up returns to.
	Depth, Target time.Duration
	// Jitter is the 95th percentile of the arrival deviation over the
	// recent frames; Boost what underruns added to the target.
	Jitter, Boost time.Duration
	// Playing is false while (re)buffering.
	Playing bool
	// Underruns counts the times the buffer ran dry while playing.
	Underruns uint64
	// Dropped counts frames dropped to catch up; Overflow frames dropped
	// because the buffer was full; Late frames that arrived after their
	// place had been played (or duplicates).
	Dropped, Overflow, Late uint64
}

type jitterSlot struct {
	pcm []int16
	ts  uint32
	off int     // samples already handed out
	rms float64 // dBFS, to drop quiet frames first
}

// Jitter is an adaptive jitter buffer for one stream of 48 kHz mono
// frames. It is a pure core: the caller passes the time and serialises
// the calls (it is not safe for concurrent use).
//
// The rules:
//
//   - Frames are queued in arrival order. A frame whose timestamp is
//     before the end of the previous one is late (or a duplicate) and
//     dropped; one more than a second away starts a new stream.
//   - The arrival deviation of each frame, |Δarrival − Δtimestamp| from
//     the previous frame (RFC 3550's D), goes into a histogram of the last
//     500 frames. The target depth is Period + 2 × its 95th percentile +
//     the underrun boost, clamped to [Min, Max].
//   - Pull hands out silence until the target is buffered, then plays.
//     If the buffer runs dry while playing, the rest of dst is silence,
//     the underrun is counted, the boost grows by one Period, and the
//     buffer refills to the (higher) target before playing again. The
//     boost falls back by 1 ms every 2 s of playing.
//   - After each Pull, if the buffered audio has stayed more than 20 ms
//     over the target for 200 ms, one whole frame is dropped (the quietest
//     queued frame that keeps the depth at or over the target), so latency
//     returns to the target at up to twice real time and never creeps up
//     over a night.
//   - At most 128 frames or 1 s of audio are held; beyond that the oldest
//     frame is dropped (Overflow).
type Jitter struct {
	cfg JitterConfig

	slots    [jitterSlots]jitterSlot // ring
	head, n  int
	buffered int // samples
	playing  bool

	haveTS  bool
	nextTS  uint32 // end of the last queued frame
	lastArr time.Time
	lastTS  uint32

	hist   [devBins]uint16
	ring   [devWindow]uint8
	ringN  int
	ringAt int

	boost     time.Duration
	lastPull  time.Time
	overSince time.Time

	underruns, dropped, overflow, late uint64
}

// NewJitter returns an empty buffer.
func NewJitter(cfg JitterConfig) *Jitter {
	cfg.fill()
	return &Jitter{cfg: cfg}
}

func samplesOf(d time.Duration) int {
	return int(int64(d) * media.SampleRate / int64(time.Second))
}

func durationOf(n int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / media.SampleRate)
}

// Push queues a frame that arrived at arrived. It copies f.PCM.
func (j *Jitter) Push(f Frame, arrived time.Time) {
	if len(f.PCM) == 0 {
		return
	}
	if j.haveTS {
		d := int32(f.TS - j.nextTS)
		switch {
		case d <= -restartSamples || d >= restartSamples:
			// A new stream: forget the old one's timing.
			j.lastArr = time.Time{}
		case d < 0:
			j.late++
			return
		}
	}
	if !j.lastArr.IsZero() {
		dev := arrived.Sub(j.lastArr) - durationOf(int(int32(f.TS-j.lastTS)))
		j.addDeviation(max(dev, -dev))
	}
	j.lastArr, j.lastTS = arrived, f.TS
	j.nextTS, j.haveTS = f.TS+uint32(len(f.PCM)), true

	for j.n > 0 && (j.n == jitterSlots || j.buffered+len(f.PCM) > jitterMaxSamples) {
		j.remove(0)
		j.overflow++
	}
	s := j.slot(j.n)
	s.pcm = append(s.pcm[:0], f.PCM...)
	s.ts, s.off = f.TS, 0
	s.rms, _ = media.Measure(f.PCM)
	j.n++
	j.buffered += len(f.PCM)
}

func (j *Jitter) slot(i int) *jitterSlot { return &j.slots[(j.head+i)%jitterSlots] }

// remove takes the i-th queued frame out, keeping the order of the rest.
func (j *Jitter) remove(i int) {
	s := j.slot(i)
	j.buffered -= len(s.pcm) - s.off
	if i == 0 {
		j.head = (j.head + 1) % jitterSlots
		j.n--
		return
	}
	for ; i < j.n-1; i++ {
		a, b := j.slot(i), j.slot(i+1)
		*a, *b = *b, *a // swap keeps each slot's buffer for reuse
	}
	j.n--
}

func (j *Jitter) addDeviation(d time.Duration) {
	bin := uint8(min(int64(d/time.Millisecond), devBins-1))
	if j.ringN == devWindow {
		j.hist[j.ring[j.ringAt]]--
	} else {
		j.ringN++
	}
	j.ring[j.ringAt] = bin
	j.hist[bin]++
	j.ringAt = (j.ringAt + 1) % devWindow
}

// p95 returns the 95th percentile of the recent deviations.
func (j *Jitter) p95() time.Duration {
	if j.ringN == 0 {
		return 0
	}
	want := (j.ringN*95 + 99) / 100
	seen := 0
	for bin, c := range j.hist {
		seen += int(c)
		if seen >= want {
			return time.Duration(bin) * time.Millisecond
		}
	}
	return (devBins - 1) * time.Millisecond
}

func (j *Jitter) target() time.Duration {
	return min(max(j.cfg.Period+2*j.p95()+j.boost, j.cfg.Min), j.cfg.Max)
}

// Pull fills dst with the next samples and returns how many came from
// frames; the rest of dst is silence.
func (j *Jitter) Pull(dst []int16, now time.Time) int {
	if j.playing && !j.lastPull.IsZero() && j.boost > 0 {
		j.boost = max(0, j.boost-now.Sub(j.lastPull)/(boostDecay/time.Millisecond))
	}
	j.lastPull = now
	target := samplesOf(j.target())
	if !j.playing {
		if j.buffered < max(target, len(dst)) {
			clear(dst)
			return 0
		}
		j.playing = true
	}
	n := 0
	for n < len(dst) && j.n > 0 {
		s := j.slot(0)
		if s.off == 0 && j.cfg.OnFrameStart != nil {
			j.cfg.OnFrameStart(s.ts)
		}
		c := copy(dst[n:], s.pcm[s.off:])
		s.off += c
		n += c
		j.buffered -= c
		if s.off == len(s.pcm) {
			j.head = (j.head + 1) % jitterSlots
			j.n--
		}
	}
	if n < len(dst) {
		clear(dst[n:])
		j.underruns++
		j.playing = false
		j.boost = min(j.boost+j.cfg.Period, j.cfg.Max)
		j.overSince = time.Time{}
		return n
	}
	j.catchUp(target, now)
	return n
}

func (j *Jitter) catchUp(target int, now time.Time) {
	if j.buffered <= target+samplesOf(catchUpMargin) {
		j.overSince = time.Time{}
		return
	}
	if j.overSince.IsZero() {
		j.overSince = now
	}
	if now.Sub(j.overSince) < catchUpAfter {
		return
	}
	best := -1
	for i := range j.n {
		s := j.slot(i)
		if s.off != 0 || j.buffered-len(s.pcm) < target {
			continue
		}
		if best < 0 || s.rms < j.slot(best).rms {
			best = i
		}
	}
	if best >= 0 {
		j.remove(best)
		j.dropped++
	}
}

// Trim drops whole frames, the quietest first, until the buffered audio
// is at most the target: for a caller that held its playback back (a
// chime before a voice) and must not carry that delay on. The frames
// dropped count in Dropped.
func (j *Jitter) Trim() {
	target := samplesOf(j.target())
	for j.buffered > target {
		best := -1
		for i := range j.n {
			s := j.slot(i)
			if s.off != 0 {
				continue
			}
			if best < 0 || s.rms < j.slot(best).rms {
				best = i
			}
		}
		if best < 0 {
			return
		}
		j.remove(best)
		j.dropped++
	}
}

// Stats returns a snapshot.
func (j *Jitter) Stats() JitterStats {
	return JitterStats{
		Depth:     durationOf(j.buffered),
		Target:    j.target(),
		Jitter:    j.p95(),
		Boost:     j.boost,
		Playing:   j.playing,
		Underruns: j.underruns,
		Dropped:   j.dropped,
		Overflow:  j.overflow,
		Late:      j.late,
	}
}
