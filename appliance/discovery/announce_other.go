//go:build !linux

package discovery

import (
	"errors"
	"net"
)

// announcer is only implemented on Linux, the appliance's system.
type announcer struct{}

func openAnnouncer(*net.Interface) (*announcer, error) {
	return nil, errors.New("discovery: announcements are only implemented on Linux")
}

func (*announcer) send([]byte) error { return nil }
func (*announcer) Close() error      { return nil }
