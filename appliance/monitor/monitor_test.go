package monitor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openMonitor(t *testing.T, dir string, limits pairing.WindowConfig) *Monitor {
	t.Helper()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0", limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// client is a listener built from the transport and pake packages, so
// tests can misbehave on purpose.
type client struct {
	t  *testing.T
	id *identity.Identity
}

func newClient(t *testing.T) *client {
	t.Helper()
	id, _, err := identity.LoadOrCreate(filepath.Join(t.TempDir(), "id"), "listener", "tester")
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, id: id}
}

func (c *client) dial(m *Monitor) (*transport.Conn, control.HelloAck) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, ack, err := transport.Dial(ctx, m.Addr().String(), c.id, m.Fingerprint(),
		control.Hello{Protocol: 1, Role: "listener", DeviceID: c.id.Fingerprint.DeviceID(), Name: "tester"}, transport.Config{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close(control.CodeNone, "") })
	return conn, ack
}

func recv(t *testing.T, conn *transport.Conn) control.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := conn.Recv(ctx)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return msg
}

func send(t *testing.T, conn *transport.Conn, msg control.Message) {
	t.Helper()
	if err := conn.Send(context.Background(), msg); err != nil {
		t.Fatalf("send %s: %v", msg.MessageType(), err)
	}
}

// pair runs one pairing attempt with code on conn, whose PAKE binding is
// taken from bindConn (normally conn itself). It returns the error the
// monitor answered, or nil on success.
func (c *client) pair(t *testing.T, conn, bindConn *transport.Conn, code pairing.Code) error {
	t.Helper()
	binding, err := bindConn.Exporter()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := pake.NewListener(pake.Params{Code: string(code), ListenerID: c.id.Fingerprint, MonitorID: conn.Peer(), Binding: binding}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pA, _ := sess.Start()
	send(t, conn, control.PairStart{Name: "tester", PA: pA})
	var pB []byte
	switch msg := recv(t, conn).(type) {
	case control.PairReply:
		pB = msg.PB
	case control.ErrorMsg:
		return msg.ToError()
	default:
		t.Fatalf("unexpected %T", msg)
	}
	cA, err := sess.Finish(pB)
	if err != nil {
		t.Fatal(err)
	}
	send(t, conn, control.PairConfirm{CA: cA})
	switch msg := recv(t, conn).(type) {
	case control.PairDone:
		if _, err := sess.Verify(msg.CB); err != nil {
			t.Fatalf("monitor's confirmation: %v", err)
		}
		return nil
	case control.ErrorMsg:
		return msg.ToError()
	default:
		t.Fatalf("unexpected %T", msg)
	}
	return nil
}

func wrongCode(right pairing.Code) pairing.Code {
	if right == "24681357" {
		return "13572468"
	}
	return "24681357"
}

func TestPairOnSameConnection(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	c := newClient(t)
	conn, ack := c.dial(m)
	if ack.Trusted {
		t.Fatal("unpaired listener reported trusted")
	}
	// Untrusted: a stream request closes the connection with untrusted.
	if err := c.pair(t, conn, conn, m.SetupCode()); !errors.Is(err, control.ErrPairingClosed) {
		t.Fatalf("pairing with the window closed: %v", err)
	}
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if err := c.pair(t, conn, conn, m.SetupCode()); err != nil {
		t.Fatalf("pairing: %v", err)
	}
	if !m.Trusted(c.id.Fingerprint) {
		t.Fatal("listener not on the allowlist after pairing")
	}
	// Trusted on the same connection: a non-pairing request is now served
	// (here refused as a bad request) instead of closing with untrusted, and
	// the sound level arrives.
	send(t, conn, control.StreamStart{Session: "s", Kind: "smell"})
	sawStatus := false
	for {
		msg := recv(t, conn)
		if _, ok := msg.(control.Status); ok {
			sawStatus = true
			continue
		}
		if e, ok := msg.(control.ErrorMsg); !ok || e.Code != "bad_request" {
			t.Fatalf("after pairing, stream_start got %+v", msg)
		}
		break
	}
	for !sawStatus {
		_, sawStatus = recv(t, conn).(control.Status)
	}
	if st := m.Status(); st.Pairing.Open {
		t.Error("window still open after a successful pairing")
	}
}

func TestUntrustedIsClosed(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	conn, _ := newClient(t).dial(m)
	send(t, conn, control.StreamStart{Session: "s", Kind: "audio"})
	<-conn.Done()
	if !errors.Is(conn.Err(), control.ErrUntrusted) {
		t.Fatalf("untrusted stream_start closed with %v", conn.Err())
	}
}

// TestFailuresCountAndClose: a wrong code counts once; the 20th failure
// closes the window; the right code then fails until it reopens; the
// lifetime counter survives a restart.
func TestFailuresCountAndClose(t *testing.T) {
	dir := t.TempDir()
	m := openMonitor(t, dir, pairing.WindowConfig{})
	c := newClient(t)
	conn, _ := c.dial(m)
	m.OpenPairing(0)
	wrong := wrongCode(m.SetupCode())
	if err := c.pair(t, conn, conn, wrong); !errors.Is(err, control.ErrPairingFailed) {
		t.Fatalf("wrong code: %v", err)
	}
	if got := m.Store().State().Pairing.LifetimeFailures; got != 1 {
		t.Fatalf("one wrong code counted %d times", got)
	}
	// A replayed confirmation (no session any more) is out of order:
	// protocol_error, not counted, and the connection stays.
	send(t, conn, control.PairConfirm{CA: make([]byte, 32)})
	if msg, ok := recv(t, conn).(control.ErrorMsg); !ok || msg.Code != "protocol_error" || msg.Ref != control.TypePairConfirm {
		t.Fatalf("replayed pair_confirm: %+v", msg)
	}
	if got := m.Store().State().Pairing.LifetimeFailures; got != 1 {
		t.Fatalf("a pair_confirm without pair_start was counted: %d failures", got)
	}
	// A name the monitor cannot store is refused before the window sees
	// the attempt: bad_request, not counted, the connection stays.
	for _, name := range []string{strings.Repeat("n", MaxListenerName+1), "bad\x00name"} {
		send(t, conn, control.PairStart{Name: name, PA: make([]byte, 65)})
		if msg, ok := recv(t, conn).(control.ErrorMsg); !ok || msg.Code != "bad_request" || msg.Ref != control.TypePairStart {
			t.Fatalf("pair_start with name %q: %+v", name, msg)
		}
	}
	if got := m.Store().State().Pairing.LifetimeFailures; got != 1 {
		t.Fatalf("refused names were counted: %d failures", got)
	}
	for i := 2; i <= 20; i++ {
		if err := c.pair(t, conn, conn, wrong); !errors.Is(err, control.ErrPairingFailed) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if m.Status().Pairing.Open {
		t.Fatal("window still open after 20 failures")
	}
	if err := c.pair(t, conn, conn, m.SetupCode()); !errors.Is(err, control.ErrPairingClosed) {
		t.Fatalf("right code after the window closed: %v", err)
	}
	m.OpenPairing(0)
	if got := m.Store().State().Pairing.LifetimeFailures; got != 20 {
		t.Fatalf("lifetime failures %d, want 20", got)
	}
	m.Close()
	m2 := openMonitor(t, dir, pairing.WindowConfig{})
	if got := m2.Status().Pairing.LifetimeFailures; got != 20 {
		t.Fatalf("after restart: lifetime failures %d, want 20", got)
	}
	if m2.Status().Pairing.Open {
		t.Fatal("window open after a restart")
	}
}

// TestLockAfterLifetimeFailures: after the lifetime limit pairing is
// refused until a factory reset (limits shortened for the test).
func TestLockAfterLifetimeFailures(t *testing.T) {
	dir := t.TempDir()
	m := openMonitor(t, dir, pairing.WindowConfig{MaxWindowFailures: 3, MaxLifetimeFailures: 5})
	c := newClient(t)
	conn, _ := c.dial(m)
	wrong := wrongCode(m.SetupCode())
	for i := 0; i < 5; i++ {
		if i%3 == 0 {
			m.OpenPairing(0)
		}
		if err := c.pair(t, conn, conn, wrong); !errors.Is(err, control.ErrPairingFailed) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := m.OpenPairing(0); !errors.Is(err, pairing.ErrLocked) {
		t.Fatalf("open after the lifetime limit: %v", err)
	}
	m.Close()
	m = openMonitor(t, dir, pairing.WindowConfig{MaxWindowFailures: 3, MaxLifetimeFailures: 5})
	if !m.Status().Pairing.Locked {
		t.Fatal("lock forgotten across a restart")
	}
	if _, err := m.Store().Append(context.Background(), resetEvent()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !m.Status().Pairing.Locked })
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatalf("open after factory reset: %v", err)
	}
	conn, _ = c.dial(m)
	if err := c.pair(t, conn, conn, m.SetupCode()); err != nil {
		t.Fatalf("pairing after factory reset: %v", err)
	}
}

func TestSecondPairerBusy(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	m.OpenPairing(0)
	a, b := newClient(t), newClient(t)
	connA, _ := a.dial(m)
	connB, _ := b.dial(m)
	sess, _ := pake.NewListener(pake.Params{Code: string(m.SetupCode()), ListenerID: a.id.Fingerprint, MonitorID: m.Fingerprint(), Binding: mustExporter(t, connA)}, nil)
	pA, _ := sess.Start()
	send(t, connA, control.PairStart{Name: "a", PA: pA})
	if _, ok := recv(t, connA).(control.PairReply); !ok {
		t.Fatal("first pairer got no reply")
	}
	if err := b.pair(t, connB, connB, m.SetupCode()); !errors.Is(err, control.ErrBusy) {
		t.Fatalf("second pairer: %v", err)
	}
}

// TestSessionTimeout: a session idle past its deadline fails and counts.
func TestSessionTimeout(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{SessionTimeout: 200 * time.Millisecond})
	m.OpenPairing(0)
	c := newClient(t)
	conn, _ := c.dial(m)
	sess, _ := pake.NewListener(pake.Params{Code: string(m.SetupCode()), ListenerID: c.id.Fingerprint, MonitorID: m.Fingerprint(), Binding: mustExporter(t, conn)}, nil)
	pA, _ := sess.Start()
	send(t, conn, control.PairStart{Name: "slow", PA: pA})
	if _, ok := recv(t, conn).(control.PairReply); !ok {
		t.Fatal("no reply")
	}
	// Say nothing: the session expires and the monitor says so.
	if msg, ok := recv(t, conn).(control.ErrorMsg); !ok || msg.Code != "pairing_failed" {
		t.Fatalf("idle session: %+v", msg)
	}
	waitFor(t, func() bool { return m.Store().State().Pairing.LifetimeFailures == 1 })
}

// TestRelayedTranscriptFails: a pairing run whose binding comes from
// another connection (as a relay between two TLS sessions would produce)
// fails, with the right code.
func TestRelayedTranscriptFails(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	m.OpenPairing(0)
	c := newClient(t)
	conn1, _ := c.dial(m)
	conn2, _ := c.dial(m)
	if err := c.pair(t, conn1, conn2, m.SetupCode()); !errors.Is(err, control.ErrPairingFailed) {
		t.Fatalf("relayed run: %v", err)
	}
	if m.Trusted(c.id.Fingerprint) {
		t.Fatal("relayed run trusted the listener")
	}
	// The same code on its own connection works.
	if err := c.pair(t, conn1, conn1, m.SetupCode()); err != nil {
		t.Fatalf("honest run: %v", err)
	}
}

// TestRevokeClosesLiveConnection: revoke closes within a second with
// revoked; a new connection is untrusted.
func TestRevokeClosesLiveConnection(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	m.OpenPairing(0)
	c := newClient(t)
	conn, _ := c.dial(m)
	if err := c.pair(t, conn, conn, m.SetupCode()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := m.Revoke(context.Background(), c.id.Fingerprint.String()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-time.After(time.Second):
		t.Fatal("revoked connection still open after 1s")
	}
	if !errors.Is(conn.Err(), control.ErrRevoked) {
		t.Fatalf("closed with %v, want revoked", conn.Err())
	}
	t.Logf("revoked connection closed after %v", time.Since(t0))
	_, ack := c.dial(m)
	if ack.Trusted {
		t.Fatal("revoked listener trusted on a new connection")
	}
	if len(m.Listeners()) != 0 {
		t.Fatal("revoked listener still listed")
	}
}

func mustExporter(t *testing.T, c *transport.Conn) []byte {
	t.Helper()
	b, err := c.Exporter()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func resetEvent() store.TrustReset { return store.TrustReset{Reason: "test"} }

// TestUnpairedConnectionsBounded: a stranger cannot hold more than
// maxUntrusted unpaired connections; a paired listener still gets in.
func TestUnpairedConnectionsBounded(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	friend := newClient(t)
	m.OpenPairing(0)
	fc, _ := friend.dial(m)
	if err := friend.pair(t, fc, fc, m.SetupCode()); err != nil {
		t.Fatal(err)
	}
	stranger := newClient(t)
	for range maxUntrusted {
		stranger.dial(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := transport.Dial(ctx, m.Addr().String(), stranger.id, m.Fingerprint(),
		control.Hello{Protocol: 1, Role: "listener", Name: "stranger"}, transport.Config{})
	if !errors.Is(err, control.ErrBusy) {
		t.Fatalf("connection beyond the limit: %v, want busy", err)
	}
	if _, ack := friend.dial(m); !ack.Trusted {
		t.Fatal("paired listener refused while strangers hold connections")
	}
}

// recordLog keeps every log record, for tests of what reaches the log.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLog) WithGroup(string) slog.Handler      { return h }

// TestStrangerCannotFillTheLog: a stranger's error reports and failed
// requests are debug lines only, and what it wrote is cut to a bound; a
// trusted listener's error report is an info line.
func TestStrangerCannotFillTheLog(t *testing.T) {
	rl := &recordLog{}
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(rl)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	conn, _ := newClient(t).dial(m)
	long := strings.Repeat("x", 1500) // frames before trust stop at 4 KiB
	for range 50 {
		send(t, conn, control.ErrorMsg{Code: long[:300], Message: long})
	}
	for range 5 {
		send(t, conn, control.PairStart{Name: strings.Repeat("n", 65), PA: make([]byte, 65)}) // bad_request
	}
	for range 5 {
		if em, ok := recv(t, conn).(control.ErrorMsg); !ok || em.Code != control.CodeBadRequest.String() {
			t.Fatalf("got %#v, want bad_request", em)
		}
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	debug := 0
	for _, r := range rl.recs {
		if r.Message != "listener reported an error" && r.Message != "request failed" && r.Message != "listener connected" {
			continue
		}
		if r.Level > slog.LevelDebug {
			t.Fatalf("a stranger's %q logged at %v", r.Message, r.Level)
		}
		debug++
		r.Attrs(func(a slog.Attr) bool {
			if s := a.Value.String(); len(s) > maxPeerText+len("…") {
				t.Errorf("%q: attribute %s of %d bytes, want at most %d", r.Message, a.Key, len(s), maxPeerText)
			}
			return true
		})
	}
	if debug < 50 {
		t.Fatalf("%d debug lines for 55 bad messages: the reports were not logged at all", debug)
	}
}

// TestStateDirTightened: a state directory that already exists with wider
// permissions is restricted to its owner at start.
func TestStateDirTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	openMonitor(t, dir, pairing.WindowConfig{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("state directory mode %o, want 700", perm)
	}
}
