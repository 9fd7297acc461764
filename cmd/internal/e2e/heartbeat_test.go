package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// paired starts a monitor, pairs a listener with it, and starts
// `cradle status --watch --json`, waiting until it reports online.
func paired(t *testing.T, prefixM, prefixL []string, listen string) (*monitor, []string, *proc) {
	t.Helper()
	dir := t.TempDir()
	mon := startMonitor(t, prefixM, filepath.Join(dir, "monitor"), listen)
	lis := []string{"--state-dir", filepath.Join(dir, "listener"), "--name", "parent"}
	mon.admin(t, "pair")
	mustRun(t, prefixL, "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	watch := start(t, prefixL, "cradle", append(lis, "status", "--watch", "--json")...)
	watch.waitLine(0, onlineRE, 10*time.Second)
	return mon, lis, watch
}

// TestFrozenMonitorGoesOffline: SIGSTOP the monitor; the listener reports
// it offline within 3.5 s, and online again after SIGCONT, without a
// restart of either.
func TestFrozenMonitorGoesOffline(t *testing.T) {
	mon, lis, watch := paired(t, nil, nil, "127.0.0.1:0")
	from := len(watch.snapshot(0))
	stopped := time.Now()
	mon.signal(syscall.SIGSTOP)
	i, _ := watch.waitLine(from, offlineRE, 6*time.Second)
	if d := time.Since(stopped); d > 3500*time.Millisecond {
		t.Errorf("offline reported %v after the monitor froze, want within 3.5s", d)
	} else {
		t.Logf("offline reported %v after the monitor froze", d)
	}
	cont := time.Now()
	mon.signal(syscall.SIGCONT)
	watch.waitLine(i+1, onlineRE, 10*time.Second)
	t.Logf("online again %v after SIGCONT", time.Since(cont))
	// The monitor's status shows the listener with its heartbeat fields.
	st := mon.admin(t, "status", "--json")
	for _, f := range []string{`"trusted": true`, `"last_seen"`, `"rtt_us"`, `"remote"`, `"since"`, `"fingerprint"`, `"addr"`, `"name": "parent"`} {
		if !strings.Contains(st, f) {
			t.Errorf("cradled status --json lacks %s:\n%s", f, st)
		}
	}
	// The listener's one-shot status has its fields too.
	ls := mustRun(t, nil, "cradle", append(lis, "status", "--json")...)
	for _, f := range []string{`"presence": "online"`, `"last_seen"`, `"rtt_us"`, `"address"`, `"name": "Nursery"`} {
		if !strings.Contains(ls, f) {
			t.Errorf("cradle status --json lacks %s:\n%s", f, ls)
		}
	}
	// The connection the frozen monitor lost to the heartbeat is in its log.
	if ev := mon.admin(t, "events"); !regexp.MustCompile(`connection-closed .*idle_timeout`).MatchString(ev) {
		t.Errorf("no connection-closed event with idle_timeout:\n%s", ev)
	}
}

// TestMonitorRestartReconnects: kill -9 the monitor and start it again on
// the same port: the listener reconnects by itself.
func TestMonitorRestartReconnects(t *testing.T) {
	mon, _, watch := paired(t, nil, nil, "127.0.0.1:0")
	from := len(watch.snapshot(0))
	mon.kill()
	i, _ := watch.waitLine(from, offlineRE, 6*time.Second)
	restarted := time.Now()
	startMonitor(t, nil, mon.state, mon.addr)
	watch.waitLine(i+1, onlineRE, 10*time.Second)
	t.Logf("reconnected %v after the restart", time.Since(restarted))
}

// netns is a pair of network namespaces joined by a veth pair.
type netns struct {
	mon, lis     string // namespace names
	monIP, lisIP string
}

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this test needs %v: `make test` installs them", missing)
	}
	t.Skipf("needs %v (make test installs them; CI runs this test)", missing)
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns creates two namespaces joined by a veth pair; the test's
// cleanup deletes them. All traffic stays inside them.
func newNetns(t *testing.T) *netns {
	t.Helper()
	needRoot(t, "ip", "iptables")
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	n := &netns{mon: "cradle-m" + id, lis: "cradle-l" + id, monIP: "10.213.7.1", lisIP: "10.213.7.2"}
	vm, vl := "crm"+id, "crl"+id
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", n.mon).Run()
		exec.Command("ip", "netns", "del", n.lis).Run()
	})
	sh(t, "ip", "netns", "add", n.mon)
	sh(t, "ip", "netns", "add", n.lis)
	sh(t, "ip", "link", "add", vm, "type", "veth", "peer", "name", vl)
	sh(t, "ip", "link", "set", vm, "netns", n.mon)
	sh(t, "ip", "link", "set", vl, "netns", n.lis)
	for _, x := range []struct{ ns, dev, ip string }{{n.mon, vm, n.monIP}, {n.lis, vl, n.lisIP}} {
		sh(t, "ip", "-n", x.ns, "link", "set", "lo", "up")
		sh(t, "ip", "-n", x.ns, "addr", "add", x.ip+"/24", "dev", x.dev)
		sh(t, "ip", "-n", x.ns, "link", "set", x.dev, "up")
		// Multicast (mDNS) goes over the veth, inside the namespaces only.
		sh(t, "ip", "-n", x.ns, "route", "add", "224.0.0.0/4", "dev", x.dev)
	}
	return n
}

func (n *netns) exec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// TestPartitionDetectedAndRecovered drops the monitor's traffic inside a
// network namespace: the listener sees it offline within 3.5 s, and back
// online soon after the traffic flows again.
func TestPartitionDetectedAndRecovered(t *testing.T) {
	n := newNetns(t)
	mon, _, watch := paired(t, n.exec(n.mon), n.exec(n.lis), n.monIP+":48080")
	_ = mon
	rule := []string{"INPUT", "-p", "udp", "--dport", "48080", "-j", "DROP"}
	from := len(watch.snapshot(0))
	cut := time.Now()
	sh(t, append(append(n.exec(n.mon), "iptables", "-A"), rule...)...)
	i, _ := watch.waitLine(from, offlineRE, 6*time.Second)
	if d := time.Since(cut); d > 3500*time.Millisecond {
		t.Errorf("partition detected after %v, want within 3.5s", d)
	} else {
		t.Logf("partition detected after %v", d)
	}
	restored := time.Now()
	sh(t, append(append(n.exec(n.mon), "iptables", "-D"), rule...)...)
	watch.waitLine(i+1, onlineRE, 10*time.Second)
	t.Logf("recovered %v after the network returned", time.Since(restored))
}
