package control

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrame is the largest frame payload accepted or sent, in bytes.
const MaxFrame = 64 << 10

// frameHeader is the size of the length prefix.
const frameHeader = 4

// ReadFrame reads one frame from r. It rejects a length over max (or over
// MaxFrame when max is 0) before allocating, with an error that Is
// ErrFrameTooLarge; a frame cut short is ErrMalformedFrame. A clean end of
// stream before a header is io.EOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 || max > MaxFrame {
		max = MaxFrame
	}
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated header", ErrMalformedFrame)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > uint32(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformedFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated body (%d bytes announced)", ErrMalformedFrame, n)
		}
		return nil, err
	}
	return buf, nil
}

// AppendFrame appends the frame for payload p to dst.
func AppendFrame(dst, p []byte) ([]byte, error) {
	if len(p) > MaxFrame {
		return dst, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(p), MaxFrame)
	}
	if len(p) == 0 {
		return dst, fmt.Errorf("%w: empty frame", ErrMalformedFrame)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...), nil
}

// WriteFrame writes p as one frame to w in a single Write call.
func WriteFrame(w io.Writer, p []byte) error {
	b, err := AppendFrame(make([]byte, 0, frameHeader+len(p)), p)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadMessage reads and decodes one message.
func ReadMessage(r io.Reader) (Message, error) {
	b, err := ReadFrame(r, MaxFrame)
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// WriteMessage encodes m and writes it as one frame.
func WriteMessage(w io.Writer, m Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return WriteFrame(w, b)
}
