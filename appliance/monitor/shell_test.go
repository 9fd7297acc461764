package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/presence"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store"
)

// The shell run with recording fakes, as tailscale's ipnlocal/state_test.go
// runs its backend: a connection whose messages the test sends and reads,
// an event log that records appends (and fails those it is told to), a
// device that records the LED and delivers presses. No socket is opened
// (the hub runs its test sources; pion is not reached).

// fakeConn is a control connection: the test writes the listener's
// messages to in and reads the monitor's from out.
type fakeConn struct {
	id   uint64
	peer identity.Fingerprint
	in   chan control.Message
	out  chan control.Message

	mu      sync.Mutex
	trusted bool
	calls   []string // SetTrusted and Close, in order
	err     error
	done    chan struct{}
}

func newFakeConn(id uint64, peer identity.Fingerprint, trusted bool) *fakeConn {
	return &fakeConn{id: id, peer: peer, trusted: trusted, in: make(chan control.Message), out: make(chan control.Message, 64), done: make(chan struct{})}
}

func (c *fakeConn) ID() uint64                 { return c.id }
func (c *fakeConn) Peer() identity.Fingerprint { return c.peer }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(c.id)), Port: 4433} // a device per connection
}
func (c *fakeConn) Exporter() ([]byte, error) { return []byte("channel binding of the fake conn"), nil }
func (c *fakeConn) Stats() presence.Stats     { return presence.Stats{} }
func (c *fakeConn) Done() <-chan struct{}     { return c.done }

func (c *fakeConn) Trusted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trusted
}

func (c *fakeConn) SetTrusted(t bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trusted = t
	c.calls = append(c.calls, fmt.Sprint("set-trusted ", t))
}

func (c *fakeConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *fakeConn) Send(ctx context.Context, m control.Message) error {
	select {
	case <-c.done:
		return transport.ErrClosed
	default:
	}
	select {
	case c.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TrySend queues m on out without waiting, as the transport's outbox
// does: full, it fails with transport.ErrSendQueueFull.
func (c *fakeConn) TrySend(m control.Message) error {
	select {
	case <-c.done:
		return transport.ErrClosed
	default:
	}
	select {
	case c.out <- m:
		return nil
	default:
		return transport.ErrSendQueueFull
	}
}

func (c *fakeConn) StartClose(code control.Code, reason string) { c.Close(code, reason) }

func (c *fakeConn) Recv(ctx context.Context) (control.Message, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *fakeConn) Close(code control.Code, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "close "+code.String())
	if c.err == nil {
		c.err = &control.Error{Code: code, Message: reason}
		close(c.done)
	}
	return nil
}

func (c *fakeConn) recorded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// next returns the monitor's next message other than a status.
func (c *fakeConn) next(t *testing.T) control.Message {
	t.Helper()
	for {
		select {
		case m := <-c.out:
			switch m.(type) {
			case control.Status, control.PairingState, control.SoundState, control.TalkState: // at any time
				continue
			}
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no message from the monitor within 5s")
		}
	}
}

// fakeLog records appends; fail, when set, refuses some.
type fakeLog struct {
	mu       sync.Mutex
	appended []store.Payload
	fail     func(store.Payload) bool
	changed  chan struct{}
}

func newFakeLog() *fakeLog { return &fakeLog{changed: make(chan struct{}, 1)} }

func (l *fakeLog) Append(_ context.Context, ps ...store.Payload) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		if l.fail != nil && l.fail(p) {
			return 0, errors.New("disk full")
		}
		l.appended = append(l.appended, p)
	}
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return uint64(len(l.appended)), nil
}

func (l *fakeLog) Compact(int) (int, error) { return 0, nil }

func (l *fakeLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.appended {
		out = append(out, p.EventType().String())
	}
	return out
}

// waitFor waits until the log holds an event of type ty, n times.
func (l *fakeLog) waitFor(t *testing.T, ty store.Type, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		got := 0
		for _, s := range l.types() {
			if s == ty.String() {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-l.changed:
		case <-deadline:
			t.Fatalf("no %d× %s in the log within 5s: %v", n, ty, l.types())
		}
	}
}

// fakeDevice records the LED's states and delivers presses.
type fakeDevice struct {
	mu     sync.Mutex
	states []hw.State
	events chan hw.ButtonEvent
}

func (d *fakeDevice) SetState(s hw.State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.states = append(d.states, s)
}
func (d *fakeDevice) Events() <-chan hw.ButtonEvent { return d.events }
func (d *fakeDevice) Close() error                  { return nil }

func (d *fakeDevice) pattern() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.states) == 0 {
		return ""
	}
	return hw.PatternFor(d.states[len(d.states)-1]).Name
}

// newShell builds a Monitor's shell on fakes and starts its accept,
// button and tick parts; the test hands connections to the returned
// channel.
func newShell(t *testing.T, dev *fakeDevice, log *fakeLog) (*Monitor, chan<- connection) {
	t.Helper()
	return newShellWith(t, dev, log, nil)
}

// newShellWith is newShell, with setup run on the Monitor before any of
// its goroutines starts.
func newShellWith(t *testing.T, dev *fakeDevice, log *fakeLog, setup func(*Monitor)) (*Monitor, chan<- connection) {
	t.Helper()
	dir := t.TempDir()
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, "identity"), control.RoleMonitor, "Nursery")
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := pairing.LoadOrCreateCode(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	hub, err := media.Open(media.ModeTest, media.Config{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rtc.NewEngine(rtc.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tracks, err := newSharedTracks(hub, eng, webrtc.MimeTypeVP8)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "Nursery", Device: dev}.WithDefaults()
	m := &Monitor{cfg: cfg, log: quiet, id: id, code: code, hub: hub, tracks: tracks, now: time.Now, known: newKnownAddrs(),
		peers: map[uint64]*peer{}, wake: make(chan struct{}, 1), fatal: make(chan error, 1), events: log}
	m.core = NewCore(CoreConfig{Name: cfg.Name, DeviceID: id.Fingerprint.DeviceID(), AutoStream: cfg.AutoStream, LED: true})
	if setup != nil {
		setup(m)
	}
	m.startApplier()
	m.parts = newParts(m.fail)
	m.ctx = m.parts.ctx
	acc := make(chan connection)
	m.accept = func(ctx context.Context) (connection, control.Hello, error) {
		select {
		case c := <-acc:
			return c, control.Hello{Name: "phone"}, nil
		case <-ctx.Done():
			return nil, control.Hello{}, ctx.Err()
		}
	}
	m.parts.Go(m.serveAccept)
	m.parts.Go(m.serveButtons)
	m.parts.Go(m.serveTicks)
	t.Cleanup(func() {
		m.parts.stop()
		m.stopApplier()
		tracks.close()
		hub.Close()
	})
	return m, acc
}

// pairFake runs the listener's side of pairing on c up to pair_confirm
// and returns the monitor's answer to it.
func pairFake(t *testing.T, m *Monitor, c *fakeConn) control.Message {
	t.Helper()
	binding, _ := c.Exporter()
	sess, err := pake.NewInitiator(pake.Params{Code: string(m.code), ListenerID: c.peer, MonitorID: m.id.Fingerprint, Binding: binding}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pA, _ := sess.Start()
	c.in <- control.PairStart{Name: "phone", PA: pA}
	reply, ok := c.next(t).(control.PairReply)
	if !ok {
		t.Fatalf("pair_start: got %T", reply)
	}
	cA, err := sess.Finish(reply.PB)
	if err != nil {
		t.Fatal(err)
	}
	c.in <- control.PairConfirm{CA: cA}
	return c.next(t)
}

// TestShellPairsWithFakes: the shell on fakes: a stranger while pairing
// is closed is welcomed and closed, unrecorded; the button opens the
// window (log, LED); a stranger is welcomed, unrecorded, and pairing
// trusts the connection after the trust record, then records it; a close
// is recorded.
func TestShellPairsWithFakes(t *testing.T) {
	dev := &fakeDevice{events: make(chan hw.ButtonEvent)}
	log := newFakeLog()
	m, acc := newShell(t, dev, log)

	early := newFakeConn(2, pfp(2), false)
	acc <- early
	if ack, ok := early.next(t).(control.HelloAck); !ok || ack.Trusted || ack.PairingOpen {
		t.Fatalf("welcome: %+v", ack)
	}
	<-early.Done()
	if got := fmt.Sprint(early.recorded()); !strings.HasPrefix(got, "[close pairing_closed") {
		t.Fatalf("a stranger while pairing is closed: %s", got)
	}

	dev.events <- hw.ShortPress
	log.waitFor(t, store.TypePairingWindowOpened, 1)
	waitFor(t, func() bool { return dev.pattern() == hw.PatternPairing.Name })
	c := newFakeConn(1, pfp(1), false)
	acc <- c
	if ack, ok := c.next(t).(control.HelloAck); !ok || ack.Trusted || !ack.PairingOpen {
		t.Fatalf("welcome: %+v", ack)
	}

	if done, ok := pairFake(t, m, c).(control.PairDone); !ok || done.DeviceID != m.id.Fingerprint.DeviceID() {
		t.Fatalf("pair_confirm answered %+v", done)
	}
	log.waitFor(t, store.TypePairingWindowClosed, 1) // after pair_done
	if got := log.types(); fmt.Sprint(got) != "[pairing-window-opened listener-trusted connection-opened pairing-window-closed]" {
		t.Fatalf("log %v", got)
	}
	if !c.Trusted() || fmt.Sprint(c.recorded()) != "[set-trusted true]" {
		t.Fatalf("conn calls %v, trusted=%v", c.recorded(), c.Trusted())
	}
	waitFor(t, func() bool { return dev.pattern() == hw.PatternReady.Name })

	// Stream requests: refused by the core, or accepted and then not
	// answered (an SDP pion refuses): the pumps it started stop again.
	expectErr := func(msg control.Message, code control.Code) {
		t.Helper()
		c.in <- msg
		if e, ok := c.next(t).(control.ErrorMsg); !ok || e.Code != code.String() {
			t.Fatalf("%s answered %+v, want %s", msg.MessageType(), e, code)
		}
	}
	expectErr(control.StreamStart{Session: "s", Kind: "video"}, control.CodeBadRequest)
	expectErr(control.WebRTCOffer{Session: "s", SDP: "v=0"}, control.CodeBadRequest)
	c.in <- control.StreamStart{Session: "s", Kind: control.StreamAudio}
	expectErr(control.WebRTCOffer{Session: "s", SDP: "not SDP"}, control.CodeBadRequest)
	m.tracks.mu.Lock()
	pumping := m.tracks.stopA != nil
	m.tracks.mu.Unlock()
	if pumping {
		t.Fatal("after a failed answer the audio pump still runs")
	}

	c.in <- control.Bye{}
	log.waitFor(t, store.TypeConnectionClosed, 1)
}

// TestShellTrustNotRecordedNotGiven: when the listener-trusted append
// fails, pair_confirm is answered internal and nothing else happens.
func TestShellTrustNotRecordedNotGiven(t *testing.T) {
	dev := &fakeDevice{events: make(chan hw.ButtonEvent)}
	log := newFakeLog()
	log.fail = func(p store.Payload) bool { _, ok := p.(store.ListenerTrusted); return ok }
	m, acc := newShell(t, dev, log)
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	c := newFakeConn(1, pfp(1), false)
	acc <- c
	c.next(t) // hello_ack
	msg, ok := pairFake(t, m, c).(control.ErrorMsg)
	if !ok || msg.Code != control.CodeInternal.String() {
		t.Fatalf("pair_confirm answered %+v, want internal", msg)
	}
	if c.Trusted() || len(c.recorded()) != 0 {
		t.Fatalf("trusted=%v calls %v", c.Trusted(), c.recorded())
	}
	if got := log.types(); fmt.Sprint(got) != "[pairing-window-opened]" {
		t.Fatalf("log %v", got)
	}
}

// TestShellAdmissionWithFakes: with every slot taken, a ninth stranger is
// welcomed and the oldest idle one (not the four pairing) is closed busy;
// none is recorded.
func TestShellAdmissionWithFakes(t *testing.T) {
	log := newFakeLog()
	m, acc := newShell(t, &fakeDevice{events: make(chan hw.ButtonEvent)}, log)
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	var conns []*fakeConn
	for i := range maxUntrusted {
		c := newFakeConn(uint64(i+1), pfp(byte(i+1)), false)
		acc <- c
		if _, ok := c.next(t).(control.HelloAck); !ok {
			t.Fatalf("stranger %d not welcomed", i+1)
		}
		if i < pairing.DefaultMaxSessions {
			if err := m.step(PairStart{At: m.now(), Conn: c.id, Name: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	c := newFakeConn(99, pfp(99), false)
	acc <- c
	if _, ok := c.next(t).(control.HelloAck); !ok {
		t.Fatal("the ninth stranger was not welcomed")
	}
	old := conns[pairing.DefaultMaxSessions]
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest idle stranger is still open")
	}
	if got := fmt.Sprint(old.recorded()); !strings.HasPrefix(got, "[close busy") {
		t.Fatalf("oldest idle stranger: %s", got)
	}
	for _, c := range conns[:pairing.DefaultMaxSessions] {
		if len(c.recorded()) != 0 {
			t.Fatalf("a pairing stranger: %v", c.recorded())
		}
	}
	if got := fmt.Sprint(log.types()); got != "[pairing-window-opened]" {
		t.Fatalf("log %v", got)
	}
}
