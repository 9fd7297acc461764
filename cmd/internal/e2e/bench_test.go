package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// BenchmarkMonitorResources runs the real cradled (--media test) and
// reports its CPU (percent of one core) and resident memory while 1 and
// 4 listeners stream audio, and 1 streams audio and video, over 10 s.
// Goal: RSS under 60 MB with 4 audio listeners.
func BenchmarkMonitorResources(b *testing.B) {
	for _, tc := range []struct {
		name      string
		listeners int
		video     bool
	}{{"audio-1", 1, false}, {"audio-4", 4, false}, {"video-1", 1, true}} {
		b.Run(tc.name, func(b *testing.B) {
			t := b
			dir := b.TempDir()
			p := start(t, nil, "cradled", "--state-dir", filepath.Join(dir, "m"), "--listen", "127.0.0.1:0", "--page-listen", "127.0.0.1:0", "--media", "test", "--log-level", "warn")
			defer p.kill()
			_, line := p.waitLine(0, servingRE, 20*time.Second)
			addr := servingRE.FindStringSubmatch(line)[1]
			mon := &monitor{proc: p, state: filepath.Join(dir, "m"), addr: addr}
			code := mon.code(t)
			var stops []func()
			for i := range tc.listeners {
				sd := filepath.Join(dir, fmt.Sprint("l", i))
				mon.admin(t, "pair")
				mustRun(t, nil, "cradle", "--state-dir", sd, "pair", addr, "--code", code)
				l, err := listener.Open(listener.Config{StateDir: sd})
				if err != nil {
					b.Fatal(err)
				}
				m, err := l.Resolve(addr)
				if err != nil {
					b.Fatal(err)
				}
				mode := listener.StreamAudio
				if tc.video {
					mode = listener.StreamAudioVideo
				}
				s := l.Start(m, listener.SessionOptions{Stream: mode})
				stops = append(stops, func() { s.Close() })
			}
			time.Sleep(2 * time.Second) // streams up, capture warm
			reportProcess(b, p.cmd.Process.Pid, 10*time.Second)
			for _, s := range stops {
				s()
			}
		})
	}
}

// reportProcess measures process pid for d and reports its CPU (percent
// of one core) and its resident memory, now and at its peak.
func reportProcess(b *testing.B, pid int, d time.Duration) {
	cpu0, at0 := procCPU(b, pid), time.Now()
	time.Sleep(d)
	cpu1, at1 := procCPU(b, pid), time.Now()
	rss, hwm := procMem(b, pid)
	b.ReportMetric(100*float64(cpu1-cpu0)/float64(at1.Sub(at0)), "cpu-%")
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(hwm)/1024, "rss-peak-MB")
}

// procCPU is a process's user+system CPU time.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// procMem is a process's resident set and its peak, in KiB.
func procMem(b *testing.B, pid int) (rss, hwm int64) {
	st := procStatusKB(pid)
	if len(st) == 0 {
		b.Fatalf("process %d is gone", pid)
	}
	return st["VmRSS:"], st["VmHWM:"]
}

// BenchmarkListenerPlaying runs the real `cradle listen` playing the
// monitor's tone through PulseAudio (a null sink the benchmark starts)
// and reports the listener's CPU (percent of one core) and resident
// memory over 10 s.
func BenchmarkListenerPlaying(b *testing.B) {
	srv := pulsetest.Start(b)
	srv.Setenv(b)
	for range b.N {
		dir := b.TempDir()
		mon := startMonitor(b, nil, filepath.Join(dir, "m"), "127.0.0.1:0", "--media", "test", "--log-level", "warn")
		lis := []string{"--state-dir", filepath.Join(dir, "l")}
		mon.admin(b, "pair")
		mustRun(b, nil, "cradle", append(lis, "pair", mon.addr, "--code", mon.code(b))...)
		w := start(b, nil, "cradle", append(lis, "listen", "Nursery")...)
		w.waitLine(0, connectedRE, 10*time.Second)
		time.Sleep(2 * time.Second)
		reportProcess(b, w.cmd.Process.Pid, 10*time.Second)
		w.kill()
		mon.kill()
	}
}
