package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/presence"
)

// ALPN is the TLS application protocol of Cradle's control channel.
const ALPN = "cradle/1"

// Defaults for zero Config fields.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultHelloTimeout     = 5 * time.Second
	DefaultSendQueue        = 64
	DefaultRecvQueue        = 64
	DefaultMaxUnknown       = 3
)

// Config tunes a Server or a dialled Conn. Zero values mean the defaults.
type Config struct {
	// HandshakeTimeout bounds the QUIC/TLS handshake (QUIC's handshake
	// idle timeout: quic-go gives up after twice this without completion).
	HandshakeTimeout time.Duration
	// HelloTimeout is how long a server waits for a new connection's Hello,
	// and how long Dial waits for the HelloAck.
	HelloTimeout time.Duration
	// Heartbeat sets the ping interval and how many missed intervals mean
	// the peer is gone. QUIC's idle timeout and keep-alive derive from it.
	Heartbeat presence.Config
	// SendQueue is the number of messages Send may queue before it blocks.
	SendQueue int
	// RecvQueue is the number of received messages buffered for Recv
	// before the connection stops reading.
	RecvQueue int
	// MaxUnknown is the number of messages of unknown type that closes a
	// connection with unknown_message; the ones before it are answered
	// with an error message.
	MaxUnknown int
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	c.Heartbeat = c.Heartbeat.WithDefaults()
	if c.SendQueue == 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.RecvQueue == 0 {
		c.RecvQueue = DefaultRecvQueue
	}
	if c.MaxUnknown == 0 {
		c.MaxUnknown = DefaultMaxUnknown
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrBadConfig: a Config field is out of range.
var ErrBadConfig = errors.New("transport: bad config")

// Validate checks c after defaults are applied (see WithDefaults).
func (c Config) Validate() error {
	switch {
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("%w: negative handshake timeout %v", ErrBadConfig, c.HandshakeTimeout)
	case c.HelloTimeout < 0:
		return fmt.Errorf("%w: negative hello timeout %v", ErrBadConfig, c.HelloTimeout)
	case c.SendQueue < 0:
		return fmt.Errorf("%w: negative send queue %d", ErrBadConfig, c.SendQueue)
	case c.RecvQueue < 0:
		return fmt.Errorf("%w: negative receive queue %d", ErrBadConfig, c.RecvQueue)
	case c.MaxUnknown < 0:
		return fmt.Errorf("%w: negative max unknown %d", ErrBadConfig, c.MaxUnknown)
	}
	if err := c.Heartbeat.Validate(); err != nil {
		return fmt.Errorf("%w: heartbeat: %w", ErrBadConfig, err)
	}
	return nil
}

// quicConfig derives quic-go's settings: the heartbeat, not QUIC's idle
// timer, must be the first to notice a dead peer. The server takes one
// bidirectional stream (the control stream); the client takes none.
func (c Config) quicConfig(server bool) *quic.Config {
	qc := &quic.Config{
		HandshakeIdleTimeout:  c.HandshakeTimeout,
		MaxIdleTimeout:        c.Heartbeat.QUICIdleTimeout(),
		KeepAlivePeriod:       c.Heartbeat.KeepAlive(),
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	}
	if server {
		qc.MaxIncomingStreams = 1
	}
	return qc
}
