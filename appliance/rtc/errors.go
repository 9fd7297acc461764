package rtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// Limits on what a peer may send.
const (
	// MaxSDP is the largest offer or answer accepted, in bytes.
	MaxSDP = 32 << 10
	// MaxMedia is the most m= sections accepted in an offer (audio and
	// video need two).
	MaxMedia = 4
	// MaxCandidate is the longest candidate line accepted.
	MaxCandidate = 512
	// MaxRemoteCandidates is the most trickled candidates one session
	// accepts.
	MaxRemoteCandidates = 32
)

// Sentinel errors of the listener side (Offerer). The monitor side
// (Answerer) returns *control.Error values instead, whose codes travel
// back to the listener: bad_request for an unknown session, bad SDP or a
// bad candidate; busy when a limit is reached; going_away once closed;
// internal when pion itself fails.
var (
	// ErrClosed: the Offerer (or Answerer) was closed.
	ErrClosed = errors.New("rtc: closed")
	// ErrNotStarted: SetAnswer or AddCandidate came before Start.
	ErrNotStarted = errors.New("rtc: stream not started")
	// ErrStarted: Start was called twice; use a new Offerer per session.
	ErrStarted = errors.New("rtc: stream already started")
	// ErrBadSDP: an SDP that does not parse or is not what the role expects.
	ErrBadSDP = errors.New("rtc: malformed SDP")
	// ErrBadCandidate: a candidate that does not parse or belongs to
	// another session.
	ErrBadCandidate = errors.New("rtc: malformed ICE candidate")
)

// checkSDP parses s and checks the limits every SDP from a peer must meet:
// its size, at most MaxMedia media sections, at least one audio section.
func checkSDP(s string) error {
	if len(s) == 0 {
		return fmt.Errorf("%w: empty", ErrBadSDP)
	}
	if len(s) > MaxSDP {
		return fmt.Errorf("%w: %d bytes, over %d", ErrBadSDP, len(s), MaxSDP)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	if len(d.MediaDescriptions) == 0 || len(d.MediaDescriptions) > MaxMedia {
		return fmt.Errorf("%w: %d media sections, want 1 to %d", ErrBadSDP, len(d.MediaDescriptions), MaxMedia)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			return nil
		}
	}
	return fmt.Errorf("%w: no audio section", ErrBadSDP)
}

// checkCandidate checks a trickled candidate's shape before pion parses it.
func checkCandidate(c control.WebRTCICE) error {
	if len(c.Candidate) > MaxCandidate {
		return fmt.Errorf("%w: %d bytes, over %d", ErrBadCandidate, len(c.Candidate), MaxCandidate)
	}
	if strings.ContainsAny(c.Candidate, "\r\n") {
		return fmt.Errorf("%w: contains a line break", ErrBadCandidate)
	}
	if c.SDPMid != nil && len(*c.SDPMid) > 64 {
		return fmt.Errorf("%w: sdp_mid too long", ErrBadCandidate)
	}
	return nil
}

func badRequest(format string, args ...any) *control.Error {
	return control.Errorf(control.CodeBadRequest, format, args...)
}
