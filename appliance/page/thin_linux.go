//go:build linux

package page

import (
	"net"

	"golang.org/x/sys/unix"
)

// thinStream turns on Linux's linear retransmission timeouts for thin
// streams on c (TCP_THIN_LINEAR_TIMEOUTS): while fewer than four packets
// are in flight, as with the page's event stream and its night stream, a
// lost segment is sent again every RTO (200 ms on a LAN) for six tries
// before the timer starts doubling, instead of at 0.2, 0.6, 1.4, 3.0 s. On
// a lossy Wi-Fi that keeps a phone's stream and its heartbeat from
// stalling for seconds, which night mode would take for a dead link. A
// connection that is not TCP, or a refusal, leaves the default.
func thinStream(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_THIN_LINEAR_TIMEOUTS, 1)
	})
}
