//go:build linux

package page

import (
	"net"
	"net/http"
	"testing"

	"golang.org/x/sys/unix"
)

// TestThinStream: every connection the page's listener admits has
// Linux's linear retransmission timeouts for thin streams on.
func TestThinStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Protect(&http.Server{}, ln, nil, Limits{})
	defer l.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	raw, err := unwrap(got).Conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_THIN_LINEAR_TIMEOUTS)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if v != 1 {
		t.Fatalf("TCP_THIN_LINEAR_TIMEOUTS = %d on an admitted connection, want 1", v)
	}
}
