package webrelay

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// Limits on a page's offer.
const (
	// MaxOffer is the largest SDP offer accepted, in bytes; it is checked
	// before the offer is parsed.
	MaxOffer = 64 << 10
	// MaxMedia is the most m= sections accepted (audio, video and a data
	// channel need three).
	MaxMedia = 4
)

// offerInfo is what Answer needs to know of a checked offer.
type offerInfo struct {
	sdp   string // the offer without its .local candidates
	video bool   // it has a video section
	mdns  int    // .local candidates dropped
}

// checkOffer bounds, parses and cleans a page's offer: at most MaxOffer
// bytes and MaxMedia media sections, at least one audio section. Host
// candidates on a .local (mDNS) name are dropped: pion's mDNS is off, and
// the browser's checks to our candidates reveal its address anyway.
func checkOffer(s string) (offerInfo, error) {
	if len(s) == 0 {
		return offerInfo{}, fmt.Errorf("%w: empty", ErrBadOffer)
	}
	if len(s) > MaxOffer {
		return offerInfo{}, fmt.Errorf("%w: %d bytes, over %d", ErrBadOffer, len(s), MaxOffer)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return offerInfo{}, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if n := len(d.MediaDescriptions); n == 0 || n > MaxMedia {
		return offerInfo{}, fmt.Errorf("%w: %d media sections, want 1 to %d", ErrBadOffer, n, MaxMedia)
	}
	info := offerInfo{}
	audio := false
	for _, m := range d.MediaDescriptions {
		switch m.MediaName.Media {
		case "audio":
			audio = true
		case "video":
			info.video = true
		}
	}
	if !audio {
		return offerInfo{}, fmt.Errorf("%w: no audio section", ErrBadOffer)
	}
	info.sdp, info.mdns = dropMDNSCandidates(s)
	return info, nil
}

// dropMDNSCandidates removes the a=candidate lines whose address is a
// .local name and returns how many it removed.
func dropMDNSCandidates(s string) (string, int) {
	if !strings.Contains(s, ".local") {
		return s, 0
	}
	var b strings.Builder
	b.Grow(len(s))
	n := 0
	for line := range strings.SplitAfterSeq(s, "\n") {
		if isMDNSCandidate(line) {
			n++
			continue
		}
		b.WriteString(line)
	}
	return b.String(), n
}

// isMDNSCandidate: "a=candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY
// ADDRESS PORT typ ..." with ADDRESS ending in .local.
func isMDNSCandidate(line string) bool {
	if !strings.HasPrefix(line, "a=candidate:") {
		return false
	}
	f := strings.Fields(line)
	return len(f) >= 5 && strings.HasSuffix(strings.ToLower(f[4]), ".local")
}
