package identity

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

const proto = "cradle/1"

type result struct {
	err  error
	peer Fingerprint
	cs   tls.ConnectionState
}

// handshake runs a TLS handshake over net.Pipe. After a successful
// handshake the server writes one byte that the client reads, so a client
// certificate the server refused surfaces as a client error too.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (server, client result) {
	t.Helper()
	sc, cc := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	sc.SetDeadline(deadline)
	cc.SetDeadline(deadline)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer sc.Close()
		s := tls.Server(sc, serverCfg)
		if server.err = s.Handshake(); server.err == nil {
			server.cs = s.ConnectionState()
			server.peer, server.err = PeerFingerprint(server.cs)
			s.Write([]byte{1})
		}
	})
	wg.Go(func() {
		defer cc.Close()
		c := tls.Client(cc, clientCfg)
		if client.err = c.Handshake(); client.err == nil {
			client.cs = c.ConnectionState()
			client.peer, _ = PeerFingerprint(client.cs)
			_, client.err = c.Read(make([]byte, 1))
		}
	})
	wg.Wait()
	return server, client
}

func twoIdentities(t *testing.T) (mon, lis *Identity) {
	mon, _ = mustLoad(t, t.TempDir(), RoleMonitor, "monitor")
	lis, _ = mustLoad(t, t.TempDir(), RoleListener, "listener")
	return mon, lis
}

func TestTLSPinned(t *testing.T) {
	mon, lis := twoIdentities(t)
	var seen Fingerprint
	verify := func(fp Fingerprint) error { seen = fp; return nil }

	for _, pin := range []Fingerprint{mon.Fingerprint, {}} { // pinned, and zero = any
		s, c := handshake(t, mon.ServerTLS(verify, proto), lis.ClientTLS(pin, proto))
		if s.err != nil || c.err != nil {
			t.Fatalf("pin %s: server err %v, client err %v", pin.DeviceID(), s.err, c.err)
		}
		if seen != lis.Fingerprint || s.peer != lis.Fingerprint || c.peer != mon.Fingerprint {
			t.Errorf("fingerprints: verify saw %s, server saw %s, client saw %s", seen.DeviceID(), s.peer.DeviceID(), c.peer.DeviceID())
		}
		if c.cs.Version != tls.VersionTLS13 || c.cs.NegotiatedProtocol != proto {
			t.Errorf("version %x protocol %q, want TLS 1.3 and %q", c.cs.Version, c.cs.NegotiatedProtocol, proto)
		}
	}
}

func TestTLSWrongPin(t *testing.T) {
	mon, lis := twoIdentities(t)
	wrong := lis.Fingerprint // pin the listener's own key: not the server's
	_, c := handshake(t, mon.ServerTLS(nil, proto), lis.ClientTLS(wrong, proto))
	if !errors.Is(c.err, ErrFingerprintMismatch) {
		t.Fatalf("client err = %v, want ErrFingerprintMismatch", c.err)
	}
	var me *MismatchError
	if !errors.As(c.err, &me) || me.Want != wrong || me.Got != mon.Fingerprint {
		t.Fatalf("MismatchError = %+v, want Want=%s Got=%s", me, wrong.DeviceID(), mon.Fingerprint.DeviceID())
	}
}

func TestTLSServerRefusesClient(t *testing.T) {
	mon, lis := twoIdentities(t)
	errUnknown := errors.New("unknown device")

	// The trust gate's verify refuses this client.
	s, c := handshake(t, mon.ServerTLS(func(Fingerprint) error { return errUnknown }, proto), lis.ClientTLS(mon.Fingerprint, proto))
	if !errors.Is(s.err, errUnknown) || c.err == nil {
		t.Errorf("refused client: server err %v (want %v), client err %v (want an error)", s.err, errUnknown, c.err)
	}

	// A client that presents no certificate at all.
	noCert := lis.ClientTLS(mon.Fingerprint, proto)
	noCert.Certificates = nil
	s, c = handshake(t, mon.ServerTLS(nil, proto), noCert)
	if s.err == nil || c.err == nil {
		t.Errorf("client without certificate: server err %v, client err %v; want both to fail", s.err, c.err)
	}
}

func TestPeerFingerprintNoCert(t *testing.T) {
	if _, err := PeerFingerprint(tls.ConnectionState{}); !errors.Is(err, ErrNoPeerCertificate) {
		t.Errorf("err = %v, want ErrNoPeerCertificate", err)
	}
}
