package discovery

// Tests that send mDNS run only inside network namespaces created here:
// hashicorp/mdns's client joins the multicast group on the host's
// interfaces even when pinned to one. The test binary re-executes itself
// (TestHelperProcess) under `ip netns exec` to run an advertiser, a
// browser or a passive listener in a namespace.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	envHelper = "CRADLE_DISCOVERY_HELPER" // advertise, browse or listen
	envArgs   = "CRADLE_DISCOVERY_ARGS"   // JSON config for the helper
	nsPrefix  = "cradle-disc-"            // namespaces are cradle-disc-PID-N

	helperWait = 15 * time.Second // bound on every wait for a helper
)

// TestHelperProcess is not a test: it is the body of the helper processes.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("runs only as a helper process of the namespace tests")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	switch mode {
	case "advertise":
		err = helperAdvertise(log)
	case "browse":
		err = helperBrowse(log)
	case "listen":
		err = helperListen()
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// helperAdvertise runs an Advertiser and obeys stdin: "pair 1", "pair 0",
// "host" (prints the host name and the addresses), "close". It answers
// each with a line.
func helperAdvertise(log *slog.Logger) error {
	var cfg AdvertiseConfig
	if err := json.Unmarshal([]byte(os.Getenv(envArgs)), &cfg); err != nil {
		return err
	}
	cfg.Logger = log
	a, err := NewAdvertiser(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch cmd := in.Text(); cmd {
		case "pair 1", "pair 0":
			if err := a.SetPairingOpen(cmd == "pair 1"); err != nil {
				return err
			}
			fmt.Println("ok")
		case "host":
			fmt.Println("host", a.HostName(), a.Addrs())
		case "close":
			a.Close()
			a.Close()
			if err := a.SetPairingOpen(true); !errors.Is(err, ErrClosed) {
				return fmt.Errorf("SetPairingOpen after Close = %v, want ErrClosed", err)
			}
			fmt.Println("closed")
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
	return in.Err()
}

// helperBrowse runs Browse once and prints the monitors as JSON.
func helperBrowse(log *slog.Logger) error {
	var cfg BrowseConfig
	if err := json.Unmarshal([]byte(os.Getenv(envArgs)), &cfg); err != nil {
		return err
	}
	cfg.Logger = log
	found, err := Browse(context.Background(), cfg)
	if err != nil {
		return err
	}
	b, err := json.Marshal(found)
	if err != nil {
		return err
	}
	fmt.Printf("monitors %s\n", b)
	return nil
}

// packet is what helperListen reports about each mDNS response it sees.
type packet struct {
	Records []record
}

type record struct {
	Name  string
	Type  string
	TTL   uint32
	Flush bool
	Data  string // TXT strings joined by spaces, PTR target, A/AAAA address
}

// helperListen joins 224.0.0.251 on the interface named in envArgs and
// prints every response it receives, until stdin closes.
func helperListen() error {
	ifi, err := net.InterfaceByName(os.Getenv(envArgs))
	if err != nil {
		return err
	}
	conn, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		return err
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		conn.Close()
	}()
	fmt.Println("ready")
	buf := make([]byte, 9000)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return nil // closed
		}
		var msg dns.Msg
		if msg.Unpack(buf[:n]) != nil || !msg.Response {
			continue
		}
		var p packet
		for _, rr := range msg.Answer {
			h := rr.Header()
			r := record{Name: h.Name, Type: dns.TypeToString[h.Rrtype], TTL: h.Ttl, Flush: h.Class&(1<<15) != 0}
			switch rr := rr.(type) {
			case *dns.TXT:
				r.Data = strings.Join(rr.Txt, " ")
			case *dns.PTR:
				r.Data = rr.Ptr
			case *dns.A:
				r.Data = rr.A.String()
			}
			p.Records = append(p.Records, r)
		}
		b, _ := json.Marshal(p)
		fmt.Printf("packet %s\n", b)
	}
}

// requireTools skips the test, or fails it when CI is set, unless we are
// root and have the commands.
func requireTools(t *testing.T, commands ...string) {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI is set, so this is a failure: run `make test` as root (it installs the packages)", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		skip("needs root to create network namespaces")
	}
	for _, c := range append([]string{"ip"}, commands...) {
		if _, err := exec.LookPath(c); err != nil {
			skip(fmt.Sprintf("needs %s in PATH (see APT_PACKAGES in the Makefile)", c))
		}
	}
	sweepNamespaces()
}

var nsSeq atomic.Int32

// sweepNamespaces deletes namespaces left by test processes that died.
func sweepNamespaces() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pidText, _, ok := strings.Cut(strings.TrimPrefix(name, nsPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !strings.HasPrefix(name, nsPrefix) || !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNamespace creates an empty network namespace, deleted at cleanup.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("cannot create a network namespace here: %v %s", err, out)
		}
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// loopbackNamespace is a namespace whose loopback carries multicast.
func loopbackNamespace(t *testing.T) string {
	ns := newNamespace(t)
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	ipCmd(t, "-n", ns, "link", "set", "lo", "multicast", "on")
	ipCmd(t, "-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")
	return ns
}

// Addresses of the two ends of vethNamespaces.
const (
	monitorAddr  = "10.231.0.1"
	listenerAddr = "10.231.0.2"
)

// vethNamespaces returns two namespaces joined by a veth pair: "cva"
// (monitorAddr) in the first, "cvb" (listenerAddr) in the second. The
// links are created inside the namespaces and never exist on the host.
func vethNamespaces(t *testing.T) (mon, lis string) {
	mon, lis = newNamespace(t), newNamespace(t)
	ipCmd(t, "link", "add", "cva", "netns", mon, "type", "veth", "peer", "name", "cvb", "netns", lis)
	for _, x := range []struct{ ns, dev, addr string }{{mon, "cva", monitorAddr}, {lis, "cvb", listenerAddr}} {
		ipCmd(t, "-n", x.ns, "addr", "add", x.addr+"/24", "dev", x.dev)
		ipCmd(t, "-n", x.ns, "link", "set", x.dev, "up")
		ipCmd(t, "-n", x.ns, "link", "set", "lo", "up")
		ipCmd(t, "-n", x.ns, "link", "set", "lo", "multicast", "on")
		ipCmd(t, "-n", x.ns, "route", "add", "224.0.0.0/4", "dev", x.dev)
	}
	return mon, lis
}

// proc is a running helper process or daemon, whose output lines are
// read by one goroutine that ends when the process closes its output.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	daemon bool // stopped with SIGTERM, output merged
	exited chan struct{}
}

func helperCmd(ctx context.Context, ns, mode string, args any) *exec.Cmd {
	var a string
	if s, ok := args.(string); ok {
		a = s
	} else {
		b, _ := json.Marshal(args)
		a = string(b)
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0],
		"-test.run=^TestHelperProcess$", "-test.timeout=60s")
	// The race detector sleeps 1 s at exit by default; helpers exit often.
	race := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envArgs+"="+a, "GORACE="+race)
	return cmd
}

// startHelper starts a long-running helper in ns and waits for "ready".
func startHelper(t *testing.T, ns, mode string, args any) *proc {
	t.Helper()
	return startProc(t, helperCmd(context.Background(), ns, mode, args), false, "ready")
}

// startProc starts cmd and waits for a line starting with ready. A
// daemon's stdout and stderr are merged. At cleanup it closes stdin (and
// sends a daemon SIGTERM), waits a bounded time for the process to exit,
// kills it if it does not, and fails the test if it failed.
func startProc(t *testing.T, cmd *exec.Cmd, daemon bool, ready string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, lines: make(chan string, 100), daemon: daemon, exited: make(chan struct{})}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if daemon {
		cmd.Stderr = cmd.Stdout
	} else {
		cmd.Stderr = &p.stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(p.stop)
	p.expect(ready)
	return p
}

// stop closes stdin and waits (bounded) for the helper to exit.
func (h *proc) stop() {
	select {
	case <-h.exited:
		return
	default:
	}
	defer close(h.exited)
	h.stdin.Close()
	if h.daemon {
		h.cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.AfterFunc(helperWait, func() { h.cmd.Process.Kill() })
	defer timer.Stop()
	var out []string
	for line := range h.lines { // until the process closes stdout
		out = append(out, line)
	}
	err := h.cmd.Wait()
	if ee := (*exec.ExitError)(nil); h.daemon && errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
		err = nil
	}
	if err != nil || h.t.Failed() {
		h.t.Logf("%v exited: %v; last output:\n%s\n%s", h.cmd.Args, err, strings.Join(out, "\n"), h.stderr.String())
	}
	if err != nil {
		h.t.Errorf("%s failed: %v", h.cmd.Args[0], err)
	}
}

// expect waits for the next line starting with prefix, skipping others.
func (h *proc) expect(prefix string) string {
	h.t.Helper()
	timeout := time.After(helperWait)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("%v ended before printing %q", h.cmd.Args, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(line, prefix))
			}
		case <-timeout:
			h.t.Fatalf("no %q from %v within %v", prefix, h.cmd.Args, helperWait)
		}
	}
}

func (h *proc) send(line, reply string) {
	h.t.Helper()
	if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
		h.t.Fatal(err)
	}
	h.expect(reply)
}

// browse runs Browse in ns in a helper process.
func browse(t *testing.T, ns string, cfg BrowseConfig) []Found {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helperWait)
	defer cancel()
	cmd := helperCmd(ctx, ns, "browse", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browse helper: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "monitors "); ok {
			var found []Found
			if err := json.Unmarshal([]byte(j), &found); err != nil {
				t.Fatal(err)
			}
			return found
		}
	}
	t.Fatalf("browse helper printed no result:\n%s\n%s", out, stderr.String())
	return nil
}

// browseUntil browses until cond holds for the result, within helperWait.
func browseUntil(t *testing.T, ns string, cfg BrowseConfig, what string, cond func([]Found) bool) []Found {
	t.Helper()
	deadline := time.Now().Add(helperWait)
	for {
		found := browse(t, ns, cfg)
		if cond(found) {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; last browse found %+v", what, helperWait, found)
		}
	}
}

func testConfig(iface string) AdvertiseConfig {
	return AdvertiseConfig{
		Instance:    "Baby's room",
		Port:        48080,
		Fingerprint: testFingerprint(1).String(),
		Interface:   iface,
	}
}

// checkMonitor fails unless found is exactly the test monitor, with addrs.
func checkMonitor(t *testing.T, found []Found, pair bool, addrs ...string) {
	t.Helper()
	fp := testFingerprint(1)
	if len(found) != 1 {
		t.Fatalf("found %d monitors, want 1: %+v", len(found), found)
	}
	m := found[0]
	if m.Name != "Baby's room" || m.Port != 48080 || m.DeviceID != fp.DeviceID() ||
		m.Fingerprint != fp.String() || m.Protocol != 1 || m.PairingOpen != pair {
		t.Errorf("found %+v; want Baby's room, port 48080, id %s, fp %s, protocol 1, pairing %v",
			m, fp.DeviceID(), fp, pair)
	}
	if got := fmt.Sprint(m.Addrs); got != fmt.Sprint(addrs) {
		t.Errorf("addresses %s, want %v", got, addrs)
	}
}

// TestDiscover is `cradle discover` against a monitor: both in one
// namespace, over its loopback. The pairing flag follows SetPairingOpen.
func TestDiscover(t *testing.T) {
	requireTools(t)
	t.Parallel()
	ns := loopbackNamespace(t)
	adv := startHelper(t, ns, "advertise", testConfig("lo"))
	cfg := BrowseConfig{Timeout: time.Second}

	checkMonitor(t, browse(t, ns, cfg), false, "127.0.0.1", "::1")
	adv.send("pair 1", "ok")
	checkMonitor(t, browse(t, ns, cfg), true, "127.0.0.1", "::1")
	adv.send("pair 0", "ok")
	checkMonitor(t, browse(t, ns, cfg), false, "127.0.0.1", "::1")
	adv.send("close", "closed")
	if found := browse(t, ns, BrowseConfig{Timeout: 500 * time.Millisecond}); len(found) != 0 {
		t.Errorf("found %+v after Close", found)
	}
}

// TestAnnouncements listens passively for the multicasts hashicorp/mdns
// does not send: announcements at start and on each change, the answer to
// a query that did not ask for a unicast one, and the goodbye.
func TestAnnouncements(t *testing.T) {
	requireTools(t)
	t.Parallel()
	ns := loopbackNamespace(t)
	lis := startHelper(t, ns, "listen", "lo")
	adv := startHelper(t, ns, "advertise", testConfig("lo"))

	// next returns the TXT and PTR records of the next announcement.
	next := func() (txt, ptr record) {
		t.Helper()
		var p packet
		if err := json.Unmarshal([]byte(lis.expect("packet")), &p); err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			switch r.Type {
			case "TXT":
				txt = r
			case "PTR":
				ptr = r
			}
		}
		if ptr.Data != `Baby\'s\ room._cradle._udp.local.` {
			t.Fatalf("announcement without our PTR: %+v", p)
		}
		return txt, ptr
	}
	for _, step := range []struct {
		do   string
		pair string
		ttl  uint32
	}{
		{"", "pair=0", 120}, {"", "pair=0", 120}, // start: two announcements
		{"browse", "pair=0", 120}, // one query, one multicast answer
		{"pair 1", "pair=1", 120}, {"", "pair=1", 120},
		{"close", "", 0}, // goodbye
	} {
		switch step.do {
		case "":
		case "browse":
			// One round of Browse: hashicorp/mdns sends one query.
			checkMonitor(t, browse(t, ns, BrowseConfig{Timeout: firstRound}), false, "127.0.0.1", "::1")
		default:
			io.WriteString(adv.stdin, step.do+"\n")
		}
		txt, ptr := next()
		if ptr.TTL != step.ttl || txt.TTL != step.ttl || !strings.Contains(txt.Data, step.pair) {
			t.Fatalf("after %q: TXT %+v, PTR %+v; want %s with TTL %d", step.do, txt, ptr, step.pair, step.ttl)
		}
		if txt.Flush != (step.ttl > 0) || ptr.Flush {
			t.Errorf("after %q: cache-flush bits TXT %v, PTR %v", step.do, txt.Flush, ptr.Flush)
		}
	}
	adv.expect("closed")
}

// TestDig asks with dig, an mDNS client we did not write. hashicorp/mdns
// answers a query by unicast to its source, with ID 0 unless the question
// asks for a unicast answer (the top bit of the class, "QU"), so dig asks
// the monitor's address with class 0x8001; see docs/DISCOVERY.md.
func TestDig(t *testing.T) {
	requireTools(t, "dig")
	t.Parallel()
	ns := loopbackNamespace(t)
	startHelper(t, ns, "advertise", testConfig("lo"))
	fp := testFingerprint(1)
	instance := `Baby\'s\ room._cradle._udp.local.`

	dig := func(qtype, name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), helperWait)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "dig", "+time=2", "+tries=3", "+noall", "+answer",
			"-p", "5353", "@127.0.0.1", "-c", "CLASS32769", "-t", qtype, "-q", name).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %s %s: %v\n%s", qtype, name, err, out)
		}
		return string(out)
	}
	txt := fmt.Sprintf(`"v=1" "id=%s" "fp=%s" "pair=0"`, fp.DeviceID(), strings.ReplaceAll(fp.String(), "-", ""))
	host := HostName("Baby's room", fp) + "." // baby-s-room-<id>.local.
	for _, q := range []struct{ qtype, name string }{{"PTR", serviceFQDN}, {"SRV", instance}, {"TXT", instance}} {
		out := dig(q.qtype, q.name)
		want := []string{}
		switch q.qtype {
		case "PTR":
			want = []string{"PTR\tBaby's\\032room._cradle._udp.local.", "SRV\t10 1 48080 " + host, "A\t127.0.0.1", txt}
		case "SRV":
			want = []string{"SRV\t10 1 48080 " + host, "A\t127.0.0.1"}
		case "TXT":
			want = []string{txt}
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("dig %s %s: no %q in\n%s", q.qtype, q.name, w, out)
			}
		}
	}
}

// TestBrowseInterface checks Browse's interface filter from a listener
// namespace with two interfaces: the veth towards the monitor and lo.
func TestBrowseInterface(t *testing.T) {
	requireTools(t)
	t.Parallel()
	mon, lis := vethNamespaces(t)
	startHelper(t, mon, "advertise", testConfig("cva"))

	checkMonitor(t, browse(t, lis, BrowseConfig{Timeout: time.Second}), false, monitorAddr)
	checkMonitor(t, browse(t, lis, BrowseConfig{Timeout: time.Second, Interface: "cvb"}), false, monitorAddr)
	if found := browse(t, lis, BrowseConfig{Timeout: time.Second, Interface: "lo"}); len(found) != 0 {
		t.Errorf("browsing on lo found %+v, which is on cvb", found)
	}
}

// TestAddressChange moves the monitor to a new address, as DHCP might:
// the advertiser (with no interface set, so it finds cva itself) notices
// and advertises the new one.
func TestAddressChange(t *testing.T) {
	requireTools(t)
	t.Parallel()
	mon, lis := vethNamespaces(t)
	cfg := testConfig("")
	cfg.PollInterval = 50 * time.Millisecond
	startHelper(t, mon, "advertise", cfg)
	browseCfg := BrowseConfig{Timeout: 500 * time.Millisecond}

	checkMonitor(t, browse(t, lis, browseCfg), false, monitorAddr)
	ipCmd(t, "-n", mon, "addr", "del", monitorAddr+"/24", "dev", "cva")
	ipCmd(t, "-n", mon, "addr", "add", "10.231.0.3/24", "dev", "cva")
	found := browseUntil(t, lis, browseCfg, "monitor at 10.231.0.3", func(found []Found) bool {
		return len(found) == 1 && fmt.Sprint(found[0].Addrs) == "[10.231.0.3]"
	})
	checkMonitor(t, found, false, "10.231.0.3")
}

// avahi runs dbus-daemon and avahi-daemon in ns, restricted to iface,
// with a private bus and run directory, and returns a function that runs
// avahi-browse -rpt for our service there and returns its resolved lines.
func avahi(t *testing.T, ns, iface string) func() []avahiService {
	bus := startAvahi(t, ns, iface)
	return func() []avahiService {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), helperWait)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "avahi-browse", "-rpt", ServiceType)
		cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+bus)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("avahi-browse: %v\n%s", err, out)
		}
		var found []avahiService
		for _, line := range strings.Split(string(out), "\n") {
			// =;iface;IPv4;name;type;domain;host;address;port;txt
			f := strings.SplitN(line, ";", 10)
			if len(f) == 10 && f[0] == "=" {
				found = append(found, avahiService{Name: unescapeAvahi(f[3]), Host: f[6], Addr: f[7], Port: f[8], TXT: f[9]})
			}
		}
		return found
	}
}

// startAvahi runs dbus-daemon and avahi-daemon in ns, restricted to
// iface, with a private bus and run directory, and returns the bus
// address for avahi's command-line tools.
func startAvahi(t *testing.T, ns, iface string) (bus string) {
	dir := t.TempDir()
	bus = "unix:path=" + dir + "/bus"
	busConf := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>` + bus + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/>
    <allow send_type="method_call"/><allow send_type="signal"/>
    <allow send_type="method_return"/><allow send_type="error"/>
    <allow receive_type="method_call"/><allow receive_type="signal"/>
    <allow receive_type="method_return"/><allow receive_type="error"/>
  </policy>
</busconfig>
`
	avahiConf := "[server]\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=" + iface +
		"\nenable-dbus=yes\n[wide-area]\nenable-wide-area=no\n[publish]\ndisable-publishing=yes\n"
	for name, text := range map[string]string{"bus.conf": busConf, "avahi.conf": avahiConf} {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startProc(t, exec.Command("ip", "netns", "exec", ns, "dbus-daemon", "--config-file="+dir+"/bus.conf",
		"--nofork", "--nopidfile", "--print-address"), true, "unix:")
	// ip netns exec gives the command a private mount namespace: the
	// tmpfs over /run (for avahi's pid file) is not seen by the host.
	daemon := exec.Command("ip", "netns", "exec", ns, "sh", "-c", `mount -t tmpfs tmpfs /run && mkdir /run/avahi-daemon &&
		exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$1"`, "sh", dir+"/avahi.conf")
	daemon.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+bus)
	startProc(t, daemon, true, "Server startup complete")
	return bus
}

type avahiService struct{ Name, Host, Addr, Port, TXT string }

// unescapeAvahi undoes avahi-browse -p's \DDD escapes.
func unescapeAvahi(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil && n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestAvahi checks what a phone-like resolver sees: avahi queries from
// port 5353 and caches what it hears, like Android's and Apple's. It finds
// the monitor, sees the pairing flag change (through the announcement's
// cache flush, not a cache expiry), and drops the monitor after Close
// (through the goodbye).
func TestAvahi(t *testing.T) {
	requireTools(t, "avahi-daemon", "avahi-browse", "dbus-daemon")
	t.Parallel()
	mon, lis := vethNamespaces(t)
	browse := avahi(t, lis, "cvb")
	adv := startHelper(t, mon, "advertise", testConfig("cva"))
	fp := testFingerprint(1)
	fpText := strings.ReplaceAll(fp.String(), "-", "")

	until := func(what string, cond func([]avahiService) bool) {
		t.Helper()
		start := time.Now()
		deadline := start.Add(helperWait)
		for {
			found := browse()
			if cond(found) {
				t.Logf("avahi-browse saw %s after %v", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("avahi-browse: no %s within %v; last saw %+v", what, helperWait, found)
			}
		}
	}
	withPair := func(pair string) func([]avahiService) bool {
		return func(found []avahiService) bool {
			if len(found) != 1 {
				return false
			}
			s := found[0]
			return s.Name == "Baby's room" && s.Addr == monitorAddr && s.Port == "48080" &&
				s.Host == HostName("Baby's room", fp) &&
				strings.Contains(s.TXT, `"fp=`+fpText+`"`) && strings.Contains(s.TXT, `"id=`+fp.DeviceID()+`"`) &&
				strings.Contains(s.TXT, `"v=1"`) && strings.Contains(s.TXT, `"pair=`+pair+`"`) &&
				!strings.Contains(s.TXT, `"pair=`+map[string]string{"0": "1", "1": "0"}[pair]+`"`)
		}
	}
	until("monitor with pair=0", withPair("0"))
	adv.send("pair 1", "ok")
	until("monitor with pair=1", withPair("1"))
	adv.send("close", "closed")
	// Without the goodbye, avahi would list the monitor for 120 s more.
	until("empty list after the goodbye", func(found []avahiService) bool { return len(found) == 0 })
}
