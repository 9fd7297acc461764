package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Backend is what the daemon serves: one method per command. The monitor
// implements it.
type Backend interface {
	// OpenPairing opens (or extends) the pairing window for d; 0 means as
	// a short button press does (the default window). It returns the time
	// the window closes.
	OpenPairing(ctx context.Context, d time.Duration) (time.Time, error)
	// ClosePairing closes the pairing window.
	ClosePairing(ctx context.Context) error
	// Status reports the monitor and its live connections.
	Status(ctx context.Context) (Status, error)
	// Listeners lists the trusted listeners, oldest pairing first, then
	// the trusted web devices (Kind "device"), oldest pairing first.
	Listeners(ctx context.Context) ([]ListenerInfo, error)
	// SetupInfo returns the setup code and payload.
	SetupInfo(ctx context.Context) (SetupInfo, error)
	// Revoke removes a listener (by fingerprint) from the allowlist, or
	// a web device (by its id). The wire field stays "fingerprint", so
	// that older clients and daemons still agree; it may hold an id.
	Revoke(ctx context.Context, fingerprintOrID string) error
	// FactoryReset forgets every listener, as a long button press does.
	FactoryReset(ctx context.Context) error
	// Wipe forgets everything (identity, history, setup code) for giving
	// the monitor away, as holding the button to the wipe does; the
	// monitor stops and starts again as a new one.
	Wipe(ctx context.Context) error
	// Events returns the event log after seq since.
	Events(ctx context.Context, since uint64) ([]EventInfo, error)
}

// The command names and argument shapes: the wire protocol.
const (
	cmdPair         = "pair"
	cmdClosePairing = "close-pairing"
	cmdStatus       = "status"
	cmdListeners    = "listeners"
	cmdSetupCode    = "setup-code"
	cmdRevoke       = "revoke"
	cmdReset        = "reset"
	cmdWipe         = "wipe"
	cmdEvents       = "events"
)

type pairArgs struct {
	Duration time.Duration `json:"duration"`
}

type pairResult struct {
	Until time.Time `json:"until"`
}

type revokeArgs struct {
	Fingerprint string `json:"fingerprint"`
}

type eventsArgs struct {
	Since uint64 `json:"since"`
}

// decode decodes a command's arguments; none at all is the zero value.
func decode[T any](a json.RawMessage) (T, error) {
	var v T
	if len(a) > 0 {
		if err := json.Unmarshal(a, &v); err != nil {
			return v, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	return v, nil
}

// handlers serves b's methods under their command names.
func handlers(b Backend) map[string]handler {
	return map[string]handler{
		cmdPair: func(ctx context.Context, a json.RawMessage) (any, error) {
			args, err := decode[pairArgs](a)
			if err != nil {
				return nil, err
			}
			until, err := b.OpenPairing(ctx, args.Duration)
			if err != nil {
				return nil, err
			}
			return pairResult{Until: until}, nil
		},
		cmdClosePairing: func(ctx context.Context, _ json.RawMessage) (any, error) { return nil, b.ClosePairing(ctx) },
		cmdStatus:       func(ctx context.Context, _ json.RawMessage) (any, error) { return b.Status(ctx) },
		cmdListeners:    func(ctx context.Context, _ json.RawMessage) (any, error) { return b.Listeners(ctx) },
		cmdSetupCode:    func(ctx context.Context, _ json.RawMessage) (any, error) { return b.SetupInfo(ctx) },
		cmdRevoke: func(ctx context.Context, a json.RawMessage) (any, error) {
			args, err := decode[revokeArgs](a)
			if err != nil {
				return nil, err
			}
			return nil, b.Revoke(ctx, args.Fingerprint)
		},
		cmdReset: func(ctx context.Context, _ json.RawMessage) (any, error) { return nil, b.FactoryReset(ctx) },
		cmdWipe:  func(ctx context.Context, _ json.RawMessage) (any, error) { return nil, b.Wipe(ctx) },
		cmdEvents: func(ctx context.Context, a json.RawMessage) (any, error) {
			args, err := decode[eventsArgs](a)
			if err != nil {
				return nil, err
			}
			return b.Events(ctx, args.Since)
		},
	}
}

// Client calls a running daemon over its admin socket. The zero value is
// not usable: set Path. Every method honours ctx's deadline.
type Client struct {
	Path string // the admin socket
}

// OpenPairing opens the pairing window for d (0: as a short press does)
// and returns the time it closes.
func (c *Client) OpenPairing(ctx context.Context, d time.Duration) (time.Time, error) {
	var res pairResult
	err := call(ctx, c.Path, cmdPair, pairArgs{Duration: d}, &res)
	return res.Until, err
}

// ClosePairing closes the pairing window.
func (c *Client) ClosePairing(ctx context.Context) error {
	return call(ctx, c.Path, cmdClosePairing, nil, nil)
}

// Status reports the monitor and its live connections.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := call(ctx, c.Path, cmdStatus, nil, &st)
	return st, err
}

// Listeners lists the trusted listeners, oldest pairing first.
func (c *Client) Listeners(ctx context.Context) ([]ListenerInfo, error) {
	var ls []ListenerInfo
	err := call(ctx, c.Path, cmdListeners, nil, &ls)
	return ls, err
}

// SetupInfo returns the setup code and payload.
func (c *Client) SetupInfo(ctx context.Context) (SetupInfo, error) {
	var si SetupInfo
	err := call(ctx, c.Path, cmdSetupCode, nil, &si)
	return si, err
}

// Revoke revokes the listener with fingerprint: its connections close.
func (c *Client) Revoke(ctx context.Context, fingerprint string) error {
	return call(ctx, c.Path, cmdRevoke, revokeArgs{Fingerprint: fingerprint}, nil)
}

// FactoryReset forgets every listener.
func (c *Client) FactoryReset(ctx context.Context) error {
	return call(ctx, c.Path, cmdReset, nil, nil)
}

// Wipe wipes the monitor for giving it away; it stops and starts again
// as a new monitor.
func (c *Client) Wipe(ctx context.Context) error {
	return call(ctx, c.Path, cmdWipe, nil, nil)
}

// Events returns the event log after seq since.
func (c *Client) Events(ctx context.Context, since uint64) ([]EventInfo, error) {
	var evs []EventInfo
	err := call(ctx, c.Path, cmdEvents, eventsArgs{Since: since}, &evs)
	return evs, err
}

var _ Backend = (*Client)(nil)
