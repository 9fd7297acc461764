package play

import (
	"testing"
	"time"
)

// BenchmarkPlayerPath measures a frame's way from Write to the device on
// a paced TestSink: each op writes one 10 ms frame and waits until its
// first sample is handed to the sink. It reports the latency.
func BenchmarkPlayerPath(b *testing.B) {
	sink := NewTestSink(10 * time.Millisecond)
	played := make(chan time.Time, 1)
	p, err := NewPlayer(sink, Config{OnPlayed: func(_ uint32, at time.Time) {
		select {
		case played <- at:
		default:
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	frames := make([]Frame, 100)
	for i := range frames {
		frames[i] = frame10(i, 0.3)
	}
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		f := frames[i%len(frames)]
		f.TS = uint32(i * 480)
		start := time.Now()
		p.Write(f)
		at := <-played
		total += at.Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-write-to-device")
	st := p.Stats()
	b.ReportMetric(float64(st.Jitter.Underruns), "underruns")
}

// BenchmarkMix measures the device callback's work for one 10 ms period
// with the nursery, the alarm and a chime playing (TestMixDoesNotAllocate
// holds it to no allocation).
func BenchmarkMix(b *testing.B) {
	out := &manualOutput{clock: &fakeClock{now: t0}}
	p, err := NewPlayer(out, Config{Now: out.clock.Now, VOX: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.SetAlarm(true)
	f := frame10(0, 0.3)
	buf := make([]int16, 480)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f.TS = uint32(i * 480)
		p.Write(f)
		if i%50 == 0 {
			p.Chime()
		}
		out.clock.advance(10 * time.Millisecond)
		out.fill(buf)
	}
}

// TestMixDoesNotAllocate holds the device callback to what BenchmarkMix
// measures: once the buffers are warm, a period allocates nothing.
func TestMixDoesNotAllocate(t *testing.T) {
	out := &manualOutput{clock: &fakeClock{now: t0}}
	p, err := NewPlayer(out, Config{Now: out.clock.Now, VOX: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetAlarm(true)
	p.Chime()
	f := frame10(0, 0.3)
	buf := make([]int16, 480)
	i := 0
	period := func() {
		f.TS = uint32(i * 480)
		i++
		p.Write(f)
		out.clock.advance(10 * time.Millisecond)
		out.fill(buf)
	}
	for range 200 { // fill every jitter slot's buffer once
		period()
	}
	if n := testing.AllocsPerRun(200, period); n != 0 {
		t.Errorf("a period allocates %v times, want 0", n)
	}
}
