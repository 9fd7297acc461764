//go:build !linux

package page

import "net"

// thinStream: only Linux has thin-stream retransmission timeouts.
func thinStream(net.Conn) {}
