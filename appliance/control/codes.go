package control

import (
	"errors"
	"fmt"
)

// Code is a protocol error code. The same number travels in an error
// message's "code" field (as its name) and as the QUIC application error
// code when a connection is closed because of it. This file is the only
// place that maps codes to names, QUIC codes, Go errors and advice.
type Code uint16

// The version 1 codes. Their numbers and names are part of the protocol.
const (
	CodeNone                Code = 0  // normal close
	CodeFingerprintMismatch Code = 1  // the peer's certificate is not the pinned one
	CodeUntrusted           Code = 2  // a non-pairing message from an unpaired listener
	CodePairingClosed       Code = 3  // no pairing window is open
	CodePairingFailed       Code = 4  // wrong setup code, or key confirmation failed
	CodeBusy                Code = 5  // another pairing session is running
	CodeRevoked             Code = 6  // this listener's trust was revoked or reset
	CodeFrameTooLarge       Code = 7  // a frame over MaxFrame
	CodeMalformedFrame      Code = 8  // a frame or message that does not decode
	CodeUnknownMessage      Code = 9  // too many messages of an unknown type
	CodeIdleTimeout         Code = 10 // the peer stopped answering (heartbeat)
	CodeGoingAway           Code = 11 // the peer is shutting down
	CodeProtocol            Code = 12 // a message out of order or a version mismatch
	CodePairingLocked       Code = 13 // this device tried too many wrong codes in this pairing window
	CodeBadRequest          Code = 14 // a well-formed request that cannot be served (unknown session, bad SDP)
	CodeInternal            Code = 15 // the monitor failed internally
	CodeUnavailable         Code = 16 // the monitor lacks what the request needs (a speaker)
)

var codeNames = map[Code]string{
	CodeNone:                "none",
	CodeFingerprintMismatch: "fingerprint_mismatch",
	CodeUntrusted:           "untrusted",
	CodePairingClosed:       "pairing_closed",
	CodePairingFailed:       "pairing_failed",
	CodeBusy:                "busy",
	CodeRevoked:             "revoked",
	CodeFrameTooLarge:       "frame_too_large",
	CodeMalformedFrame:      "malformed_frame",
	CodeUnknownMessage:      "unknown_message",
	CodeIdleTimeout:         "idle_timeout",
	CodeGoingAway:           "going_away",
	CodeProtocol:            "protocol_error",
	CodePairingLocked:       "pairing_locked",
	CodeBadRequest:          "bad_request",
	CodeInternal:            "internal",
	CodeUnavailable:         "unavailable",
}

// advice is what a user is told for each code: what happened, what to do.
var advice = map[Code]string{
	CodeNone:                "the connection was closed",
	CodeFingerprintMismatch: "the monitor's identity changed: re-pair it (cradle forget, then cradle pair)",
	CodeUntrusted:           "this listener is not paired with the monitor: pair this listener first (cradle pair)",
	CodePairingClosed:       "the monitor's pairing window is closed: press its button (or run cradled pair on it) and try again",
	CodePairingFailed:       "pairing failed: check the setup code and try again",
	CodeBusy:                "the monitor is busy (other phones are pairing or connecting, or too many streams are open): wait a few seconds and try again",
	CodeRevoked:             "this listener's access was revoked on the monitor: pair it again",
	CodeFrameTooLarge:       "the peer sent a message that is too large: update both devices",
	CodeMalformedFrame:      "the peer sent data that could not be read: update both devices",
	CodeUnknownMessage:      "the peer speaks an unknown protocol dialect: update both devices",
	CodeIdleTimeout:         "the peer stopped answering: check that it is powered and on the same network",
	CodeGoingAway:           "the peer is shutting down or restarting: it will be back shortly",
	CodeProtocol:            "protocol error: update both devices",
	CodePairingLocked:       "this device tried too many wrong setup codes while the monitor's pairing window was open: check the code on the monitor's card, press the monitor's button once (a press gives every device a new turn), and try again",
	CodeBadRequest:          "the monitor refused the request",
	CodeInternal:            "the monitor hit an internal error: check its logs (journalctl -u cradled)",
	CodeUnavailable:         "the monitor has no speaker: plug a USB speaker into the monitor, restart it (sudo systemctl restart cradled) and try again",
}

// String returns the code's wire name.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code_%d", uint16(c))
}

// Advice is a sentence for a user: what happened and what to do.
func (c Code) Advice() string {
	if a, ok := advice[c]; ok {
		return a
	}
	return fmt.Sprintf("the peer reported error %d: update both devices", uint16(c))
}

// ParseCode maps a wire name back to its code; unknown names give
// CodeProtocol so that an older peer still closes cleanly.
func ParseCode(name string) Code {
	for c, n := range codeNames {
		if n == name {
			return c
		}
	}
	return CodeProtocol
}

// QUIC returns the QUIC application error code used to close a connection.
func (c Code) QUIC() uint64 { return uint64(c) }

// FromQUIC maps a QUIC application error code back to a Code.
func FromQUIC(code uint64) Code {
	if code > 0xffff {
		return CodeProtocol
	}
	return Code(code)
}

// Error is a protocol error: one that has a code on the wire. Remote is
// true when the peer sent it (an error message or a close); false when
// this side detected it.
type Error struct {
	Code    Code
	Message string // detail for logs, may be empty
	Remote  bool
}

func (e *Error) Error() string {
	s := e.Code.Advice()
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	if e.Remote {
		return "remote: " + s
	}
	return s
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, control.ErrUntrusted) works whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is; each matches any *Error with its code.
var (
	ErrFingerprintMismatch = &Error{Code: CodeFingerprintMismatch}
	ErrUntrusted           = &Error{Code: CodeUntrusted}
	ErrPairingClosed       = &Error{Code: CodePairingClosed}
	ErrPairingFailed       = &Error{Code: CodePairingFailed}
	ErrBusy                = &Error{Code: CodeBusy}
	ErrRevoked             = &Error{Code: CodeRevoked}
	ErrFrameTooLarge       = &Error{Code: CodeFrameTooLarge}
	ErrMalformedFrame      = &Error{Code: CodeMalformedFrame}
	ErrUnknownMessage      = &Error{Code: CodeUnknownMessage}
	ErrIdleTimeout         = &Error{Code: CodeIdleTimeout}
	ErrGoingAway           = &Error{Code: CodeGoingAway}
	ErrProtocol            = &Error{Code: CodeProtocol}
	ErrPairingLocked       = &Error{Code: CodePairingLocked}
	ErrBadRequest          = &Error{Code: CodeBadRequest}
	ErrInternal            = &Error{Code: CodeInternal}
	ErrUnavailable         = &Error{Code: CodeUnavailable}
)

// Errorf returns a local *Error with code c and a formatted detail.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code carried by err, or CodeInternal if it has none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
