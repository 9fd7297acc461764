package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type discovered struct {
	Name        string   `json:"name"`
	DeviceID    string   `json:"device_id"`
	Fingerprint string   `json:"fingerprint"`
	Addrs       []string `json:"addrs"`
	Port        int      `json:"port"`
	PairingOpen bool     `json:"pairing_open"`
}

// TestDiscoveryInNamespaces runs cradled with mDNS in one network
// namespace and the listener in another: cradle discover finds it, the
// pairing flag follows the window, pairing by name works, and dig (an
// mDNS client this project did not write) finds the service too.
func TestDiscoveryInNamespaces(t *testing.T) {
	n := newNetns(t)
	needRoot(t, "dig")
	mon := startMonitor(t, n.exec(n.mon), filepath.Join(t.TempDir(), "monitor"), n.monIP+":48080", "--mdns=true", "--name", "Blue Room")
	lis := []string{"--state-dir", filepath.Join(t.TempDir(), "listener")}
	discover := func(wantOpen bool) discovered {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			out := mustRun(t, n.exec(n.lis), "cradle", append(lis, "discover", "--json", "--timeout", "1s")...)
			var ms []discovered
			if err := json.Unmarshal([]byte(out), &ms); err != nil {
				t.Fatalf("discover --json: %v\n%s", err, out)
			}
			for _, m := range ms {
				if m.Name == "Blue Room" && m.PairingOpen == wantOpen {
					return m
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("discover never showed Blue Room with pairing_open=%v: %s", wantOpen, out)
			}
		}
	}
	m := discover(false)
	id := strings.TrimSpace(mustRun(t, nil, "cradled", "--state-dir", mon.state, "id"))
	if m.Port != 48080 || strings.ReplaceAll(m.Fingerprint, "-", "") != strings.ReplaceAll(id, "-", "") || len(m.Addrs) == 0 || m.Addrs[0] != n.monIP {
		t.Fatalf("discovered %+v, want port 48080, fingerprint %s, address %s", m, id, n.monIP)
	}
	mon.admin(t, "pair")
	discover(true)
	out := mustRun(t, n.exec(n.lis), "cradle", append(lis, "pair", "Blue Room", "--code", mon.code(t))...)
	if !strings.Contains(out, `Paired with "Blue Room"`) || !strings.Contains(out, n.monIP+":48080") {
		t.Fatalf("pair by name: %s", out)
	}
	discover(false) // the window closed on success

	// An independent client: dig asks the monitor for its PTR, SRV and TXT
	// records (unicast-response bit set, as hashicorp/mdns answers unicast).
	dig := exec.Command("ip", append(n.exec(n.lis)[1:], "dig", "+time=2", "+tries=2", "-p", "5353", "@"+n.monIP, "-c", "CLASS32769", "-t", "PTR", "-q", "_cradle._udp.local")...)
	b, err := dig.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Blue") {
		t.Fatalf("dig PTR: %v\n%s", err, b)
	}
	t.Logf("dig: %s", strings.TrimSpace(string(b)))
}
