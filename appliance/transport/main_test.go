package transport

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ids caches identities: key generation is cheap but not free, and a few
// are enough.
var (
	idsMu sync.Mutex
	ids   = map[string]*identity.Identity{}
)

func newIdentity(t testing.TB, role, name string) *identity.Identity {
	t.Helper()
	idsMu.Lock()
	defer idsMu.Unlock()
	if id, ok := ids[role+"/"+name]; ok {
		return id
	}
	dir := t.TempDir() // the files are read once, at LoadOrCreate
	id, created, err := identity.LoadOrCreate(dir, role, name)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	ids[role+"/"+name] = id
	return id
}

func monitorID(t testing.TB) *identity.Identity {
	return newIdentity(t, identity.RoleMonitor, "nursery")
}
func listenerID(t testing.TB) *identity.Identity {
	return newIdentity(t, identity.RoleListener, "kitchen")
}

// allowSet is a hand-written Allowlist: a set of trusted fingerprints, and a
// record of every question.
type allowSet struct {
	mu      sync.Mutex
	trusted map[identity.Fingerprint]bool
	asked   []identity.Fingerprint
	onAsk   chan identity.Fingerprint // if set, told of each question
}

func newAllowSet(fps ...identity.Fingerprint) *allowSet {
	g := &allowSet{trusted: map[identity.Fingerprint]bool{}}
	for _, fp := range fps {
		g.trusted[fp] = true
	}
	return g
}

func (g *allowSet) Trusted(fp identity.Fingerprint) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, fp)
	if g.onAsk != nil {
		g.onAsk <- fp
	}
	return g.trusted[fp]
}

func (g *allowSet) questions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.asked)
}

// testConfig keeps the default timeouts (a loaded CI machine running the
// race detector needs them) and logs to the test with -v and TRANSPORT_LOG set.
func testConfig(t testing.TB) Config {
	return Config{
		Heartbeat: presence.Config{Interval: time.Second, Misses: 3},
		Logger:    testLogger(t),
	}
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() || os.Getenv("TRANSPORT_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// harness runs a server whose accept loop acks every hello and hands the
// connection to the test.
type harness struct {
	srv   *Server
	allow *allowSet
	conns chan *Conn
	done  chan struct{}
}

func newHarness(t testing.TB, g *allowSet, cfg Config) *harness {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", monitorID(t), g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{srv: srv, allow: g, conns: make(chan *Conn, 128), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			c, hello, err := srv.Accept(context.Background())
			if err != nil {
				return
			}
			ack := control.HelloAck{Protocol: control.ProtocolVersion, Role: control.RoleMonitor,
				Name: "nursery", DeviceID: srv.Addr().String(), Trusted: c.Trusted()}
			if hello.Name == "no-ack" {
				h.conns <- c
				continue
			}
			if err := c.Send(context.Background(), ack); err != nil {
				continue
			}
			h.conns <- c
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.srv.Close()
	<-h.done
}

func (h *harness) addr() string { return h.srv.Addr().String() }

// next returns the next accepted connection.
func (h *harness) next(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-h.conns:
		return c
	case <-time.After(testTimeout):
		t.Fatal("no connection accepted")
		return nil
	}
}

func testHello(name string) control.Hello {
	return control.Hello{Protocol: control.ProtocolVersion, Role: control.RoleListener, Name: name}
}

// dial connects a listener with the right pin.
func dial(t testing.TB, h *harness, cfg Config) (*Conn, control.HelloAck) {
	t.Helper()
	c, ack, err := Dial(testCtx(t), h.addr(), listenerID(t), monitorID(t).Fingerprint, testHello("kitchen"), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close(control.CodeNone, "test over") })
	return c, ack
}

// pair returns both ends of a connection.
func pair(t testing.TB, h *harness, cfg Config) (client, server *Conn) {
	t.Helper()
	client, _ = dial(t, h, cfg)
	return client, h.next(t)
}

// rawClient speaks QUIC directly to test what a misbehaving peer gets.
type rawClient struct {
	qc *quic.Conn
	st *quic.Stream
}

// rawDial dials with id's certificate (none if id is nil).
func rawDial(t testing.TB, addr string, id *identity.Identity) (*rawClient, error) {
	t.Helper()
	return rawDialFrom(t, nil, addr, id)
}

// rawDialFrom dials from the local address laddr (any if nil).
func rawDialFrom(t testing.TB, laddr *net.UDPAddr, addr string, id *identity.Identity) (*rawClient, error) {
	t.Helper()
	tlsConf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPN}, MinVersion: tls.VersionTLS13}
	if id != nil {
		tlsConf = id.ClientTLS(identity.Fingerprint{}, ALPN)
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() {
		tr.Close()
		udp.Close()
	})
	qc, err := tr.Dial(testCtx(t), raddr, tlsConf, &quic.Config{MaxIdleTimeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") }) // runs before the transport's cleanup
	return &rawClient{qc: qc}, nil
}

func (rc *rawClient) open(t testing.TB) {
	t.Helper()
	st, err := rc.qc.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	rc.st = st
}

// greet opens the stream, sends a hello and fails t unless a hello_ack
// comes back.
func (rc *rawClient) greet(t testing.TB) {
	t.Helper()
	rc.open(t)
	rc.write(t, frame(t, testHello("raw")))
	if m := rc.readOne(t); m.MessageType() != control.TypeHelloAck {
		t.Fatalf("got %v, want hello_ack", m)
	}
}

func (rc *rawClient) write(t testing.TB, b []byte) {
	t.Helper()
	if _, err := rc.st.Write(b); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

func frame(t testing.TB, m control.Message) []byte {
	t.Helper()
	f, err := encodeFrame(m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// header is a frame header announcing n bytes.
func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// rawFrame frames payload as is, without checks.
func rawFrame(payload string) []byte { return append(header(uint32(len(payload))), payload...) }

// closeCode waits for the raw connection to close and returns the
// application close code the server sent.
func (rc *rawClient) closeCode(t testing.TB) control.Code {
	t.Helper()
	select {
	case <-rc.qc.Context().Done():
	case <-time.After(testTimeout):
		t.Fatal("server did not close the connection")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(rc.qc.Context()); !errors.As(err, &ae) || !ae.Remote {
		t.Fatalf("raw client closed with %v, want a remote application error", err)
	}
	return control.FromQUIC(uint64(ae.ErrorCode))
}

// readOne reads the next message that is not a ping.
func (rc *rawClient) readOne(t testing.TB) control.Message {
	t.Helper()
	rc.st.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		m, err := control.ReadMessage(rc.st)
		if err != nil {
			t.Fatalf("raw read: %v", err)
		}
		if _, ok := m.(control.Ping); !ok {
			return m
		}
	}
}

// finish reads what the server sends until the end of its stream, ends
// the raw client's side in turn (as a listener does after an error that
// closes the connection), and returns the messages read and the close
// code the server sent.
func (rc *rawClient) finish(t testing.TB) ([]control.Message, control.Code) {
	t.Helper()
	var msgs []control.Message
	if rc.st != nil {
		rc.st.SetReadDeadline(time.Now().Add(testTimeout))
		for {
			m, err := control.ReadMessage(rc.st)
			if err != nil {
				break
			}
			if _, ok := m.(control.Ping); !ok {
				msgs = append(msgs, m)
			}
		}
		rc.st.Close()
	}
	return msgs, rc.closeCode(t)
}

// lastError returns the last message of msgs if it is an error message.
func lastError(msgs []control.Message) (control.ErrorMsg, bool) {
	if len(msgs) == 0 {
		return control.ErrorMsg{}, false
	}
	em, ok := msgs[len(msgs)-1].(control.ErrorMsg)
	return em, ok
}
