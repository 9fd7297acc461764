package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/presence"
)

// ALPN is the TLS application protocol of Cradle's control channel.
const ALPN = "cradle/1"

// Defaults for zero Config fields.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultHelloTimeout is the server's: the timer starts once the QUIC
	// handshake completed, and a listener sends its Hello at once, so it
	// needs one round trip plus a retransmission or two (a slow Wi-Fi's
	// 300 ms RTT and a first PTO of about 1 s fit), not 5 s of a
	// stranger's memory.
	DefaultHelloTimeout = 2 * time.Second
	// DefaultHelloAckTimeout is how long Dial waits for the HelloAck when
	// HelloTimeout is zero: the monitor's application answers it, on a
	// Pi that may be busy.
	DefaultHelloAckTimeout = 5 * time.Second
	DefaultSendQueue       = 64
	DefaultRecvQueue       = 64
	DefaultMaxUnknown      = 3
	// DefaultMaxPending is the default cap on connections that are
	// handshaking or have not sent their Hello yet. A home has a few
	// listeners; 32 admits a whole household reconnecting at once after
	// the monitor restarts, and bounds what strangers can hold to 32
	// connections (about 4 MB with the small windows below).
	DefaultMaxPending = 32
	// DefaultMaxPendingPerAddr caps them per remote IP address: one
	// stranger's host cannot take every slot (a listener's host runs one
	// or two: the CLI, the dashboard). Until half of MaxPending is taken
	// an address may be spoofed; from then on a Retry has validated it.
	DefaultMaxPendingPerAddr = 8
	// DefaultMaxPendingKnown is how many more connections, beyond
	// MaxPending, may be handshaking from addresses Config.Known names
	// (where trusted listeners connected from): a flood of strangers
	// fills MaxPending, and a parent's phone that lost its connection
	// still gets back in.
	DefaultMaxPendingKnown = 8
)

// The server's QUIC receive windows. The control channel carries frames
// of at most control.MaxFrame (64 KiB), and in practice SDP of a few KiB
// and messages of a few hundred bytes: a 16 KiB stream window holds an
// SDP offer in one flight, and the window may grow to 64 KiB for a peer
// that sends large frames quickly. There is one stream, so the connection
// windows only add room for QUIC's own accounting. quic-go's defaults
// (512 KiB growing to 6 MiB per stream, 768 KiB to 15 MiB per connection)
// let every stranger's connection make the monitor buffer megabytes.
const (
	serverStreamWindow    = 16 << 10
	serverMaxStreamWindow = 64 << 10
	serverConnWindow      = 24 << 10
	serverMaxConnWindow   = 96 << 10
)

// Config tunes a Server or a dialled Conn. Zero values mean the defaults.
type Config struct {
	// HandshakeTimeout bounds the QUIC/TLS handshake (QUIC's handshake
	// idle timeout: quic-go gives up after twice this without completion).
	HandshakeTimeout time.Duration
	// HelloTimeout is how long a server waits for a new connection's Hello
	// (default DefaultHelloTimeout), and how long Dial waits for the
	// HelloAck (default DefaultHelloAckTimeout).
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
	// MaxPending caps a server's connections that are handshaking or
	// have not sent their Hello: a new connection beyond it is refused at
	// once with QUIC's CONNECTION_REFUSED, and from half of it on, new
	// connections must first prove their address (a QUIC Retry). The
	// count includes trusted listeners (trust is known only after the
	// handshake). Dial ignores it.
	MaxPending int
	// MaxPendingPerAddr is the same cap for connections from one IP
	// address.
	MaxPendingPerAddr int
	// Known reports whether a trusted listener connected from addr
	// recently (nil: none is known). Connections from a known address
	// that find MaxPending (or MaxPendingPerAddr) taken get one of
	// MaxPendingKnown slots of their own. A stranger can take those only
	// by sending from a parent's address and answering a QUIC Retry
	// there. Server only; it is called on quic-go's goroutines.
	Known func(addr netip.Addr) bool
	// MaxPendingKnown caps those extra slots (default
	// DefaultMaxPendingKnown).
	MaxPendingKnown int
	// LocalAddr is the address Dial sends from (nil: any). Tests use it
	// to speak as several devices over loopback (127.0.0.2, 127.0.0.3 ...).
	LocalAddr *net.UDPAddr
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
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPendingPerAddr == 0 {
		c.MaxPendingPerAddr = DefaultMaxPendingPerAddr
	}
	if c.MaxPendingKnown == 0 {
		c.MaxPendingKnown = DefaultMaxPendingKnown
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
	case c.MaxPending < 0:
		return fmt.Errorf("%w: negative max pending %d", ErrBadConfig, c.MaxPending)
	case c.MaxPendingPerAddr < 0:
		return fmt.Errorf("%w: negative max pending per address %d", ErrBadConfig, c.MaxPendingPerAddr)
	case c.MaxPendingKnown < 0:
		return fmt.Errorf("%w: negative max pending from known addresses %d", ErrBadConfig, c.MaxPendingKnown)
	}
	if err := c.Heartbeat.Validate(); err != nil {
		return fmt.Errorf("%w: heartbeat: %w", ErrBadConfig, err)
	}
	return nil
}

// quicConfig derives quic-go's settings: the heartbeat, not QUIC's idle
// timer, must be the first to notice a dead peer. The server takes one
// bidirectional stream (the control stream); the client takes none. The
// server's receive windows are small (see serverStreamWindow); the
// client keeps quic-go's, since it pinned the monitor it talks to.
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
		qc.InitialStreamReceiveWindow = serverStreamWindow
		qc.MaxStreamReceiveWindow = serverMaxStreamWindow
		qc.InitialConnectionReceiveWindow = serverConnWindow
		qc.MaxConnectionReceiveWindow = serverMaxConnWindow
	}
	return qc
}
