package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// UntrustedMaxFrame is the largest frame payload a monitor accepts from a
// listener before the listener is trusted: until its hello arrived, and
// while it is unpaired. The messages allowed then (hello, pair_start,
// pair_confirm, ping, pong, error, bye) are a few hundred bytes at most: a
// 64-byte name escaped six-fold in JSON is 384 bytes, a SPAKE2 share in
// base64 under 100. A larger length closes the connection with
// frame_too_large before a byte of the payload is read.
const UntrustedMaxFrame = 4 << 10

// frameChunk is the first allocation for a frame's payload; the buffer
// then doubles as bytes arrive, so an announced length costs memory only
// once the peer has sent (and QUIC flow control has let through) that
// many bytes.
const frameChunk = 1 << 10

// readFrame reads one frame from r with payloads up to max bytes (max is at
// most control.MaxFrame). Its errors are control.ReadFrame's: a length over
// max Is control.ErrFrameTooLarge, an empty or cut-short frame
// control.ErrMalformedFrame, a clean end before a header io.EOF. Unlike
// control.ReadFrame it does not allocate the announced length up front.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated header", control.ErrMalformedFrame)
		}
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if n > int64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", control.ErrFrameTooLarge, n, max)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", control.ErrMalformedFrame)
	}
	buf := make([]byte, 0, min(n, frameChunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: truncated body (%d bytes announced, %d read)", control.ErrMalformedFrame, n, len(buf))
			}
			return nil, err
		}
	}
	return buf, nil
}
