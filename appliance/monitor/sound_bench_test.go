package monitor

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// BenchmarkSoothingSoundCPU measures the monitor's CPU (this process:
// the monitor, its microphone and history, the generator, the mixer and
// miniaudio's thread; not the PulseAudio server) over 2 s with nothing
// playing, then 2 s while each sound plays into PulseAudio's null sink.
// cpu-% is one core's percent.
func BenchmarkSoothingSoundCPU(b *testing.B) {
	srv := pulsetest.Start(b)
	srv.Setenv(b)
	dev, err := play.OpenDevice("")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(Config{StateDir: b.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: dev})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	l, mon := pairedListener(b, m, "bench")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	const window = 2 * time.Second
	measure := func() float64 {
		t0, cpu0 := time.Now(), benchCPU()
		time.Sleep(window)
		return 100 * float64(benchCPU()-cpu0) / float64(time.Since(t0))
	}
	time.Sleep(500 * time.Millisecond) // past the pairing
	idle := measure()
	for _, sound := range control.Sounds {
		b.Run(sound, func(b *testing.B) {
			var busy float64
			for range b.N {
				time.Sleep(defaultSoundStartInterval) // the rate limit
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := s.StartSound(ctx, sound, 0)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(200 * time.Millisecond) // started
				busy = measure()
			}
			b.ReportMetric(idle, "idle-cpu-%")
			b.ReportMetric(busy, "playing-cpu-%")
			b.ReportMetric(busy-idle, "sound-cpu-%")
		})
	}
}

func benchCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
