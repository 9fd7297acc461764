package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPairListRevoke runs the real binaries: open the window, pair, list,
// revoke. The revoked listener is disconnected within a second and refused
// after.
func TestPairListRevoke(t *testing.T) {
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0")
	lis := []string{"--state-dir", filepath.Join(dir, "listener"), "--name", "kitchen"}
	code := mon.code(t)

	// Window closed: refused with its own exit code.
	if _, errs, rc := run(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...); rc != 4 || !strings.Contains(errs, "pairing window is closed") {
		t.Fatalf("pair with the window closed: exit %d, %s", rc, errs)
	}
	mon.admin(t, "pair")
	// A wrong code fails with its exit code.
	wrong := "2468-1357"
	if code == wrong {
		wrong = "1357-2468"
	}
	if _, errs, rc := run(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", wrong)...); rc != 3 || !strings.Contains(errs, "check the setup code") {
		t.Fatalf("pair with a wrong code: exit %d, %s", rc, errs)
	}
	out := mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...)
	if !strings.Contains(out, `Paired with "Nursery"`) {
		t.Fatalf("pair output: %s", out)
	}

	// Both sides list each other.
	fp := strings.TrimSpace(mustRun(t, nil, "cradle", append(lis, "id")...))
	var ls []struct {
		Name, Fingerprint string
	}
	if err := json.Unmarshal([]byte(mon.admin(t, "listeners", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Fingerprint != fp || ls[0].Name != "kitchen" {
		t.Fatalf("listeners: %+v, want kitchen %s", ls, fp)
	}
	var ms []struct {
		Name, Address string
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "cradle", append(lis, "monitors", "--json")...)), &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "Nursery" || ms[0].Address != mon.addr {
		t.Fatalf("monitors: %+v", ms)
	}
	// The failed attempt and the pairing are in the audit trail.
	events := mon.admin(t, "events")
	for _, want := range []string{`pairing-attempt-failed`, `listener-trusted\s+"kitchen"`, `pairing-window-closed\s+success`} {
		if !regexp.MustCompile(want).MatchString(events) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}

	// Connected, then revoked: offline within a second, with "revoked".
	watch := start(t, nil, "cradle", append(lis, "status", "--watch", "--json")...)
	watch.waitLine(0, onlineRE, 10*time.Second)
	t0 := time.Now()
	mon.admin(t, "revoke", fp)
	_, line := watch.waitLine(0, offlineRE, 2*time.Second)
	if d := time.Since(t0); d > time.Second {
		t.Errorf("revoked listener disconnected after %v, want within 1s", d)
	}
	if w := parseWatch(t, line); !strings.Contains(w.Error, "revoked") {
		t.Errorf("offline reason %q, want revoked", w.Error)
	}
	if rc := watch.wait(5 * time.Second); rc == 0 {
		t.Error("cradle status --watch exited 0 after being revoked")
	}
	// Refused after: the status probe shows it offline with revoked.
	out, _, _ = run(t, nil, "cradle", append(lis, "status", "--json")...)
	if !strings.Contains(out, `"offline"`) || !strings.Contains(out, "revoked") {
		t.Errorf("status after revoke: %s", out)
	}
	if strings.Contains(mon.admin(t, "listeners"), fp) {
		t.Error("revoked listener still listed")
	}
}

// TestPairWithPayload: the payload pins the monitor's identity before the
// first byte; a payload for another monitor is refused as a mismatch.
func TestPairWithPayload(t *testing.T) {
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0")
	other := startMonitor(t, nil, filepath.Join(dir, "other"), "127.0.0.1:0")
	payloadOf := func(m *monitor) string {
		mm := regexp.MustCompile(`Setup payload: (CR:\S+)`).FindStringSubmatch(m.admin(t, "setup-code"))
		if mm == nil {
			t.Fatal("no payload printed")
		}
		return mm[1]
	}
	lis := []string{"--state-dir", filepath.Join(dir, "listener")}
	mon.admin(t, "pair")
	// The other monitor's payload, sent to this monitor's address: refused
	// before any pairing message, with the mismatch exit code.
	if _, errs, rc := run(t, nil, "cradle", append(lis, "pair", mon.addr, "--payload", payloadOf(other))...); rc != 7 || !strings.Contains(errs, "identity changed") {
		t.Fatalf("payload of another monitor: exit %d, %s", rc, errs)
	}
	out := mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--payload", payloadOf(mon))...)
	if !strings.Contains(out, "Paired with") {
		t.Fatalf("pair --payload: %s", out)
	}
	if !strings.Contains(mon.admin(t, "listeners"), strings.TrimSpace(mustRun(t, nil, "cradle", append(lis, "id")...))) {
		t.Fatal("listener not trusted after payload pairing")
	}
}

// TestFactoryReset: every listener is untrusted and disconnected, and the
// monitor has a new setup code: the old one (printed on the card) no
// longer pairs, the new one does.
func TestFactoryReset(t *testing.T) {
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0")
	code := mon.code(t)
	var watches []*proc
	for _, name := range []string{"a", "b"} {
		lis := []string{"--state-dir", filepath.Join(dir, name), "--name", name}
		mon.admin(t, "pair")
		mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...)
		w := start(t, nil, "cradle", append(lis, "status", "--watch", "--json")...)
		w.waitLine(0, onlineRE, 10*time.Second)
		watches = append(watches, w)
	}
	if out, _, rc := run(t, nil, "cradled", "--state-dir", mon.state, "reset"); rc != 2 {
		t.Fatalf("reset without --yes must refuse: exit %d %s", rc, out)
	}
	mon.admin(t, "reset", "--yes")
	for _, w := range watches {
		w.waitLine(0, offlineRE, 2*time.Second)
	}
	if out := mon.admin(t, "listeners"); !strings.Contains(out, "No trusted listeners") {
		t.Errorf("listeners after reset: %s", out)
	}
	if !regexp.MustCompile(`trust-reset`).MatchString(mon.admin(t, "events")) {
		t.Error("no trust-reset event")
	}
	newCode := mon.code(t)
	if newCode == code {
		t.Fatalf("the setup code is still %s after a factory reset", code)
	}
	lis := []string{"--state-dir", filepath.Join(dir, "a")}
	mon.admin(t, "pair")
	if _, errs, rc := run(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...); rc != 3 {
		t.Fatalf("the old code after a factory reset: exit %d %s", rc, errs)
	}
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", newCode)...)
	// Restarted, the monitor keeps the new code.
	mon.signal(syscall.SIGTERM)
	mon.wait(10 * time.Second)
	if again := startMonitor(t, nil, mon.state, "127.0.0.1:0").code(t); again != newCode {
		t.Fatalf("after a restart the code is %s, want the new %s", again, newCode)
	}
}

// TestPairWhenNew: a factory-new cradled (the daemon's default) pairs
// right after start with the setup code and no button; after that first
// pairing, a restart leaves pairing closed.
func TestPairWhenNew(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "monitor")
	mon := startMonitor(t, nil, state, "127.0.0.1:0", "--pair-when-new=true")
	lis := []string{"--state-dir", filepath.Join(dir, "listener"), "--name", "kitchen"}
	code := mon.code(t)
	if st := mon.admin(t, "status"); !strings.Contains(st, "Pairing:     open until") {
		t.Fatalf("factory-new monitor's status: %s", st)
	}
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...)
	mon.signal(syscall.SIGTERM)
	if rc := mon.wait(10 * time.Second); rc != 0 {
		t.Fatalf("cradled exit %d after SIGTERM", rc)
	}

	mon = startMonitor(t, nil, state, "127.0.0.1:0", "--pair-when-new=true")
	if st := mon.admin(t, "status"); !strings.Contains(st, "Pairing:     closed") {
		t.Fatalf("paired monitor's status after a restart: %s", st)
	}
	other := []string{"--state-dir", filepath.Join(dir, "listener2")}
	if _, errs, rc := run(t, nil, "cradle", append(other, "pair", mon.addr, "--code", code)...); rc != 4 {
		t.Fatalf("second listener without the button: exit %d, %s", rc, errs)
	}
}

// TestWipe: `cradled wipe` refuses without --yes; with it the monitor
// exits (status 75, for systemd to start it again) and starts as a new
// monitor: a new identity, a new setup code, no event of its old life;
// the listener paired before is refused as an identity change.
func TestWipe(t *testing.T) {
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0")
	code := mon.code(t)
	oldFP := strings.TrimSpace(mon.admin(t, "id"))
	lis := []string{"--state-dir", filepath.Join(dir, "parent"), "--name", "parent"}
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", code)...)
	oldEvents := mon.admin(t, "events", "--json")
	if !strings.Contains(oldEvents, "listener-trusted") {
		t.Fatalf("no pairing in the events before the wipe: %s", oldEvents)
	}
	if out, errs, rc := run(t, nil, "cradled", "--state-dir", mon.state, "wipe"); rc != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("wipe without --yes must refuse: exit %d %s %s", rc, out, errs)
	}
	mon.admin(t, "wipe", "--yes")
	if rc := mon.wait(10 * time.Second); rc != 75 {
		t.Fatalf("cradled exited %d after the wipe, want 75 (restart me)", rc)
	}
	again := startMonitor(t, nil, mon.state, mon.addr)
	newFP := strings.TrimSpace(again.admin(t, "id"))
	if newFP == "" || newFP == oldFP {
		t.Fatalf("the identity after the wipe is %q, before %q: want a new one", newFP, oldFP)
	}
	if newCode := again.code(t); newCode == code {
		t.Fatalf("the setup code is still %s after the wipe", code)
	}
	var evs []struct {
		Type    string `json:"type"`
		Details string `json:"details"`
	}
	out := again.admin(t, "events", "--json")
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("events: %v in %s", err, out)
	}
	for _, ev := range evs {
		if ev.Type == "listener-trusted" || strings.Contains(ev.Details, "parent") || strings.Contains(ev.Details, oldFP) {
			t.Errorf("an event of the monitor's old life after the wipe: %+v", ev)
		}
	}
	if out := again.admin(t, "listeners"); !strings.Contains(out, "No trusted listeners") {
		t.Errorf("listeners after the wipe: %s", out)
	}
	out, errs, rc := run(t, nil, "cradle", append(lis, "listen", "Nursery", "--output", "none")...)
	errs = out + errs
	if rc != 7 || !strings.Contains(errs, "identity") {
		t.Fatalf("the old listener after the wipe: exit %d %q, want 7 (the monitor's identity changed)", rc, errs)
	}
	t.Logf("old listener: %s", strings.TrimSpace(errs))
}
