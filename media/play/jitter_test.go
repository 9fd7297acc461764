package play

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 20, 0, 0, 0, time.UTC)

const ms = time.Millisecond

// frame10 returns the i-th 10 ms frame of a stream: a tone at amplitude
// (0: silence) and timestamp i×480.
func frame10(i int, amplitude float64) Frame {
	pcm := make([]int16, 480)
	for k := range pcm {
		pcm[k] = int16(amplitude * 32767 * math.Sin(2*math.Pi*440*float64(i*480+k)/48000))
	}
	return Frame{PCM: pcm, TS: uint32(i * 480)}
}

// jitterRun replays a script: frame i (10 ms, sent at i×10 ms) arrives at
// arrive(i) (a negative duration: lost), and the device pulls 10 ms every
// 10 ms, at 5 ms past. It returns the stats at the end and the largest
// depth seen after stable (the first pull at or after it).
type jitterRun struct {
	frames int
	arrive func(i int) time.Duration
	amp    func(i int) float64
	stable time.Duration
	// got after the run:
	stats    JitterStats
	maxDepth time.Duration
	maxLate  time.Duration // the largest target seen
	played   []uint32
}

func (r *jitterRun) run(t *testing.T) *Jitter {
	t.Helper()
	var played []uint32
	j := NewJitter(JitterConfig{OnFrameStart: func(ts uint32) { played = append(played, ts) }})
	end := time.Duration(r.frames)*10*ms + 500*ms
	next := 0
	// frames must come in arrival order: arrive is non-decreasing.
	dst := make([]int16, 480)
	for pull := 5 * ms; pull < end; pull += 10 * ms {
		for next < r.frames && r.arrive(next) <= pull {
			if a := r.arrive(next); a >= 0 {
				amp := 0.3
				if r.amp != nil {
					amp = r.amp(next)
				}
				j.Push(frame10(next, amp), t0.Add(a))
			}
			next++
		}
		j.Pull(dst, t0.Add(pull))
		if pull >= r.stable && next < r.frames { // until the stream ends
			st := j.Stats()
			r.maxDepth = max(r.maxDepth, st.Depth)
			r.maxLate = max(r.maxLate, st.Target)
		}
	}
	r.stats = j.Stats()
	r.played = played
	return j
}

func TestJitterSteadyStaysNearMinimum(t *testing.T) {
	r := &jitterRun{frames: 1000, arrive: func(i int) time.Duration { return time.Duration(i) * 10 * ms }}
	r.run(t)
	st := r.stats
	if st.Underruns != 1 { // the stream's end
		t.Errorf("underruns = %d, want 1 (the end of the stream)", st.Underruns)
	}
	if r.maxLate != 10*ms || r.maxDepth > 10*ms {
		t.Errorf("target up to %v, depth up to %v; want 10 ms and at most 10 ms", r.maxLate, r.maxDepth)
	}
	if st.Dropped != 0 || st.Late != 0 || st.Overflow != 0 {
		t.Errorf("dropped %d late %d overflow %d, want none", st.Dropped, st.Late, st.Overflow)
	}
	if len(r.played) != 1000 {
		t.Errorf("played %d frames, want 1000", len(r.played))
	}
}

func TestJitterJitteryRaisesTarget(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	arr := make([]time.Duration, 3000)
	last := time.Duration(0)
	for i := range arr {
		a := time.Duration(i)*10*ms + time.Duration(rng.IntN(40))*ms
		last = max(last, a) // the network keeps the order
		arr[i] = last
	}
	r := &jitterRun{frames: len(arr), arrive: func(i int) time.Duration { return arr[i] }, stable: 10 * time.Second}
	r.run(t)
	st := r.stats
	if st.Target < 40*ms || st.Target > 120*ms {
		t.Errorf("target = %v, want 40 to 120 ms for 0-40 ms of jitter", st.Target)
	}
	if st.Jitter < 15*ms {
		t.Errorf("measured jitter = %v, want at least 15 ms", st.Jitter)
	}
	// Once adapted, it plays without gaps: underruns only while learning
	// and at the end.
	if st.Underruns > 6 {
		t.Errorf("underruns = %d, want at most 6", st.Underruns)
	}
	t.Logf("target %v jitter %v boost %v underruns %d dropped %d max depth %v", st.Target, st.Jitter, st.Boost, st.Underruns, st.Dropped, r.maxDepth)
}

func TestJitterBurstAfterStallIsCaughtUp(t *testing.T) {
	// Steady for 2 s, a 300 ms stall, then the 30 held frames at once
	// and steady again.
	arrive := func(i int) time.Duration {
		a := time.Duration(i) * 10 * ms
		if a >= 2*time.Second && a < 2300*ms {
			return 2300 * ms
		}
		return a
	}
	r := &jitterRun{frames: 600, arrive: arrive, stable: 3500 * ms}
	j := r.run(t)
	st := r.stats
	if st.Underruns < 2 { // the stall and the end
		t.Errorf("underruns = %d, want the stall counted", st.Underruns)
	}
	if st.Dropped < 20 {
		t.Errorf("dropped = %d, want the burst (about 30 frames less the new target) caught up", st.Dropped)
	}
	if r.maxDepth > r.maxLate+catchUpMargin {
		t.Errorf("depth up to %v after catching up, target %v: latency crept", r.maxDepth, r.maxLate)
	}
	_ = j
}

func TestJitterUnderrunCountedAndRaisesTarget(t *testing.T) {
	j := NewJitter(JitterConfig{})
	dst := make([]int16, 480)
	j.Push(frame10(0, 0.3), t0)
	if n := j.Pull(dst, t0.Add(5*ms)); n != 480 {
		t.Fatalf("first pull gave %d samples, want 480", n)
	}
	for i := range dst {
		dst[i] = 1
	}
	if n := j.Pull(dst, t0.Add(15*ms)); n != 0 {
		t.Fatalf("pull of an empty buffer gave %d samples", n)
	}
	for _, s := range dst {
		if s != 0 {
			t.Fatal("an underrun must play silence")
		}
	}
	st := j.Stats()
	if st.Underruns != 1 || st.Playing || st.Target != 20*ms {
		t.Errorf("after an underrun: %+v; want 1 underrun, rebuffering, target 20 ms", st)
	}
	// It rebuffers to the (higher) target before playing again.
	at := 20 * ms
	for i := 1; ; i++ {
		j.Push(frame10(i, 0.3), t0.Add(at))
		before := j.Stats()
		n := j.Pull(dst, t0.Add(at+5*ms))
		if n > 0 {
			if before.Depth < before.Target {
				t.Errorf("played again with %v buffered, under the target %v", before.Depth, before.Target)
			}
			break
		}
		if i > 20 {
			t.Fatal("never played again")
		}
		at += 10 * ms
	}
}

func TestJitterLateAndDuplicateDropped(t *testing.T) {
	j := NewJitter(JitterConfig{})
	j.Push(frame10(0, 0.3), t0)
	j.Push(frame10(1, 0.3), t0.Add(10*ms))
	j.Push(frame10(1, 0.3), t0.Add(11*ms)) // duplicate
	j.Push(frame10(0, 0.3), t0.Add(12*ms)) // late
	if st := j.Stats(); st.Late != 2 || st.Depth != 20*ms {
		t.Errorf("stats %+v, want 2 late and 20 ms buffered", st)
	}
	// A jump of over a second is a new stream, not late.
	j.Push(Frame{PCM: make([]int16, 480), TS: 1 << 30}, t0.Add(20*ms))
	if st := j.Stats(); st.Late != 2 || st.Depth != 30*ms {
		t.Errorf("stats %+v, want the new stream's frame queued", st)
	}
}

func TestJitterDropsQuietFramesFirst(t *testing.T) {
	// A burst of 30 frames after a stall; frames 100 to 129 alternate
	// loud and quiet. Catching up should drop quiet ones.
	arrive := func(i int) time.Duration {
		a := time.Duration(i) * 10 * ms
		if i >= 100 && i < 130 {
			return 1300 * ms
		}
		return a
	}
	amp := func(i int) float64 {
		if i >= 100 && i < 130 && i%2 == 1 {
			return 0.001
		}
		return 0.3
	}
	r := &jitterRun{frames: 300, arrive: arrive, amp: amp}
	r.run(t)
	played := map[uint32]bool{}
	for _, ts := range r.played {
		played[ts] = true
	}
	var quietDropped, loudDropped int
	for i := 100; i < 130; i++ {
		if !played[uint32(i*480)] {
			if amp(i) < 0.01 {
				quietDropped++
			} else {
				loudDropped++
			}
		}
	}
	if quietDropped == 0 || loudDropped > quietDropped/2 {
		t.Errorf("dropped %d quiet and %d loud frames, want mostly quiet ones", quietDropped, loudDropped)
	}
}

// TestJitterNightDoesNotCreep: a sender whose clock runs 0.5 % fast for
// 20 minutes would add 6 s of latency; catch-up keeps it at the target.
func TestJitterNightDoesNotCreep(t *testing.T) {
	n := 120000
	if testing.Short() {
		n = 20000
	}
	r := &jitterRun{frames: n, arrive: func(i int) time.Duration { return time.Duration(i) * 9950 * time.Microsecond }, stable: time.Second}
	r.run(t)
	if r.maxDepth > 10*ms+catchUpMargin+10*ms {
		t.Errorf("depth reached %v over the run, want at most %v", r.maxDepth, 10*ms+catchUpMargin+10*ms)
	}
	if want := uint64(n) / 200 * 9 / 10; r.stats.Dropped < want {
		t.Errorf("dropped %d frames, want about %d", r.stats.Dropped, uint64(n)/200)
	}
}

// TestJitterCalmsDown: after the jitter stops, the target falls back to
// the minimum and so does the depth.
func TestJitterCalmsDown(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	arr := make([]time.Duration, 20000)
	last := time.Duration(0)
	for i := range arr {
		a := time.Duration(i) * 10 * ms
		if i < 1000 {
			a += time.Duration(rng.IntN(50)) * ms
		}
		last = max(last, a)
		arr[i] = last
	}
	r := &jitterRun{frames: len(arr), arrive: func(i int) time.Duration { return arr[i] }, stable: 150 * time.Second}
	r.run(t)
	if r.maxLate > 10*ms || r.maxDepth > 10*ms+catchUpMargin {
		t.Errorf("after calm: target up to %v depth up to %v, want 10 ms and near it", r.maxLate, r.maxDepth)
	}
}
