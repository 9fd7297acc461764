package discovery

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// announcer sends unsolicited multicast responses, which hashicorp/mdns
// never does. Receivers ignore responses that do not come from port 5353
// (RFC 6762 section 11), so the socket binds 0.0.0.0:5353 with
// SO_REUSEADDR next to the server's. It is connected to 224.0.0.251:5353:
// Linux then delivers it only datagrams from that address, which do not
// exist, so it never takes a query meant for the server.
type announcer struct{ conn net.Conn }

func openAnnouncer(ifi *net.Interface) (*announcer, error) {
	d := net.Dialer{
		LocalAddr: &net.UDPAddr{Port: 5353},
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				s := int(fd)
				serr = syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
				if serr == nil {
					// RFC 6762 section 11: sent with IP TTL 255.
					serr = syscall.SetsockoptInt(s, syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 255)
				}
				if serr == nil && ifi != nil {
					// Before connect, which fixes the route.
					serr = syscall.SetsockoptIPMreqn(s, syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF,
						&syscall.IPMreqn{Ifindex: int32(ifi.Index)})
				}
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	conn, err := d.DialContext(context.Background(), "udp4", "224.0.0.251:5353")
	if err != nil {
		return nil, fmt.Errorf("discovery: announcement socket: %w", err)
	}
	return &announcer{conn: conn}, nil
}

func (an *announcer) send(msg []byte) error {
	_, err := an.conn.Write(msg)
	return err
}

func (an *announcer) Close() error { return an.conn.Close() }
