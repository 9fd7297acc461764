package store

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// errShort is returned by rbuf when a field runs past the end of its input.
var errShort = errors.New("truncated field")

// wbuf appends the store's primitive encodings to a byte slice. The same
// primitives are used by payloads and snapshots; see docs/STORE.md.
type wbuf struct{ b []byte }

func (w *wbuf) u8(v uint8)          { w.b = append(w.b, v) }
func (w *wbuf) uvarint(v uint64)    { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) varint(v int64)      { w.b = binary.AppendVarint(w.b, v) }
func (w *wbuf) fp(v [32]byte)       { w.b = append(w.b, v[:]...) }
func (w *wbuf) dur(d time.Duration) { w.varint(int64(d)) }

func (w *wbuf) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

func (w *wbuf) bytes(v []byte) {
	w.uvarint(uint64(len(v)))
	w.b = append(w.b, v...)
}

func (w *wbuf) str(v string) {
	w.uvarint(uint64(len(v)))
	w.b = append(w.b, v...)
}

// time stores wall-clock seconds and nanoseconds since the Unix epoch; the
// location and the monotonic reading are dropped. The zero Time round-trips.
func (w *wbuf) time(t time.Time) {
	w.varint(t.Unix())
	w.uvarint(uint64(t.Nanosecond()))
}

// rbuf reads what wbuf wrote. The first error sticks: later reads return
// zero values, so decoders read every field and check err once at the end.
type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *rbuf) u8() uint8 {
	if len(r.b) < 1 {
		r.fail(errShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *rbuf) bool() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(errors.New("bad boolean"))
		return false
	}
}

func (r *rbuf) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a non-negative counter.
func (r *rbuf) int() int {
	v := r.uvarint()
	if v > math.MaxInt32 {
		r.fail(errors.New("counter out of range"))
		return 0
	}
	return int(v)
}

// count reads a length or element count, rejecting values that cannot fit
// in what is left of the input (each element takes at least min bytes).
func (r *rbuf) count(min int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/min) {
		r.fail(errShort)
		return 0
	}
	return int(n)
}

func (r *rbuf) raw(n int) []byte {
	if n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *rbuf) fp() (v [32]byte) {
	copy(v[:], r.raw(32))
	return v
}

func (r *rbuf) dur() time.Duration { return time.Duration(r.varint()) }

func (r *rbuf) str() string { return string(r.raw(r.count(1))) }

// bytes returns a copy, never a slice of the input (which may be bbolt's
// memory map, valid only inside a transaction). Empty decodes as nil.
func (r *rbuf) bytes() []byte {
	b := r.raw(r.count(1))
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *rbuf) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail(errors.New("bad nanoseconds"))
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// done reports the first error, or an error if input is left over: every
// schema version has an exact layout.
func (r *rbuf) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	return r.err
}
