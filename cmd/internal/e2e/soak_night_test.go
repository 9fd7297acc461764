package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// procSample is what /proc says of one process.
type procSample struct {
	rssKB   int64
	threads int
	fds     int
}

func sampleProc(t *testing.T, pid int) procSample {
	t.Helper()
	st := procStatusKB(pid)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil || len(st) == 0 {
		t.Fatalf("process %d: %v", pid, err)
	}
	return procSample{rssKB: st["VmRSS:"], threads: int(st["Threads:"]), fds: len(fds)}
}

func (s procSample) String() string {
	return fmt.Sprintf("RSS %.1f MB, %d threads, %d fds", float64(s.rssKB)/1024, s.threads, s.fds)
}

// nightSample is one minute of TestSoakNightStream.
type nightSample struct {
	at                  time.Duration // since the stream began
	monitor, cli, probe procSample
	tick                probeTick     // the probe's latest tick
	offset              time.Duration // the least over the minute
	phase               time.Duration // the median over the minute
	hasOffset, hasPhase bool
}

// TestSoakNightStream (make soak): one long stream, CRADLE_SOAK_STREAM
// (a Go duration, 1h by default), from the real monitor on loopback to
// two listeners: the real `cradle listen --output none`, and the probe
// (the listener library in a helper process, probe_test.go), which also
// reports its goroutines and each packet's arrival against its RTP
// timestamp. Every minute (or every tenth of a short run) it samples
// each process's RSS, threads and open fds. After the warm-up (5 min,
// or half a short run): open fds stay within ±2, RSS grows less than
// 10 MB, the probe's goroutines stay within ±10, and the latency from
// capture to decoded audio drifts less than 50 ms (timed by the scripted
// tone's silence-to-tone edges, the median of a minute's); the stream
// never restarts and the monitor never goes offline.
func TestSoakNightStream(t *testing.T) {
	if os.Getenv("CRADLE_SOAK") == "" {
		t.Skip("soak test: run with make soak")
	}
	dur := time.Hour
	if v := os.Getenv("CRADLE_SOAK_STREAM"); v != "" {
		var err error
		if dur, err = time.ParseDuration(v); err != nil || dur < time.Minute {
			t.Fatalf("CRADLE_SOAK_STREAM=%q: want a Go duration of at least 1m", v)
		}
	}
	// make soak runs every soak test in one binary under one -timeout:
	// a stream that would not end in time is cut short (and says so)
	// rather than panic the binary.
	if dl, ok := t.Deadline(); ok {
		if room := time.Until(dl) - 2*time.Minute; room < dur {
			if room < time.Minute {
				t.Fatalf("only %v left before the -timeout: no room for the stream", time.Until(dl).Round(time.Second))
			}
			t.Logf("CRADLE_SOAK_STREAM=%v does not fit before the -timeout: streaming %v only", dur, room.Round(time.Second))
			dur = room.Truncate(time.Minute)
		}
	}
	every := min(time.Minute, dur/10)
	warm := min(5*time.Minute, dur/2)

	dir := t.TempDir()
	// The tone's silence-to-tone edges, every 2 s on the monitor's clock,
	// time the latency.
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0", "--media", "test", "--test-audio", "silence:1s,tone:1s", "--log-level", "warn")
	code := mon.code(t)
	var states []string
	for _, name := range []string{"cli", "probe"} {
		sd := filepath.Join(dir, name)
		mon.admin(t, "pair")
		mustRun(t, nil, "cradle", "--state-dir", sd, "--name", name, "pair", mon.addr, "--code", code)
		states = append(states, sd)
	}
	cli := start(t, nil, "cradle", "--state-dir", states[0], "listen", "Nursery", "--output", "none")
	probe := startProbe(t, nil, "listen", states[1], "Nursery", "2s")
	cli.waitLine(0, regexp.MustCompile(`first audio`), 15*time.Second)
	probe.waitLine(0, regexp.MustCompile(`^first audio`), 15*time.Second)
	began := time.Now()

	var samples []nightSample
	from := len(probe.snapshot(0))
	for next := every; ; next += every {
		select {
		case <-time.After(time.Until(began.Add(next))):
		case <-cli.done:
			t.Fatalf("cradle listen exited: %v", cli.err)
		case <-probe.done:
			t.Fatalf("the probe exited: %v\n%s", probe.err, probe.stderrText())
		case <-mon.done:
			t.Fatalf("cradled exited: %v", mon.err)
		}
		s := nightSample{at: time.Since(began).Round(time.Second),
			monitor: sampleProc(t, mon.cmd.Process.Pid), cli: sampleProc(t, cli.cmd.Process.Pid), probe: sampleProc(t, probe.cmd.Process.Pid)}
		lines := probe.snapshot(from)
		from += len(lines)
		var phases []time.Duration
		for _, l := range lines {
			pt, ok := parseTick(l)
			if !ok {
				continue
			}
			s.tick = pt
			if pt.hasOffset && (!s.hasOffset || pt.offset < s.offset) {
				s.offset, s.hasOffset = pt.offset, true
			}
			if pt.hasPhase {
				phases = append(phases, pt.phase)
			}
		}
		if len(phases) > 0 {
			slices.Sort(phases)
			s.phase, s.hasPhase = phases[len(phases)/2], true
		}
		samples = append(samples, s)
		t.Logf("%8v  monitor %v | cradle listen %v | probe %v, %d goroutines, heap %.1f MB; latency %v, RTP offset %v; %d packets (load %s)",
			s.at, s.monitor, s.cli, s.probe, s.tick.goroutines, float64(s.tick.heapKB)/1024, s.phase.Round(10*time.Microsecond), s.offset.Round(10*time.Microsecond), s.tick.packets, loadavg())
		if next >= dur {
			break
		}
	}

	// The stream ran without a break: no offline, no restart.
	trouble := regexp.MustCompile(`offline|interrupted|failed|stopped`)
	for _, p := range []*proc{cli, probe} {
		for _, l := range p.snapshot(0) {
			if trouble.MatchString(l) {
				t.Errorf("the stream broke: %q", l)
			}
		}
	}
	// The longest gap in the audio, and the alarms (reported).
	var gap time.Duration
	alarms := 0
	for _, l := range probe.snapshot(0) {
		if pt, ok := parseTick(l); ok {
			gap = max(gap, pt.gap)
		} else if strings.HasPrefix(l, "alarm ") && strings.Contains(l, "sounding=true") {
			alarms++
		}
	}
	last := samples[len(samples)-1]
	var base nightSample // the first sample after the warm-up
	for _, s := range samples {
		if s.at >= warm {
			base = s
			break
		}
	}
	first := samples[0]
	drift := last.phase - first.phase
	rtpDrift := last.offset - first.offset
	t.Logf("%v of stream, %d audio packets (%.1f/s), longest gap %v, %d alarms sounded", last.at, last.tick.packets, float64(last.tick.packets)/last.at.Seconds(), gap, alarms)
	t.Logf("latency drift %v (capture to decoded audio, relative to the first edge: %v in the first %v, %v in the last)", drift.Round(10*time.Microsecond), first.phase.Round(10*time.Microsecond), every, last.phase.Round(10*time.Microsecond))
	t.Logf("RTP offset drift %v (arrival against RTP time: it also counts the frames the monitor dropped)", rtpDrift.Round(10*time.Microsecond))
	for _, p := range []struct {
		name       string
		base, last procSample
	}{{"cradled", base.monitor, last.monitor}, {"cradle listen", base.cli, last.cli}, {"probe", base.probe, last.probe}} {
		growth := float64(p.last.rssKB-p.base.rssKB) / 1024
		t.Logf("%s after %v: %v; at %v: %v (RSS %+.1f MB, threads %+d, fds %+d)", p.name, base.at, p.base, last.at, p.last, growth, p.last.threads-p.base.threads, p.last.fds-p.base.fds)
		if d := p.last.fds - p.base.fds; d > 2 || d < -2 {
			t.Errorf("%s: %d open fds after the warm-up, %d at the end: want within ±2", p.name, p.base.fds, p.last.fds)
		}
		if growth >= 10 {
			t.Errorf("%s: RSS grew %.1f MB after the warm-up, want under 10 MB", p.name, growth)
		}
	}
	if d := last.tick.goroutines - base.tick.goroutines; d > 10 || d < -10 {
		t.Errorf("probe: %d goroutines after the warm-up, %d at the end: want within ±10", base.tick.goroutines, last.tick.goroutines)
	}
	if !first.hasPhase || !last.hasPhase {
		t.Errorf("no latency measured (first %v, last %v)", first.hasPhase, last.hasPhase)
	} else if drift > 50*time.Millisecond || drift < -50*time.Millisecond {
		t.Errorf("the audio latency drifted %v over %v, want within 50ms", drift, last.at)
	}
}
