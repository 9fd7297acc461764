package discovery

// A phone reaches the monitor's page at https://<HostName>/: these tests
// resolve that name with resolvers we did not write, in namespaces the
// tests create (see netns_test.go).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// IPv6 addresses of the veth ends in TestHostNameResolves (unique local,
// so advertised; link-local addresses are not).
const (
	monitorAddr6  = "fd31:c7ad:1e::1"
	listenerAddr6 = "fd31:c7ad:1e::2"
)

// vethNamespaces6 is vethNamespaces with an IPv6 address on each end too.
func vethNamespaces6(t *testing.T) (mon, lis string) {
	mon, lis = vethNamespaces(t)
	ipCmd(t, "-n", mon, "addr", "add", monitorAddr6+"/64", "dev", "cva", "nodad")
	ipCmd(t, "-n", lis, "addr", "add", listenerAddr6+"/64", "dev", "cvb", "nodad")
	return mon, lis
}

// digHost asks the monitor directly, as TestDig does (class 0x8001: the
// QU bit, so hashicorp/mdns answers with the query's ID), and returns the
// answer section, its fields separated by single spaces.
func digHost(t *testing.T, ns, server, qtype, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helperWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "dig", "+notcp", "+time=2", "+tries=3", "+noall", "+answer",
		"-p", "5353", "@"+server, "-c", "CLASS32769", "-t", qtype, "-q", name).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s %s: %v\n%s", qtype, name, err, out)
	}
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	return strings.Join(lines, "\n")
}

// TestHostNameResolves: the monitor's host name resolves, from another
// namespace, to its IPv4 and IPv6 addresses, with dig (any letter case,
// A, AAAA and ANY) and with avahi, a full mDNS resolver like a phone's,
// started only after the advertiser's announcements so that it must ask.
// The SRV record points at the same name. The alias (ShortHostName)
// resolves too, with both.
func TestHostNameResolves(t *testing.T) {
	requireTools(t, "dig", "avahi-daemon", "avahi-resolve-host-name", "dbus-daemon")
	t.Parallel()
	mon, lis := vethNamespaces6(t)
	// Both announcements seen before avahi starts: it has nothing cached.
	heard := startHelper(t, lis, "listen", "cvb")
	adv := startHelper(t, mon, "advertise", testConfig("cva"))
	heard.expect("packet")
	heard.expect("packet")
	heard.stop()
	fp := testFingerprint(1)
	host := HostName("Baby's room", fp)
	if want := "baby-s-room-" + strings.ToLower(fp.DeviceID()) + ".local"; host != want {
		t.Fatalf("HostName = %q, want %q", host, want)
	}
	fmt.Fprintln(adv.stdin, "host")
	if got, want := adv.expect("host"), fmt.Sprintf("%s [%s %s]", host, monitorAddr, monitorAddr6); got != want {
		t.Errorf("Advertiser says %q, want %q", got, want)
	}

	bus := startAvahi(t, lis, "cvb")
	resolve := func(family, host string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), helperWait)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lis, "avahi-resolve-host-name", family, host)
		cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+bus)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("avahi-resolve-host-name %s %s: %v\n%s", family, host, err, out)
		}
		t.Logf("avahi-resolve-host-name %s: %s in %v", family, strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))
		return strings.Join(strings.Fields(string(out)), " ")
	}
	alias := ShortHostName("Baby's room")
	// The alias first: avahi has not seen it in the answers to the
	// host name's queries yet (our multicast answers carry both).
	for _, name := range []string{alias, host} {
		if got, want := resolve("-4", name), name+" "+monitorAddr; got != want {
			t.Errorf("avahi-resolve-host-name -4: %q, want %q", got, want)
		}
		if got, want := resolve("-6", name), name+" "+monitorAddr6; got != want {
			t.Errorf("avahi-resolve-host-name -6: %q, want %q", got, want)
		}
	}

	for _, q := range []struct{ qtype, name, want string }{
		{"A", host + ".", host + ". 120 IN A " + monitorAddr},
		{"A", strings.ToUpper(host) + ".", host + ". 120 IN A " + monitorAddr},
		{"AAAA", host + ".", host + ". 120 IN AAAA " + monitorAddr6},
		{"ANY", host + ".", host + ". 120 IN A " + monitorAddr},
		{"ANY", host + ".", host + ". 120 IN AAAA " + monitorAddr6},
		{"SRV", `Baby\'s\ room._cradle._udp.local.`, "SRV 10 1 48080 " + host + "."},
		{"A", "Baby-S-Room.local.", alias + ". 120 IN A " + monitorAddr},
		{"ANY", alias + ".", alias + ". 120 IN AAAA " + monitorAddr6},
	} {
		if out := digHost(t, lis, monitorAddr, q.qtype, q.name); !strings.Contains(out, q.want) {
			t.Errorf("dig %s %s: no %q in\n%s", q.qtype, q.name, q.want, out)
		}
	}
	// Another name in .local gets no answer (dig times out).
	out, _ := exec.Command("ip", "netns", "exec", lis, "dig", "+notcp", "+time=1", "+tries=1", "+noall", "+answer",
		"-p", "5353", "@"+monitorAddr, "-c", "CLASS32769", "-t", "A", "-q", "other-"+host+".").CombinedOutput()
	if strings.Contains(string(out), "\tA\t") {
		t.Errorf("dig A for another name answered:\n%s", out)
	}
}
