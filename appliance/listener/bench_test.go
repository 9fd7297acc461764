package listener

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
)

// BenchmarkOfflineDetection cuts the network 20 times under a kept-up
// session and reports the time to "offline" (median, max) and to "online"
// again after the network returns (median, max), at the default 1 s
// heartbeat. Goals: max detection 3.5 s; median reconnection under 1 s.
func BenchmarkOfflineDetection(b *testing.B) {
	const trials = 20
	_, l, m, r := setup(b)
	s := l.Start(m, SessionOptions{})
	defer s.Close()
	ev := watch(b, s, SubscribeOptions{})
	wait := func(want Presence) { ev.until(10*time.Second, want.String(), isPresence(want)) }
	wait(Online)
	var detect, reconnect []time.Duration
	b.ResetTimer()
	for range b.N {
		for range trials {
			time.Sleep(300 * time.Millisecond) // let RTT settle between trials
			cut := time.Now()
			r.blocked.Store(true)
			wait(Offline)
			detect = append(detect, time.Since(cut))
			back := time.Now()
			r.blocked.Store(false)
			wait(Online)
			reconnect = append(reconnect, time.Since(back))
		}
	}
	b.StopTimer()
	report(b, "detect", detect)
	report(b, "reconnect", reconnect)
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Milliseconds()), name+"-median-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Milliseconds()), name+"-max-ms")
}

// BenchmarkHeartbeatCost keeps 10 idle trusted connections for 10 s and
// reports the heartbeat's bytes on the wire and CPU time per connection
// per minute (both ends, as they run in this one process).
func BenchmarkHeartbeatCost(b *testing.B) {
	const conns, period = 10, 10 * time.Second
	_, l, m, r := setup(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range b.N {
		var live []func()
		for range conns {
			c, _, err := l.Dial(ctx, PairedMonitor{Address: r.addr(), Fingerprint: m.Fingerprint})
			if err != nil {
				b.Fatal(err)
			}
			live = append(live, func() { c.Close(0, "") })
		}
		time.Sleep(500 * time.Millisecond) // past the handshakes
		bytes0, cpu0 := r.bytes.Load(), cpuTime()
		time.Sleep(period)
		bytes, cpu := r.bytes.Load()-bytes0, cpuTime()-cpu0
		perMin := float64(time.Minute) / float64(period) / conns
		b.ReportMetric(float64(bytes)*perMin, "bytes/conn-min")
		b.ReportMetric(float64(cpu.Microseconds())/1000*perMin, "cpu-ms/conn-min")
		for _, f := range live {
			f()
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAlarmOnset measures how soon the alarm is raised: after the
// monitor's audio stops while the link stays up (10 stalls of its test
// source; goal at most 500 ms after the last packet), and after the
// network is cut (5 cuts; goal: link lost within 3.5 s).
func BenchmarkAlarmOnset(b *testing.B) {
	b.Run("audio-stops", func(b *testing.B) {
		_, l, m, _ := setup(b, monitor.Config{Media: media.ModeTest, MediaConfig: media.Config{TestAudio: "tone:1s,stall:1500ms"}, History: monitor.HistoryConfig{Off: true}})
		s := l.Start(m, SessionOptions{Stream: StreamAudio})
		defer s.Close()
		ev := watch(b, s, SubscribeOptions{Audio: true})
		var onsets []time.Duration
		for range b.N {
			for range 10 {
				var last time.Time
				a := ev.until(10*time.Second, "audio-lost alarm", func(e Event) bool {
					if m, ok := e.(MediaEvent); ok {
						last = m.Arrived
					}
					a, ok := e.(AlarmEvent)
					return ok && a.State.Active
				}).(AlarmEvent)
				if a.State.Reason != alarm.AudioLost {
					b.Fatalf("alarm %v, want audio lost", a.State.Reason)
				}
				onsets = append(onsets, a.State.Since.Sub(last))
				ev.until(5*time.Second, "alarm cleared", isAlarm(false, alarm.None))
			}
		}
		report(b, "audio-lost-onset", onsets)
	})
	b.Run("link-cut", func(b *testing.B) {
		_, l, m, r := setup(b)
		s := l.Start(m, SessionOptions{Stream: StreamAudio})
		defer s.Close()
		ev := watch(b, s, SubscribeOptions{Audio: true})
		ev.until(5*time.Second, "audio", isAudio)
		var onsets []time.Duration
		for range b.N {
			for range 5 {
				time.Sleep(300 * time.Millisecond)
				cut := time.Now()
				r.blocked.Store(true)
				ev.until(5*time.Second, "link-lost alarm", isAlarm(true, alarm.LinkLost))
				onsets = append(onsets, time.Since(cut))
				r.blocked.Store(false)
				ev.until(10*time.Second, "alarm cleared", isAlarm(false, alarm.None))
			}
		}
		report(b, "link-lost-onset", onsets)
	})
}
