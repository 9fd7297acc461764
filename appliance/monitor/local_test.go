package monitor

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/store"
)

// A LocalConn is what a listener's session runs on (listener.Conn), with
// no import of the listener by the monitor (TestMonitorImportsNoListener).
var _ listener.Conn = (*LocalConn)(nil)

// TestMonitorImportsNoListener: the monitor's own files do not import the
// listener role; LocalConn fits listener.Conn by its methods alone.
func TestMonitorImportsNoListener(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "github.com/cradle-monitor/cradle/appliance/listener" {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

// pairDevice pairs a web device from addr on m's page (the window opened
// first), as the page host does.
func pairDevice(t *testing.T, m *Monitor, addr, name string) Device {
	t.Helper()
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	_, d, err := m.PairDevice(context.Background(), netip.MustParseAddr(addr), m.SetupCode().String(), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pageSide is the page's end of a LocalConn, read by a goroutine of its
// own (as the page host would): messages go to msgs, except webrtc_ice,
// handed to the offerer of its session.
type pageSide struct {
	c    *LocalConn
	msgs chan control.Message
	stop chan struct{}
	done chan struct{}

	mu  sync.Mutex
	ice map[string]*rtc.Offerer
}

func connectPage(t *testing.T, m *Monitor, who LocalPeer) (*pageSide, control.HelloAck) {
	t.Helper()
	c, ack, err := m.ConnectLocal(context.Background(), who)
	if err != nil {
		t.Fatalf("ConnectLocal(%+v): %v", who, err)
	}
	return followPage(t, c), ack
}

func followPage(t *testing.T, c *LocalConn) *pageSide {
	ps := &pageSide{c: c, msgs: make(chan control.Message, 1024), stop: make(chan struct{}), done: make(chan struct{}), ice: map[string]*rtc.Offerer{}}
	go func() {
		defer close(ps.done)
		defer close(ps.msgs)
		for {
			msg, err := c.Recv(context.Background())
			if err != nil {
				return
			}
			if ice, ok := msg.(control.WebRTCICE); ok {
				ps.mu.Lock()
				o := ps.ice[ice.Session]
				ps.mu.Unlock()
				if o != nil {
					_ = o.AddCandidate(ice)
				}
				continue
			}
			select {
			case ps.msgs <- msg:
			case <-ps.stop:
				return
			}
		}
	}()
	t.Cleanup(ps.close)
	return ps
}

func (ps *pageSide) close() {
	ps.c.Close(control.CodeNone, "")
	select {
	case <-ps.stop:
	default:
		close(ps.stop)
	}
	<-ps.done
}

// wait returns the first message within d that want accepts (skipping
// the others); it fails the test at the close or after d.
func (ps *pageSide) wait(t *testing.T, d time.Duration, what string, want func(control.Message) bool) control.Message {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case msg, ok := <-ps.msgs:
			if !ok {
				t.Fatalf("waiting for %s: the connection closed: %v", what, ps.c.Err())
			}
			if want(msg) {
				return msg
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

func isType(ty control.Type) func(control.Message) bool {
	return func(m control.Message) bool { return m.MessageType() == ty }
}

// pageStream is a phone's browser streaming through the page: a pion
// peer connection (rtc's Offerer) whose offer and candidates go over the
// LocalConn, counting the audio RTP packets it receives.
type pageStream struct {
	o       *rtc.Offerer
	packets atomic.Uint64
	states  chan webrtc.PeerConnectionState
}

// offer starts session on ps: stream_start, then the offer. It returns
// the stream once answered, or the error message the monitor sent.
func (ps *pageSide) offer(t *testing.T, session string) (*pageStream, *control.ErrorMsg) {
	t.Helper()
	eng, err := rtcEngine()
	if err != nil {
		t.Fatal(err)
	}
	s := &pageStream{o: eng.NewOfferer(), states: make(chan webrtc.PeerConnectionState, 16)}
	t.Cleanup(func() { s.o.Close() })
	s.o.OnCandidate = func(c control.WebRTCICE) { _ = ps.c.Send(context.Background(), c) }
	s.o.OnState = func(st webrtc.PeerConnectionState) {
		select {
		case s.states <- st:
		default:
		}
	}
	s.o.OnTrack = func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			s.packets.Add(1)
		}
	}
	sdp, err := s.o.Start(session, false)
	if err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	ps.ice[session] = s.o
	ps.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ps.c.Send(ctx, control.StreamStart{Session: session, Kind: control.StreamAudio}); err != nil {
		t.Fatal(err)
	}
	if err := ps.c.Send(ctx, control.WebRTCOffer{Session: session, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	msg := ps.wait(t, 10*time.Second, "the offer's answer", func(m control.Message) bool {
		switch m := m.(type) {
		case control.WebRTCAnswer:
			return m.Session == session
		case control.ErrorMsg:
			return m.Ref == control.TypeWebRTCOffer
		}
		return false
	})
	if e, ok := msg.(control.ErrorMsg); ok {
		return nil, &e
	}
	if err := s.o.SetAnswer(msg.(control.WebRTCAnswer).SDP); err != nil {
		t.Fatal(err)
	}
	return s, nil
}

// waitPackets waits until more than n audio packets arrived.
func (s *pageStream) waitPackets(t *testing.T, n uint64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for s.packets.Load() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%d audio packets after %v (state %s)", s.packets.Load(), d, s.o.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// within waits up to d for cond.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConnectLocal: an unknown device is refused; a paired one's page
// gets a trusted hello_ack and follows the monitor as a listener does
// (status, pairing_state, device_added); the connection shows in Status
// with the phone's address and is recorded as the page's; pairing on it
// is refused; the page host connects without a device.
func TestConnectLocal(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	ctx := context.Background()
	if _, _, err := m.ConnectLocal(ctx, LocalPeer{Device: "ABCDEFGH"}); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown device: err = %v, want ErrUnknownDevice", err)
	}
	if n := len(m.Status().Connections); n != 0 {
		t.Fatalf("a refused in-process connection left %d connections", n)
	}
	d := pairDevice(t, m, "127.0.0.7", "Bedside phone")
	phone := netip.MustParseAddrPort("127.0.0.7:50123")
	ps, ack := connectPage(t, m, LocalPeer{Device: d.ID, Remote: phone, Name: d.Name})
	if !ack.Trusted || ack.Name != "Nursery" || ack.DeviceID != m.Fingerprint().DeviceID() || ack.AutoStream != control.StreamAudio {
		t.Fatalf("hello_ack %+v: want a trusted listener's", ack)
	}
	ps.wait(t, 3*time.Second, "a status", isType(control.TypeStatus))

	// The view of the connections: the phone's address, the device's name.
	var ci ConnectionInfo
	for _, c := range m.Status().Connections {
		if c.ID == ps.c.ID() {
			ci = c
		}
	}
	if ci.Remote != phone.String() || ci.Name != d.Name || !ci.Trusted || ci.Fingerprint != "" {
		t.Errorf("Status shows the page's connection as %+v", ci)
	}
	if ci.ID&localConnBit == 0 || ci.ID&(1<<63) != 0 {
		t.Errorf("in-process id %#x outside its space", ci.ID)
	}
	// Recorded as the page's.
	opened := false
	err := m.st.Events(0, func(e store.Event) error {
		if o, ok := e.Payload.(store.ConnectionOpened); ok && o.ConnID == connName(ps.c.ID()) {
			opened = o.Remote == "page:"+d.ID && o.Fingerprint == [32]byte{}
		}
		return nil
	})
	if err != nil || !opened {
		t.Errorf("no connection-opened from page:%s (err %v)", d.ID, err)
	}

	// Followed as a listener: the window's notices and a new device.
	if _, err := m.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ps.wait(t, 2*time.Second, "pairing_state open", func(m control.Message) bool {
		st, ok := m.(control.PairingState)
		return ok && st.Open
	})
	if _, _, err := m.PairDevice(ctx, netip.MustParseAddr("127.0.0.8"), m.SetupCode().String(), "Kitchen tablet"); err != nil {
		t.Fatal(err)
	}
	added := ps.wait(t, 2*time.Second, "device_added", isType(control.TypeDeviceAdded)).(control.DeviceAdded)
	if added.Name != "Kitchen tablet" {
		t.Errorf("device_added %+v", added)
	}
	// The control card names the page's device; pair_open works as for a listener.
	if err := ps.c.Send(ctx, control.InfoRequest{}); err != nil {
		t.Fatal(err)
	}
	info := ps.wait(t, 2*time.Second, "info", isType(control.TypeInfo)).(control.Info)
	you := false
	for _, c := range info.Connections {
		you = you || (c.You && c.DeviceID == d.ID && c.Name == d.Name)
	}
	if !you {
		t.Errorf("the card does not show the page's device as the asker: %+v", info.Connections)
	}
	if err := ps.c.Send(ctx, control.PairOpen{DurationMillis: 60_000}); err != nil {
		t.Fatal(err)
	}
	ps.wait(t, 2*time.Second, "pair_open's answer", func(m control.Message) bool {
		st, ok := m.(control.PairingState)
		return ok && st.Ref == control.TypePairOpen && st.Open
	})

	// Nothing to pair on it: refused, and it stays open.
	if err := ps.c.Send(ctx, control.PairStart{PA: validShare(t), Name: "x"}); err != nil {
		t.Fatal(err)
	}
	e := ps.wait(t, 2*time.Second, "pair_start's refusal", isType(control.TypeError)).(control.ErrorMsg)
	if e.Code != control.CodeProtocol.String() || e.Ref != control.TypePairStart {
		t.Errorf("pair_start answered %+v, want protocol_error", e)
	}
	if ps.c.Err() != nil {
		t.Fatalf("closed after pair_start: %v", ps.c.Err())
	}

	// The page host itself: no device, no address.
	host, ack := connectPage(t, m, LocalPeer{Name: "page host"})
	if !ack.Trusted || host.c.RemoteAddr().String() != "page" {
		t.Fatalf("page host: ack %+v, address %v", ack, host.c.RemoteAddr())
	}
	host.wait(t, 3*time.Second, "a status", isType(control.TypeStatus))
	if host.c.ID() == ps.c.ID() {
		t.Fatal("two in-process connections share an id")
	}
}

// TestLocalConnMessages: what crosses the pipe is what the codec lets
// through: too large fails and leaves it open, the connection's own
// messages are refused, a bye closes it.
func TestLocalConnMessages(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	ps, _ := connectPage(t, m, LocalPeer{Name: "page host"})
	ctx := context.Background()
	big := control.WebRTCOffer{Session: "s", SDP: strings.Repeat("a", control.MaxFrame)}
	if err := ps.c.Send(ctx, big); !errors.Is(err, control.ErrFrameTooLarge) {
		t.Errorf("an offer larger than a frame: err = %v", err)
	}
	for _, msg := range []control.Message{control.Hello{}, control.HelloAck{}, control.Ping{}, control.Pong{}} {
		if err := ps.c.Send(ctx, msg); !errors.Is(err, control.ErrProtocol) {
			t.Errorf("%s from the page: err = %v", msg.MessageType(), err)
		}
	}
	if ps.c.Err() != nil {
		t.Fatalf("closed by a refused Send: %v", ps.c.Err())
	}
	if err := ps.c.Send(ctx, control.Bye{Code: "none"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ps.c.Done():
	case <-time.After(time.Second):
		t.Fatal("still open 1 s after bye")
	}
	if err := ps.c.Send(ctx, control.InfoRequest{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after the close: err = %v, want ErrClosed", err)
	}
	within(t, time.Second, "the monitor forgets the connection", func() bool { return len(m.Status().Connections) == 0 })
}

// TestLocalOfferStreamsAudio: a browser's offer sent over a LocalConn is
// answered by the monitor's own answerer, and its audio arrives.
func TestLocalOfferStreamsAudio(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	d := pairDevice(t, m, "127.0.0.7", "Bedside phone")
	ps, _ := connectPage(t, m, LocalPeer{Device: d.ID, Remote: netip.MustParseAddrPort("127.0.0.7:50123"), Name: d.Name})
	s, e := ps.offer(t, "phone-1")
	if e != nil {
		t.Fatalf("offer refused: %+v", *e)
	}
	s.waitPackets(t, 0, 5*time.Second)
	if n := m.tracks.engine.Sessions(); n != 1 {
		t.Errorf("the engine runs %d sessions, want 1", n)
	}
	if err := ps.c.Send(context.Background(), control.StreamStop{Session: "phone-1"}); err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "the session stops", func() bool { return m.tracks.engine.Sessions() == 0 })
}

// TestLocalRevokeClosesPage: revoking the device closes its page's
// connection within a second with revoked, and closes its session's
// peer connection; another device's page stays.
func TestLocalRevokeClosesPage(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	d := pairDevice(t, m, "127.0.0.7", "Bedside phone")
	other := pairDevice(t, m, "127.0.0.8", "Kitchen tablet")
	ps, _ := connectPage(t, m, LocalPeer{Device: d.ID, Remote: netip.MustParseAddrPort("127.0.0.7:50123"), Name: d.Name})
	keep, _ := connectPage(t, m, LocalPeer{Device: other.ID, Name: other.Name})
	s, e := ps.offer(t, "phone-1")
	if e != nil {
		t.Fatalf("offer refused: %+v", *e)
	}
	s.waitPackets(t, 0, 5*time.Second)

	t0 := time.Now()
	if err := m.RevokeDevice(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ps.c.Done():
	case <-time.After(time.Second):
		t.Fatal("the revoked device's connection is still open after 1 s")
	}
	if err := ps.c.Err(); !errors.Is(err, control.ErrRevoked) || !strings.Contains(err.Error(), "this phone was removed") {
		t.Fatalf("closed with %v, want revoked", err)
	}
	within(t, time.Second, "the revoked device's peer connection closes", func() bool { return m.tracks.engine.Sessions() == 0 })
	within(t, time.Second, "the phone's side of the session leaves connected", func() bool {
		return s.o.State() != webrtc.PeerConnectionStateConnected
	})
	t.Logf("closed after %v; the phone's side is %s", time.Since(t0), s.o.State())
	if keep.c.Err() != nil {
		t.Fatalf("another device's page closed too: %v", keep.c.Err())
	}
	if _, _, err := m.ConnectLocal(context.Background(), LocalPeer{Device: d.ID}); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("a revoked device connects again: err = %v", err)
	}
}

// TestLocalStreamLimits: in-process connections count in the stream
// limits: with one session allowed in all, a second device's page and a
// QUIC listener are refused with the same code.
func TestLocalStreamLimits(t *testing.T) {
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", RTC: rtc.Config{MaxSessions: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	a := pairDevice(t, m, "127.0.0.7", "Bedside phone")
	b := pairDevice(t, m, "127.0.0.8", "Kitchen tablet")
	pa, _ := connectPage(t, m, LocalPeer{Device: a.ID, Name: a.Name})
	pb, _ := connectPage(t, m, LocalPeer{Device: b.ID, Name: b.Name})
	s, e := pa.offer(t, "a")
	if e != nil {
		t.Fatalf("the first offer refused: %+v", *e)
	}
	s.waitPackets(t, 0, 5*time.Second)
	_, e = pb.offer(t, "b")
	if e == nil || e.Code != control.CodeBusy.String() {
		t.Fatalf("a second device's offer past the limit: %+v, want busy", e)
	}
	// Refused by the core, before the engine: the engine's own limit,
	// its backstop, would say so with "rtc:".
	if strings.HasPrefix(e.Message, "rtc:") {
		t.Fatalf("the core let the offer through; the engine refused it: %q", e.Message)
	}

	// A QUIC listener gets the same answer.
	_, conn := pairedClient(t, m)
	send(t, conn, control.StreamStart{Session: "q", Kind: control.StreamAudio})
	send(t, conn, control.WebRTCOffer{Session: "q", SDP: offerSDP(t)})
	for {
		if r, ok := recv(t, conn).(control.ErrorMsg); ok {
			if r.Code != e.Code || r.Ref != e.Ref {
				t.Fatalf("the listener got %+v, the page %+v", r, *e)
			}
			break
		}
	}
	if n := m.tracks.engine.Sessions(); n != 1 {
		t.Fatalf("%d sessions run, want 1", n)
	}
}

// TestLocalClose: Close is idempotent and tells the monitor; Monitor.Close
// ends every LocalConn with going_away; ConnectLocal then fails.
func TestLocalClose(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	d := pairDevice(t, m, "127.0.0.7", "Bedside phone")
	ctx := context.Background()
	a, _, err := m.ConnectLocal(ctx, LocalPeer{Device: d.ID, Name: d.Name})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := m.ConnectLocal(ctx, LocalPeer{Name: "page host"})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := m.ConnectLocal(ctx, LocalPeer{Name: "page host"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Close(control.CodeNone, "") != nil || a.Close(control.CodeGoingAway, "again") != nil {
		t.Fatal("Close returned an error")
	}
	<-a.Done()
	if err := a.Err(); !errors.Is(err, &control.Error{Code: control.CodeNone}) {
		t.Errorf("closed by the page: Err = %v, want code none", err)
	}
	within(t, time.Second, "the monitor forgets the closed one", func() bool { return len(m.Status().Connections) == 2 })

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		m.Close()
	}()
	for _, lc := range []*LocalConn{b, c} {
		select {
		case <-lc.Done():
		case <-time.After(time.Second):
			t.Fatal("a LocalConn outlived Monitor.Close") // (and Close waits for its serve)
		}
		var ce *control.Error
		if err := lc.Err(); !errors.As(err, &ce) || ce.Code != control.CodeGoingAway || !ce.Remote {
			t.Errorf("closed with %v, want going_away from the monitor", err)
		}
		// What was queued before the close (the sound_state and
		// talk_state after hello_ack) is still read, then the close.
		var err error
		for n := 0; err == nil && n < 10; n++ {
			var msg control.Message
			if msg, err = lc.Recv(ctx); err == nil && msg.MessageType() != control.TypeSoundState && msg.MessageType() != control.TypeTalkState {
				t.Errorf("Recv after the close: %s", msg.MessageType())
			}
		}
		if !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Recv after the close: %v", err)
		}
	}
	<-closed
	m.Close()
	if _, _, err := m.ConnectLocal(ctx, LocalPeer{Name: "page host"}); !errors.Is(err, ErrLocalClosing) {
		t.Fatalf("ConnectLocal after Close: err = %v", err)
	}
}

// TestLocalSlowPageClosed: a page that does not read is closed with
// idle_timeout once its queue is full, as a slow listener is; the monitor
// is not held up.
func TestLocalSlowPageClosed(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	c, _, err := m.ConnectLocal(context.Background(), LocalPeer{Name: "page host"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(control.CodeNone, "")
	// Each open and close is a pairing_state notice, queued without
	// waiting; nobody reads them.
	for i := 0; c.Err() == nil && i < 2*transport.DefaultSendQueue; i++ {
		if _, err := m.OpenPairing(0); err != nil {
			t.Fatal(err)
		}
		m.ClosePairing()
	}
	if err := c.Err(); !errors.Is(err, control.ErrIdleTimeout) {
		t.Fatalf("a page that does not read: Err = %v, want idle_timeout", err)
	}
	n := 0
	for {
		if _, err := c.Recv(context.Background()); err != nil {
			break
		}
		n++
	}
	if n != transport.DefaultSendQueue {
		t.Errorf("%d messages were queued before the close, want %d", n, transport.DefaultSendQueue)
	}
}

// TestLocalConnectRacesRevoke: pages connect as fast as they can while
// their device is revoked: every connection accepted is closed with
// revoked within a second (none slips in between the store's change and
// the core's close), and the first refusal is ErrUnknownDevice.
func TestLocalConnectRacesRevoke(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	ctx := context.Background()
	for round := range 8 {
		d := pairDevice(t, m, "127.0.0.7", "Bedside phone")
		var (
			mu    sync.Mutex
			conns []*LocalConn
			wg    sync.WaitGroup
		)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, _, err := m.ConnectLocal(ctx, LocalPeer{Device: d.ID, Name: d.Name})
					if err != nil {
						if !errors.Is(err, ErrUnknownDevice) {
							t.Errorf("round %d: ConnectLocal: %v", round, err)
						}
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}()
		}
		within(t, 5*time.Second, "pages connect", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(conns) >= 4
		})
		if err := m.RevokeDevice(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		deadline := time.After(time.Second)
		for _, c := range conns {
			select {
			case <-c.Done():
			case <-deadline:
				t.Fatalf("round %d: a page connected while its device was revoked is still open after 1 s (%d connected)", round, len(conns))
			}
			if !errors.Is(c.Err(), control.ErrRevoked) {
				t.Fatalf("round %d: closed with %v, want revoked", round, c.Err())
			}
		}
		t.Logf("round %d: %d connections accepted before the revocation, all closed", round, len(conns))
	}
}
