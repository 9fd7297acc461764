package presence

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and limits for Config.
const (
	DefaultInterval = time.Second
	DefaultMisses   = 3
	MinInterval     = 100 * time.Millisecond
	MaxInterval     = 60 * time.Second
	MinMisses       = 1
	MaxMisses       = 20
)

// ErrBadConfig is wrapped by Config.Validate errors.
var ErrBadConfig = errors.New("presence: bad heartbeat setting")

// Config sets the heartbeat. Zero fields take the defaults.
type Config struct {
	Interval time.Duration // between pings; default 1 s
	Misses   int           // pongs missed in a row before the peer is dead; default 3
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Misses == 0 {
		c.Misses = DefaultMisses
	}
	return c
}

// Validate checks c (after defaults): Interval in [100ms, 60s], Misses in [1, 20].
func (c Config) Validate() error {
	c = c.WithDefaults()
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		return fmt.Errorf("%w: interval %v is out of range; use %v to %v", ErrBadConfig, c.Interval, MinInterval, MaxInterval)
	}
	if c.Misses < MinMisses || c.Misses > MaxMisses {
		return fmt.Errorf("%w: misses %d is out of range; use %d to %d", ErrBadConfig, c.Misses, MinMisses, MaxMisses)
	}
	return nil
}

// Grace is how late the last expected pong may be: Interval/4.
func (c Config) Grace() time.Duration { return c.WithDefaults().Interval / 4 }

// DeadAfter is how long the peer may stay silent before it is dead:
// Misses*Interval + Grace (3.25 s with the defaults).
func (c Config) DeadAfter() time.Duration {
	c = c.WithDefaults()
	return time.Duration(c.Misses)*c.Interval + c.Grace()
}

// QUICIdleTimeout is the QUIC MaxIdleTimeout to use with this heartbeat:
// one Interval above DeadAfter, so the heartbeat reports the silent peer
// first (with a clear reason) and QUIC's timeout is only the backstop.
func (c Config) QUICIdleTimeout() time.Duration { return c.DeadAfter() + c.WithDefaults().Interval }

// KeepAlive is the QUIC KeepAlivePeriod to use: the Interval. Pings keep
// the connection busy anyway; this also covers a heartbeat that is paused.
func (c Config) KeepAlive() time.Duration { return c.WithDefaults().Interval }
