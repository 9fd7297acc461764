package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
// mDNS client this project did not write) finds the service too, and the
// host name that cradled status prints.
func TestDiscoveryInNamespaces(t *testing.T) {
	n := newNetns(t)
	needRoot(t, "dig")
	mon := startMonitor(t, n.exec(n.mon), filepath.Join(t.TempDir(), "monitor"), n.monIP+":48080", "--mdns=true", "--name", "Blue Room", "--page-listen", ":0")
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

	// The page's host name: cradled status prints it with the address,
	// and the monitor answers dig's A query for it from the other side.
	host := "blue-room-" + strings.ToLower(m.DeviceID) + ".local"
	if st := mon.admin(t, "status"); !strings.Contains(st, "Host name:   "+host+" ("+n.monIP) {
		t.Errorf("cradled status does not show %s at %s:\n%s", host, n.monIP, st)
	}
	dig = exec.Command("ip", append(n.exec(n.lis)[1:], "dig", "+time=2", "+tries=2", "+noall", "+answer", "-p", "5353", "@"+n.monIP, "-c", "CLASS32769", "-t", "A", "-q", host)...)
	if b, err = dig.CombinedOutput(); err != nil || !strings.Contains(string(b), n.monIP) {
		t.Fatalf("dig A %s: %v\n%s", host, err, b)
	}

	// The short alias (the card's name before the first boot) answers
	// too; status prints the page by name and by address, and the page's
	// certificate names both names.
	alias := "blue-room.local"
	dig = exec.Command("ip", append(n.exec(n.lis)[1:], "dig", "+time=2", "+tries=2", "+noall", "+answer", "-p", "5353", "@"+n.monIP, "-c", "CLASS32769", "-t", "A", "-q", alias)...)
	if b, err = dig.CombinedOutput(); err != nil || !strings.Contains(string(b), alias+".") || !strings.Contains(string(b), n.monIP) {
		t.Fatalf("dig A %s: %v\n%s", alias, err, b)
	}
	pageRE := regexp.MustCompile(`(?m)^Page: +https://` + regexp.QuoteMeta(host) + `:(\d+)/  https://` + regexp.QuoteMeta(n.monIP) + `:(\d+)/$`)
	if st := mon.admin(t, "status"); !pageRE.MatchString(st) {
		t.Errorf("cradled status does not show the page at %s and %s:\n%s", host, n.monIP, st)
	} else if p := pageRE.FindStringSubmatch(st); p[1] != p[2] {
		t.Errorf("cradled status: two ports for the page: %s", p[0])
	}
	pemBytes, err := os.ReadFile(filepath.Join(mon.state, "page", "https.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatal("page/https.crt: no PEM block")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{host, alias} {
		if !slices.Contains(cert.DNSNames, name) {
			t.Errorf("the page's certificate names %q, not %s", cert.DNSNames, name)
		}
	}
}

// TestReconnectFallsBackToDiscovery: the monitor comes back at another
// address; the listener's last address fails, mDNS finds the new one, and
// the listener is online again there (the pinned fingerprint decides).
func TestReconnectFallsBackToDiscovery(t *testing.T) {
	n := newNetns(t)
	state := filepath.Join(t.TempDir(), "monitor")
	mon := startMonitor(t, n.exec(n.mon), state, n.monIP+":48080", "--mdns=true")
	lis := []string{"--state-dir", filepath.Join(t.TempDir(), "listener")}
	mon.admin(t, "pair")
	mustRun(t, n.exec(n.lis), "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	watch := start(t, n.exec(n.lis), "cradle", append(lis, "status", "--watch", "--json")...)
	watch.waitLine(0, onlineRE, 10*time.Second)

	mon.kill()
	i, _ := watch.waitLine(0, offlineRE, 6*time.Second)
	newIP := "10.213.7.3"
	sh(t, "ip", "-n", n.mon, "addr", "add", newIP+"/24", "dev", vethOf(t, n.mon))
	startMonitor(t, n.exec(n.mon), state, newIP+":48080", "--mdns=true")
	_, line := watch.waitLine(i+1, onlineRE, 20*time.Second)
	if !strings.Contains(line, newIP+":48080") {
		t.Fatalf("back online at the wrong address: %s", line)
	}
	out := mustRun(t, n.exec(n.lis), "cradle", append(lis, "monitors", "--json")...)
	if !strings.Contains(out, newIP+":48080") {
		t.Errorf("new address not remembered: %s", out)
	}
}

// vethOf names the veth interface inside namespace ns.
func vethOf(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "type", "veth").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("no veth in %s: %s", ns, out)
	}
	return strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
}
