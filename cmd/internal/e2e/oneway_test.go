package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// connsFrom lists the monitor's live connections (cradled status --json)
// whose remote address is ip. It returns their ids, or an error instead
// of failing the test, so that a goroutine can poll it.
func connsFrom(m *monitor, ip string) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "cradled"), "--state-dir", m.state, "--long-press", "4s", "status", "--json").Output()
	if err != nil {
		return nil, err
	}
	var st struct {
		Connections []struct {
			ID     uint64 `json:"id"`
			Remote string `json:"remote"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, err
	}
	var ids []uint64
	for _, c := range st.Connections {
		if strings.HasPrefix(c.Remote, ip+":") {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// TestOneWayCut cuts one direction of the link between a monitor and a
// paired listener (`cradle status --watch`) with iptables, dropping the
// packets where they arrive (an OUTPUT rule would fail the sender's
// sendmsg with EPERM, which QUIC reports at once: a network that loses
// packets says nothing). Whichever direction is cut, both ends
// detect it on their own heartbeat (only a pong to one's own ping is a
// sign of life) within 3.5 s: the listener reports the monitor offline,
// with its own idle timeout rather than the monitor's close; the monitor
// drops the connection from `cradled status` and logs that the peer
// stopped answering. With the rule removed, the listener is back online.
func TestOneWayCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule func(n *netns) (ns string, rule []string) // an iptables rule and where
	}{
		// The listener can no longer hear the monitor (the monitor's
		// output is lost on the way); the monitor still hears the
		// listener's pings and pongs.
		{"monitor output dropped", func(n *netns) (string, []string) {
			return n.lis, []string{"INPUT", "-p", "udp", "-s", n.monIP, "-j", "DROP"}
		}},
		// The monitor can no longer hear the listener; the listener still
		// gets the monitor's pings and statuses.
		{"monitor input dropped", func(n *netns) (string, []string) {
			return n.mon, []string{"INPUT", "-p", "udp", "-s", n.lisIP, "-j", "DROP"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const budget = 3500 * time.Millisecond
			n := newNetns(t)
			mon, _, watch := paired(t, n.exec(n.mon), n.exec(n.lis), n.monIP+":48080")
			var before []uint64
			for deadline := time.Now().Add(5 * time.Second); len(before) == 0; {
				ids, err := connsFrom(mon, n.lisIP)
				if err != nil {
					t.Fatal(err)
				}
				if before = ids; len(ids) == 0 && time.Now().After(deadline) {
					t.Fatal("cradled status shows no connection from the listener")
				}
			}
			stoppedBefore := strings.Count(mon.stderrText(), "peer stopped answering")

			// The monitor's view, polled while the listener's is awaited.
			type gone struct {
				after time.Duration
				err   error
			}
			monGone := make(chan gone, 1)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			from := len(watch.snapshot(0))
			ns, rule := tc.rule(n)
			cut := time.Now()
			sh(t, append(append(n.exec(ns), "iptables", "-A"), rule...)...)
			ruleOn := true
			defer func() {
				if ruleOn {
					exec.Command("ip", append([]string{"netns", "exec", ns, "iptables", "-D"}, rule...)...).Run()
				}
			}()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					ids, err := connsFrom(mon, n.lisIP)
					if err != nil {
						monGone <- gone{err: err}
						return
					}
					still := false
					for _, id := range ids {
						for _, b := range before {
							still = still || id == b
						}
					}
					if !still {
						monGone <- gone{after: time.Since(cut)}
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()

			i, line := watch.waitLine(from, offlineRE, 6*time.Second)
			lisAfter := time.Since(cut)
			w := parseWatch(t, line)
			if lisAfter > budget {
				t.Errorf("listener reported offline %v after the cut, want within %v", lisAfter, budget)
			}
			if strings.HasPrefix(w.Error, "remote:") {
				t.Errorf("listener went offline because the monitor closed the connection (%q), not by its own heartbeat", w.Error)
			}
			var g gone
			select {
			case g = <-monGone:
			case <-time.After(6 * time.Second):
				t.Fatalf("cradled status still shows the listener's connection %v 6 s after the cut", before)
			}
			if g.err != nil {
				t.Fatalf("cradled status: %v", g.err)
			}
			if g.after > budget {
				t.Errorf("monitor dropped the listener %v after the cut, want within %v", g.after, budget)
			}
			if strings.Count(mon.stderrText(), "peer stopped answering") <= stoppedBefore {
				t.Errorf("the monitor did not detect the cut itself (no \"peer stopped answering\" in its log)")
			}
			t.Logf("cut %s: listener offline after %v (%s), monitor dropped it after %v", tc.name, lisAfter.Round(time.Millisecond), w.Error, g.after.Round(time.Millisecond))

			restored := time.Now()
			sh(t, append(append(n.exec(ns), "iptables", "-D"), rule...)...)
			ruleOn = false
			watch.waitLine(i+1, onlineRE, 10*time.Second)
			t.Logf("online again %v after the rule was removed", time.Since(restored).Round(time.Millisecond))
			for deadline := time.Now().Add(5 * time.Second); ; {
				ids, err := connsFrom(mon, n.lisIP)
				if err != nil {
					t.Fatal(err)
				}
				if len(ids) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("cradled status shows no connection from the listener after the recovery")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
