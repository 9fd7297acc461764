package monitor

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// BenchmarkFirstAudio: from a listener starting (dial included) to its
// first audio packet, 20 runs on loopback, capture cold each time.
// Goal: median under 150 ms.
func BenchmarkFirstAudio(b *testing.B) {
	_, l, mon := benchSetup(b)
	var runs []time.Duration
	for range b.N {
		for range 20 {
			start := time.Now()
			s := l.Start(mon, listener.SessionOptions{Stream: listener.StreamAudio})
			sub := s.Subscribe(listener.SubscribeOptions{Audio: true})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					b.Fatal("no audio within 5s")
				}
				if m, ok := ev.(listener.MediaEvent); ok && m.First {
					runs = append(runs, m.Arrived.Sub(start))
					break
				}
			}
			cancel()
			s.Close()
		}
	}
	slices.Sort(runs)
	b.ReportMetric(float64(runs[len(runs)/2].Microseconds())/1000, "first-audio-median-ms")
	b.ReportMetric(float64(runs[len(runs)-1].Microseconds())/1000, "first-audio-max-ms")
}

// BenchmarkCaptureToPacket: from a sample captured (the first PCM sample
// of an Opus frame) to its RTP packet received by a listener, matched by
// payload. Goal: median under 30 ms.
func BenchmarkCaptureToPacket(b *testing.B) {
	m, l, mon := benchSetup(b)
	var mu sync.Mutex
	captured := map[string]time.Time{}
	hook := func(s media.Sample) {
		mu.Lock()
		captured[string(s.Data)] = s.Captured
		mu.Unlock()
	}
	m.tracks.onWrite.Store(&hook)
	var lat []time.Duration
	s := l.Start(mon, listener.SessionOptions{Stream: listener.StreamAudio})
	sub := s.Subscribe(listener.SubscribeOptions{Audio: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // 300 packets at 10 ms
	b.ResetTimer()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			break
		}
		if p, ok := ev.(listener.MediaEvent); ok {
			mu.Lock()
			if c, ok := captured[string(p.Packet.Payload)]; ok {
				lat = append(lat, p.Arrived.Sub(c))
				delete(captured, string(p.Packet.Payload))
			}
			mu.Unlock()
		}
	}
	b.StopTimer()
	cancel()
	s.Close()
	m.tracks.onWrite.Store(nil)
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < 100 {
		b.Fatalf("only %d packets matched", len(lat))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "capture-to-packet-median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "capture-to-packet-p99-ms")
}

// BenchmarkMouthToEar: from a sample captured at the monitor (the first
// sample of an Opus frame) to the same sample handed to the output device
// at the listener: WebRTC on loopback, the real decoder, the adaptive
// jitter buffer and a paced in-process device with a 10 ms period, for a
// minute (CRADLE_BENCH_SECONDS overrides). Goal: median at most 60 ms.
func BenchmarkMouthToEar(b *testing.B) {
	m, l, mon := benchSetup(b)
	dur := benchDuration(60 * time.Second)
	var mu sync.Mutex
	captured := map[string]time.Time{} // payload → capture time
	byTS := map[uint32]time.Time{}     // RTP timestamp → capture time
	hook := func(s media.Sample) {
		mu.Lock()
		captured[string(s.Data)] = s.Captured
		mu.Unlock()
	}
	m.tracks.onWrite.Store(&hook)
	defer m.tracks.onWrite.Store(nil)
	var lat []time.Duration
	player, err := play.NewPlayer(play.NewTestSink(10*time.Millisecond), play.Config{OnPlayed: func(ts uint32, at time.Time) {
		mu.Lock()
		if c, ok := byTS[ts]; ok {
			lat = append(lat, at.Sub(c))
			delete(byTS, ts)
		}
		mu.Unlock()
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer player.Close()
	s := l.Start(mon, listener.SessionOptions{Stream: listener.StreamAudio})
	defer s.Close()
	sub := s.Subscribe(listener.SubscribeOptions{Audio: true, PCM: true})
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	b.ResetTimer()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			break
		}
		switch ev := ev.(type) {
		case listener.MediaEvent:
			mu.Lock()
			if c, ok := captured[string(ev.Packet.Payload)]; ok {
				byTS[ev.Packet.Timestamp] = c
				delete(captured, string(ev.Packet.Payload))
			}
			mu.Unlock()
		case listener.PCMEvent:
			player.Write(ev.Frame)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < 100 {
		b.Fatalf("only %d frames matched", len(lat))
	}
	st := player.Stats()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "mouth-to-ear-median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "mouth-to-ear-p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "mouth-to-ear-max-ms")
	b.ReportMetric(float64(st.Jitter.Underruns), "underruns")
	b.ReportMetric(float64(len(lat)), "frames")
}

// benchDuration is d, or CRADLE_BENCH_SECONDS when set.
func benchDuration(d time.Duration) time.Duration {
	if v, err := strconv.Atoi(os.Getenv("CRADLE_BENCH_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return d
}

func benchSetup(b *testing.B) (*Monitor, *listener.Listener, listener.PairedMonitor) {
	b.Helper()
	m, err := Open(Config{StateDir: b.TempDir(), Listen: "127.0.0.1:0", limits: pairing.WindowConfig{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	l, err := listener.Open(listener.Config{StateDir: b.TempDir(), Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	m.OpenPairing(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mon, err := l.Pair(ctx, listener.PairRequest{Target: m.Addr().String(), Code: m.SetupCode()})
	if err != nil {
		b.Fatal(err)
	}
	return m, l, mon
}
