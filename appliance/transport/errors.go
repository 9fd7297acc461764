package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
)

// Errors of this package. Protocol errors (untrusted, idle timeout, frame
// too large, ...) are *control.Error values: match them with errors.Is
// against the control sentinels, e.g. control.ErrUntrusted.
var (
	// ErrClosed: the connection is closed. Send and Recv wrap it together
	// with the reason the connection closed (Conn.Err).
	ErrClosed = errors.New("transport: connection closed")
	// ErrSendQueueFull: TrySend found the send queue full: the peer reads
	// more slowly than it is written to, or not at all.
	ErrSendQueueFull = errors.New("transport: send queue full")
	// ErrServerClosed: Accept was called on a closed Server.
	ErrServerClosed = errors.New("transport: server closed")
	// ErrUnreachable: nothing answered at the monitor's address.
	ErrUnreachable = errors.New("transport: the monitor did not answer: " +
		"check that it is powered, running and on the same network, then try again")
	// ErrHandshakeTimeout: the peer answered but did not finish the TLS
	// handshake, or the hello exchange, in time.
	ErrHandshakeTimeout = errors.New("transport: the monitor did not finish the handshake in time: " +
		"check the network and that the monitor runs Cradle, then try again")
)

// certAlerts are the TLS alerts a server sends when it refuses a client
// certificate.
var certAlerts = map[uint8]bool{
	42:  true, // bad_certificate
	43:  true, // unsupported_certificate
	46:  true, // certificate_unknown
	48:  true, // unknown_ca
	49:  true, // access_denied
	116: true, // certificate_required
}

// mapError is the one place that turns quic-go errors into this package's
// errors. dialing is true before the QUIC handshake completed: an idle
// timeout then means nothing answered. It returns nil for nil.
func mapError(err error, dialing bool) error {
	if err == nil {
		return nil
	}
	var (
		ce   *control.Error
		appE *quic.ApplicationError
		trE  *quic.TransportError
		idle *quic.IdleTimeoutError
		hsTO *quic.HandshakeTimeoutError
		srE  *quic.StatelessResetError
		stE  *quic.StreamError
		vnE  *quic.VersionNegotiationError
	)
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, identity.ErrFingerprintMismatch):
		// A *quic.TransportError (crypto error) wrapping the
		// *identity.MismatchError from our VerifyConnection.
		return fmt.Errorf("%w: %w", control.ErrFingerprintMismatch, err)
	case errors.As(err, &appE):
		return &control.Error{Code: control.FromQUIC(uint64(appE.ErrorCode)), Message: appE.ErrorMessage, Remote: appE.Remote}
	case errors.As(err, &hsTO):
		return fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
	case errors.As(err, &idle):
		if dialing {
			return fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return &control.Error{Code: control.CodeIdleTimeout, Message: "no network activity from the peer"}
	case dialing && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	case errors.As(err, &trE):
		if trE.Remote && trE.ErrorCode == quic.ConnectionRefused { // shutting down, or its accept queue is full
			return fmt.Errorf("%w: %w", &control.Error{Code: control.CodeGoingAway, Remote: true,
				Message: "the monitor refused the connection (busy or restarting): try again"}, err)
		}
		if trE.Remote && trE.ErrorCode >= 0x100 && trE.ErrorCode < 0x200 && certAlerts[uint8(trE.ErrorCode-0x100)] {
			return fmt.Errorf("%w: %w", &control.Error{Code: control.CodeUntrusted, Remote: true,
				Message: "the monitor refused this device's certificate"}, err)
		}
		return fmt.Errorf("%w: %w", &control.Error{Code: control.CodeProtocol, Remote: trE.Remote, Message: "QUIC transport error"}, err)
	case errors.As(err, &srE):
		return fmt.Errorf("%w: %w", &control.Error{Code: control.CodeGoingAway, Remote: true, Message: "the peer restarted"}, err)
	case errors.As(err, &stE):
		return fmt.Errorf("%w: %w", &control.Error{Code: control.CodeProtocol, Remote: stE.Remote, Message: "control stream reset"}, err)
	case errors.As(err, &vnE):
		return fmt.Errorf("%w: %w", &control.Error{Code: control.CodeProtocol, Message: "no common QUIC version"}, err)
	}
	return err
}

// closedError is what Send and Recv return once the connection is closed.
func closedError(cause error) error {
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}
