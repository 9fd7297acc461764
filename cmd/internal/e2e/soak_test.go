package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestSoakPartitions (make soak): a listener streams while the network
// inside a namespace pair is cut and restored 30 times; every cut is
// detected within 3.5 s and every recovery resumes the audio. Bounded:
// 30 rounds, each at most about 15 s.
func TestSoakPartitions(t *testing.T) {
	if os.Getenv("CRADLE_SOAK") == "" {
		t.Skip("soak test: run with make soak")
	}
	n := newNetns(t)
	mon := startMonitor(t, n.exec(n.mon), filepath.Join(t.TempDir(), "monitor"), n.monIP+":48080", "--media", "test")
	lis := []string{"--state-dir", filepath.Join(t.TempDir(), "listener")}
	mon.admin(t, "pair")
	mustRun(t, n.exec(n.lis), "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	listen := start(t, n.exec(n.lis), "cradle", append(lis, "listen", "Nursery", "--output", "none")...)
	i, _ := listen.waitLine(0, regexp.MustCompile(`first audio`), 10*time.Second)
	rule := []string{"INPUT", "-p", "udp", "-j", "DROP"}
	var worstDetect, worstRecover time.Duration
	for round := range 30 {
		cut := time.Now()
		sh(t, append(append(n.exec(n.mon), "iptables", "-A"), rule...)...)
		i, _ = listen.waitLine(i+1, regexp.MustCompile(`Nursery offline`), 6*time.Second)
		worstDetect = max(worstDetect, time.Since(cut))
		back := time.Now()
		sh(t, append(append(n.exec(n.mon), "iptables", "-D"), rule...)...)
		i, _ = listen.waitLine(i+1, regexp.MustCompile(`first audio`), 15*time.Second)
		worstRecover = max(worstRecover, time.Since(back))
		if time.Since(cut) > 20*time.Second {
			t.Fatalf("round %d took %v", round, time.Since(cut))
		}
	}
	if worstDetect > 3500*time.Millisecond {
		t.Errorf("worst detection %v, want within 3.5s", worstDetect)
	}
	t.Logf("30 partitions: worst detection %v, worst recovery to audio %v", worstDetect, worstRecover)
}
