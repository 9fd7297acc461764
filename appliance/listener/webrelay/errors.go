package webrelay

import (
	"errors"
	"fmt"
)

// Errors of Answer. A dashboard maps them to HTTP statuses:
// ErrBadOffer 400, ErrTooManyPeers 503, ErrClosed and
// listener.ErrSessionClosed 503.
var (
	// ErrClosed: the Relay was closed.
	ErrClosed = errors.New("webrelay: relay closed")
	// ErrBadOffer: the page's SDP offer is too large, does not parse, or
	// asks for no audio.
	ErrBadOffer = errors.New("webrelay: the page's offer cannot be used")
	// ErrTooManyPeers: MaxPeers pages already listen through this
	// listener. Answer returns it as a *LimitError.
	ErrTooManyPeers = errors.New("webrelay: too many pages are listening")
)

// LimitError is Answer's refusal when Max peer connections are already
// open. errors.Is(err, ErrTooManyPeers) holds for it.
type LimitError struct{ Max int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("webrelay: %d pages are already listening through this listener: close one of them and try again", e.Max)
}

// Is makes errors.Is(err, ErrTooManyPeers) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooManyPeers }
