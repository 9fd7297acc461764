package monitor

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// markerMic is a talker's microphone for the benchmarks: 10 ms chunks
// paced in real time, silence but for a 50 ms burst of 700 Hz every
// 400 ms (after the first second: past the chime); each burst's first
// chunk is timed as it leaves Read (the mouth).
type markerMic struct {
	tick *time.Ticker
	done chan struct{}
	once sync.Once
	n    int

	mu    sync.Mutex
	marks []time.Time
}

func newMarkerMic() *markerMic {
	return &markerMic{tick: time.NewTicker(10 * time.Millisecond), done: make(chan struct{})}
}

func (m *markerMic) Read() ([]int16, error) {
	select {
	case <-m.done:
		return nil, play.ErrInputClosed
	case <-m.tick.C:
	}
	chunk := m.n
	m.n++
	pcm := make([]int16, media.SampleRate/100)
	if k := chunk % 40; chunk >= 100 && k < 5 {
		for i := range pcm {
			pcm[i] = int16(16000 * math.Sin(2*math.Pi*700*float64(k*len(pcm)+i)/media.SampleRate))
		}
		if k == 0 {
			m.mu.Lock()
			m.marks = append(m.marks, time.Now())
			m.mu.Unlock()
		}
	}
	return pcm, nil
}

func (m *markerMic) Close() { m.once.Do(func() { m.tick.Stop(); close(m.done) }) }

// onsetOut is the monitor's speaker for the benchmarks: a paced test
// output that times each period whose samples turn loud after quiet
// ones (where the speaker pulls the marker).
type onsetOut struct {
	*play.TestSink
	mu     sync.Mutex
	loud   bool
	onsets []time.Time
}

func (o *onsetOut) Start(fill func([]int16)) error {
	return o.TestSink.Start(func(dst []int16) {
		fill(dst)
		loud := false
		for _, v := range dst {
			if v > 1000 || v < -1000 {
				loud = true
				break
			}
		}
		o.mu.Lock()
		if loud && !o.loud {
			o.onsets = append(o.onsets, time.Now())
		}
		o.loud = loud
		o.mu.Unlock()
	})
}

// talkBench opens a monitor whose speaker is out, pairs a listener and
// returns its session, online.
func talkBench(b *testing.B, out play.Output) (*Monitor, *listener.Session) {
	m, err := Open(Config{StateDir: b.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: out})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	l, mon := pairedListener(b, m, "bench")
	s := l.Start(mon, listener.SessionOptions{})
	b.Cleanup(func() { s.Close() })
	return m, s
}

// BenchmarkTalkMouthToSpeaker measures push-to-talk's latency, mouth to
// nursery speaker, in one process over loopback: from a marker leaving
// the talker's microphone (Read) to the monitor's speaker output pulling
// its first loud period (a paced 10 ms test output), through the Opus
// encoder, WebRTC, the depacketizer, the voice's jitter buffer and the
// mixer. Reported: the median and the 95th percentile over the markers
// of 6 s of talk.
func BenchmarkTalkMouthToSpeaker(b *testing.B) {
	out := &onsetOut{TestSink: play.NewTestSink(10 * time.Millisecond)}
	_, s := talkBench(b, out)
	var lat []time.Duration
	for range b.N {
		mic := newMarkerMic()
		tk, err := talkOnline(b, s, mic)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(6 * time.Second)
		tk.Stop()
		mic.Close()
		mic.mu.Lock()
		marks := slices.Clone(mic.marks)
		mic.mu.Unlock()
		out.mu.Lock()
		onsets := slices.Clone(out.onsets)
		out.onsets = nil
		out.mu.Unlock()
		for _, mk := range marks {
			for _, on := range onsets {
				if d := on.Sub(mk); d >= 0 && d < 350*time.Millisecond {
					lat = append(lat, d)
					break
				}
			}
		}
		time.Sleep(time.Second) // the gate's tail; the next talk is new
	}
	if len(lat) == 0 {
		b.Fatal("no marker reached the speaker")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(len(lat)), "markers")
}

// BenchmarkTalkCPU measures this process's CPU (the monitor and the
// talker share it: the talker's Opus encoder and WebRTC sender are in
// the figure) over 3 s with a listener connected and nobody talking,
// then 3 s while it talks into a paced test speaker. cpu-% is one
// core's percent.
func BenchmarkTalkCPU(b *testing.B) {
	_, s := talkBench(b, play.NewTestSink(10*time.Millisecond))
	const window = 3 * time.Second
	measure := func() float64 {
		t0, cpu0 := time.Now(), benchCPU()
		time.Sleep(window)
		return 100 * float64(benchCPU()-cpu0) / float64(time.Since(t0))
	}
	time.Sleep(500 * time.Millisecond)
	idle := measure()
	var busy float64
	for range b.N {
		mic := newMarkerMic()
		tk, err := talkOnline(b, s, mic)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // connected, past the chime's start
		busy = measure()
		tk.Stop()
		mic.Close()
		time.Sleep(time.Second)
	}
	b.ReportMetric(idle, "idle-cpu-%")
	b.ReportMetric(busy, "talking-cpu-%")
	b.ReportMetric(busy-idle, "talk-cpu-%")
}
