package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// soakPhase is how long each phase of TestSoakLossy lasts:
// CRADLE_SOAK_PHASE (a Go duration), 75 s by default.
func soakPhase(t *testing.T) time.Duration {
	t.Helper()
	d := 75 * time.Second
	if v := os.Getenv("CRADLE_SOAK_PHASE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 20*time.Second {
			t.Fatalf("CRADLE_SOAK_PHASE=%q: want a Go duration of at least 20s", v)
		}
	}
	return d
}

// phaseStats sums the probe's tick lines of one phase.
type phaseStats struct {
	packets    int
	longestGap time.Duration // between two packets, or a stall at a tick
	offline    int           // presence offline lines
	alarms     int           // alarms that sounded (audio lost, link lost, ...)
	reordered  int
	rttMin     time.Duration
	rttMax     time.Duration
	ticks      int
	events     []string // the probe's other lines: presence, stream, alarm
}

func (s phaseStats) String() string {
	ev := ""
	if len(s.events) > 0 {
		ev = "; " + strings.Join(s.events[:min(len(s.events), 12)], ", ")
		if len(s.events) > 12 {
			ev += fmt.Sprintf(" and %d more", len(s.events)-12)
		}
	}
	return fmt.Sprintf("%d audio packets (%.1f/s), longest gap %v, %d offline, %d alarms sounded, %d reordered, heartbeat RTT %v–%v%s",
		s.packets, float64(s.packets)/float64(max(s.ticks, 1)), s.longestGap, s.offline, s.alarms, s.reordered, s.rttMin, s.rttMax, ev)
}

// probePhase sums the probe's lines of one phase.
func probePhase(lines []string) phaseStats {
	var s phaseStats
	first := true
	var prev probeTick
	for _, l := range lines {
		if strings.HasPrefix(l, "presence offline") {
			s.offline++
		}
		if strings.HasPrefix(l, "alarm ") && strings.Contains(l, "sounding=true") {
			s.alarms++
		}
		pt, ok := parseTick(l)
		if !ok {
			s.events = append(s.events, fmt.Sprintf("%s (tick %d)", l, s.ticks))
			continue
		}
		if first {
			prev, first = pt, false
			continue
		}
		s.ticks++
		s.packets += pt.packets - prev.packets
		s.reordered += pt.reordered - prev.reordered
		s.longestGap = max(s.longestGap, pt.gap, pt.stall)
		if pt.rtt > 0 {
			if s.rttMin == 0 || pt.rtt < s.rttMin {
				s.rttMin = pt.rtt
			}
			s.rttMax = max(s.rttMax, pt.rtt)
		}
		prev = pt
	}
	return s
}

// TestSoakLossy (make soak): the monitor and a streaming listener in two
// network namespaces, through three bounded phases (CRADLE_SOAK_PHASE
// each, 75 s by default):
//
//  1. 10 % of UDP packets dropped both ways (iptables statistic): the
//     audio keeps arriving and the monitor never goes offline;
//  2. 30 % dropped: the audio keeps arriving; halfway, the link is cut
//     altogether (both ways) once: offline within 3.5 s, audio again once
//     it is back;
//  3. every packet delayed 20–80 ms at random (so they reorder) by a relay
//     between two TUN devices that the routes send all traffic through
//     (the kernel has no netem): no offline, the audio keeps arriving.
//
// The listener is the probe (probe_test.go): the listener library in a
// helper process inside the listener's namespace, printing a tick a
// second with the audio packets, the longest gap and the heartbeat RTT.
func TestSoakLossy(t *testing.T) {
	if os.Getenv("CRADLE_SOAK") == "" {
		t.Skip("soak test: run with make soak")
	}
	phase := soakPhase(t)
	n := newNetns(t)
	mon := startMonitor(t, n.exec(n.mon), filepath.Join(t.TempDir(), "monitor"), n.monIP+":48080", "--media", "test")
	lisDir := filepath.Join(t.TempDir(), "listener")
	mon.admin(t, "pair")
	mustRun(t, n.exec(n.lis), "cradle", "--state-dir", lisDir, "pair", mon.addr, "--code", mon.code(t))

	// The relay for phase 3, created now; traffic takes it only once the
	// routes below send it there.
	id := fmt.Sprint(os.Getpid() % 100000)
	tunM, tunL := "crtm"+id, "crtl"+id
	relay := startProbe(t, n.exec(n.mon), "relay", tunM, tunL, "20ms", "80ms")
	relay.waitLine(0, regexp.MustCompile(`^ready$`), 10*time.Second)
	sh(t, "ip", "-n", n.mon, "link", "set", tunL, "netns", n.lis)
	for _, x := range []struct{ ns, dev string }{{n.mon, tunM}, {n.lis, tunL}} {
		sh(t, "ip", "-n", x.ns, "link", "set", x.dev, "up")
		sh(t, "ip", "netns", "exec", x.ns, "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf."+x.dev+".rp_filter=0")
	}

	probe := startProbe(t, n.exec(n.lis), "listen", lisDir, "Nursery")
	i, _ := probe.waitLine(0, regexp.MustCompile(`^first audio`), 15*time.Second)
	probe.waitLine(i, regexp.MustCompile(`^tick`), 5*time.Second)

	// A phase is the probe's lines from one mark to the next.
	mark := func() int { return len(probe.snapshot(0)) }
	lines := func(from, to int) []string { return probe.snapshot(0)[from:to] }
	ipt := func(ns, op string, rule ...string) {
		sh(t, append(append(n.exec(ns), "iptables", op), rule...)...)
	}
	// Loss both ways is a drop on INPUT in each namespace: a drop on
	// OUTPUT fails the sender's sendmsg with EPERM, which QUIC takes as
	// a broken connection, not as loss.
	lossRule := func(p string) []string {
		return []string{"INPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"}
	}
	withLoss := func(p string, fn func()) {
		for _, ns := range []string{n.mon, n.lis} {
			ipt(ns, "-A", lossRule(p)...)
		}
		fn()
		for _, ns := range []string{n.mon, n.lis} {
			ipt(ns, "-D", lossRule(p)...)
		}
	}
	sleepWhile := func(d time.Duration) { // the probe's output is the measurement
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			select {
			case <-probe.done:
				t.Fatalf("the probe exited: %v\n%s", probe.err, probe.stderrText())
			case <-time.After(time.Until(deadline)):
			}
		}
	}

	// Phase 0: no impairment, as the baseline of this machine (a loaded
	// machine stalls the audio too).
	from := mark()
	sleepWhile(max(phase/3, 20*time.Second))
	p0 := probePhase(lines(from, mark()))
	t.Logf("baseline (load %s): %v", loadavg(), p0)

	// Phase 1: 10 % loss.
	var p1 phaseStats
	withLoss("0.1", func() {
		from := mark()
		sleepWhile(phase)
		p1 = probePhase(lines(from, mark()))
	})
	t.Logf("10%% loss for %v (load %s): %v", phase, loadavg(), p1)

	// Phase 2: 30 % loss, with one full cut.
	var p2a, p2b phaseStats
	var detect, recoverOnline, recoverAudio time.Duration
	withLoss("0.3", func() {
		from := mark()
		sleepWhile(phase / 2)
		p2a = probePhase(lines(from, mark()))
		// Both ways: with the monitor deaf but still talking, the
		// listener hears its pings until the monitor hangs up, and that
		// close is lost 30 % of the time (then offline takes up to 3.25 s
		// more).
		cutRule := []string{"INPUT", "1", "-p", "udp", "-j", "DROP"}
		cutAt := mark()
		cut := time.Now()
		ipt(n.mon, "-I", cutRule...)
		ipt(n.lis, "-I", cutRule...)
		j, _ := probe.waitLine(cutAt, regexp.MustCompile(`^presence offline`), 10*time.Second)
		detect = time.Since(cut)
		back := time.Now()
		ipt(n.mon, "-D", cutRule[0], "-p", "udp", "-j", "DROP")
		ipt(n.lis, "-D", cutRule[0], "-p", "udp", "-j", "DROP")
		j, _ = probe.waitLine(j+1, regexp.MustCompile(`^presence online`), 30*time.Second)
		recoverOnline = time.Since(back)
		probe.waitLine(j+1, regexp.MustCompile(`^first audio`), 30*time.Second)
		recoverAudio = time.Since(back)
		from = mark()
		sleepWhile(phase - phase/2)
		p2b = probePhase(lines(from, mark()))
	})
	t.Logf("30%% loss for %v: before the cut: %v; after: %v", phase, p2a, p2b)
	t.Logf("30%% loss, link cut: offline after %v; once the link returned, online after %v, audio after %v", detect, recoverOnline, recoverAudio)

	// Phase 3: delay and reordering through the relay.
	routes := [][]string{
		{"-n", n.mon, "route", "add", n.lisIP + "/32", "dev", tunM, "src", n.monIP},
		{"-n", n.lis, "route", "add", n.monIP + "/32", "dev", tunL, "src", n.lisIP},
	}
	relayedBefore := relayed(t, relay)
	for _, r := range routes {
		sh(t, append([]string{"ip"}, r...)...)
	}
	from = mark()
	sleepWhile(phase)
	p3 := probePhase(lines(from, mark()))
	for _, r := range routes {
		r[3] = "del"
		sh(t, append([]string{"ip"}, r...)...)
	}
	relayedN := relayed(t, relay) - relayedBefore
	t.Logf("20–80 ms delay for %v (load %s): %v; %d packets relayed", phase, loadavg(), p3, relayedN)

	// The assertions, after every phase has run, so one run reports all.
	if p1.offline != 0 {
		t.Errorf("10%% loss: %d false offline reports, want none", p1.offline)
	}
	if p3.offline != 0 {
		t.Errorf("20–80 ms delay: %d false offline reports, want none", p3.offline)
	}
	if detect > 3500*time.Millisecond {
		t.Errorf("30%% loss, link cut: offline after %v, want within 3.5s", detect)
	}
	// The test tone is 100 packets a second (10 ms frames). The bounds
	// leave room for the loss, and for a loaded machine (see the
	// baseline): the alarm's 400 ms audio gap is reported, not asserted.
	for _, c := range []struct {
		name     string
		s        phaseStats
		gap      time.Duration
		minShare float64
	}{
		{"10% loss", p1, 2 * time.Second, 0.6},
		{"30% loss before the cut", p2a, 5 * time.Second, 0.4},
		{"30% loss after the cut", p2b, 5 * time.Second, 0.4},
		{"20–80 ms delay", p3, 2 * time.Second, 0.6},
	} {
		if c.s.longestGap > c.gap {
			t.Errorf("%s: the audio stopped for %v, want gaps under %v", c.name, c.s.longestGap, c.gap)
		}
		if want := int(c.minShare * 100 * float64(c.s.ticks)); c.s.packets < want {
			t.Errorf("%s: %d audio packets in %d s, want at least %d", c.name, c.s.packets, c.s.ticks, want)
		}
	}
	// Both ways at least 20 ms: the heartbeat's smoothed RTT climbs past
	// 40 ms (the control connection takes the relay), and packets reorder
	// (the media does).
	if p3.reordered == 0 || p3.rttMax < 40*time.Millisecond || relayedN == 0 {
		t.Errorf("20–80 ms delay: %d reordered, RTT %v–%v, %d relayed: the traffic did not take the relay", p3.reordered, p3.rttMin, p3.rttMax, relayedN)
	}
}

// relayed is the relay's latest count of packets forwarded.
func relayed(t *testing.T, relay *proc) int {
	t.Helper()
	i, _ := relay.waitLine(len(relay.snapshot(0)), regexp.MustCompile(`^relayed \d+$`), 5*time.Second)
	var n int
	fmt.Sscanf(relay.snapshot(i)[0], "relayed %d", &n)
	return n
}

// loadavg is the machine's load average over the last minute, for the log.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
