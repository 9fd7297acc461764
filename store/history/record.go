package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Kind is what a record holds.
type Kind uint8

// The kinds of record.
const (
	KindMinute  Kind = 1 // the level over one step (a minute)
	KindEpisode Kind = 2 // a noise episode
	KindFault   Kind = 3 // a fault (the microphone)
	KindConn    Kind = 4 // a trusted listener's connection
)

func (k Kind) String() string {
	switch k {
	case KindMinute:
		return "minute"
	case KindEpisode:
		return "episode"
	case KindFault:
		return "fault"
	case KindConn:
		return "connection"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits of the strings a record holds; the decoder enforces them.
const (
	MaxNameLen  = 64 // a listener's name, bytes of UTF-8
	MaxLabelLen = 32 // a fault's or a connection's kind
	// MaxValueLen bounds an encoded value.
	MaxValueLen = 1 + 3*10 + 2*3 + 1 + 2*(1+MaxNameLen)
	keyLen      = 17
)

// Record is one entry of the history. Which fields mean something
// depends on Kind; times are in UTC with millisecond precision.
type Record struct {
	Kind Kind
	// Boot is the boot the record was written in, ID its number in that
	// boot (0 for minutes): with Start and Kind, its key.
	Boot uint32
	ID   uint32
	// Start and End bound the record. A minute ends one step after it
	// starts; an open interval ends at the last time it was seen going on.
	Start, End time.Time
	// Open says the interval was still going on when written.
	Open bool

	// Minute: the RMS levels measured in it (dBFS, to 0.1 dB) and how many.
	Min, Mean, Max float64
	Count          int
	// Episode: the loudest peak (dBFS, to 0.1 dB).
	Peak float64
	// Fault: what failed (control.FaultMicrophone). Connection: the
	// listener's kind ("listener" or "phone").
	Label string
	// Connection: the listener's or phone's name.
	Name string
}

// ErrBadRecord is wrapped by every decoding error.
var ErrBadRecord = errors.New("history: bad record")

func msOf(t time.Time) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// key is the record's bbolt key: start (Unix ms, 8 bytes), kind, boot,
// id, big-endian, so that keys sort by start time.
func (r Record) key() []byte {
	k := make([]byte, keyLen)
	binary.BigEndian.PutUint64(k, msOf(r.Start))
	k[8] = byte(r.Kind)
	binary.BigEndian.PutUint32(k[9:], r.Boot)
	binary.BigEndian.PutUint32(k[13:], r.ID)
	return k
}

// ddb encodes a level in tenths of a dB, clamped to int16.
func ddb(v float64) int16 {
	if math.IsNaN(v) {
		return -1200
	}
	return int16(max(min(math.Round(v*10), math.MaxInt16), math.MinInt16))
}

func fromDdb(v int16) float64 { return float64(v) / 10 }

const valueVersion = 1

// value encodes everything but the key's fields.
func (r Record) value() []byte {
	b := make([]byte, 0, 32)
	b = append(b, valueVersion)
	end := msOf(r.End) - min(msOf(r.End), msOf(r.Start))
	b = binary.AppendUvarint(b, end)
	flags := byte(0)
	if r.Open {
		flags = 1
	}
	b = append(b, flags)
	switch r.Kind {
	case KindMinute:
		b = binary.BigEndian.AppendUint16(b, uint16(ddb(r.Min)))
		b = binary.BigEndian.AppendUint16(b, uint16(ddb(r.Mean)))
		b = binary.BigEndian.AppendUint16(b, uint16(ddb(r.Max)))
		b = binary.AppendUvarint(b, uint64(max(r.Count, 0)))
	case KindEpisode:
		b = binary.BigEndian.AppendUint16(b, uint16(ddb(r.Peak)))
	case KindFault:
		b = appendStr(b, clip(r.Label, MaxLabelLen))
	case KindConn:
		b = appendStr(b, clip(r.Label, MaxLabelLen))
		b = appendStr(b, clip(r.Name, MaxNameLen))
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// decode rebuilds a record from its key and value. It checks every
// length against the limits and rejects trailing bytes.
func decode(k, v []byte) (Record, error) {
	var r Record
	if len(k) != keyLen {
		return r, fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(k))
	}
	if len(v) > MaxValueLen {
		return r, fmt.Errorf("%w: value of %d bytes", ErrBadRecord, len(v))
	}
	startMs := binary.BigEndian.Uint64(k)
	if startMs > math.MaxInt64/2 {
		return r, fmt.Errorf("%w: start out of range", ErrBadRecord)
	}
	r.Kind = Kind(k[8])
	r.Boot = binary.BigEndian.Uint32(k[9:])
	r.ID = binary.BigEndian.Uint32(k[13:])
	r.Start = time.UnixMilli(int64(startMs)).UTC()
	d := dec{b: v}
	if d.byte() != valueVersion {
		return r, fmt.Errorf("%w: unknown value version", ErrBadRecord)
	}
	endMs := d.uvarint()
	if endMs > math.MaxInt64/2 {
		d.err = true
	}
	r.End = r.Start.Add(time.Duration(endMs) * time.Millisecond)
	flags := d.byte()
	if flags > 1 {
		d.err = true
	}
	r.Open = flags == 1
	switch r.Kind {
	case KindMinute:
		r.Min, r.Mean, r.Max = fromDdb(d.i16()), fromDdb(d.i16()), fromDdb(d.i16())
		c := d.uvarint()
		if c > math.MaxInt32 {
			d.err = true
		}
		r.Count = int(c)
	case KindEpisode:
		r.Peak = fromDdb(d.i16())
	case KindFault:
		r.Label = d.str(MaxLabelLen)
	case KindConn:
		r.Label = d.str(MaxLabelLen)
		r.Name = d.str(MaxNameLen)
	default:
		return r, fmt.Errorf("%w: unknown kind %d", ErrBadRecord, k[8])
	}
	if d.err || len(d.b) != 0 {
		return r, fmt.Errorf("%w: %s value does not decode", ErrBadRecord, r.Kind)
	}
	return r, nil
}

// dec reads a value; any short read sets err.
type dec struct {
	b   []byte
	err bool
}

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) i16() int16 {
	if len(d.b) < 2 {
		d.err = true
		return 0
	}
	v := int16(binary.BigEndian.Uint16(d.b))
	d.b = d.b[2:]
	return v
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str(limit int) string {
	n := d.uvarint()
	if d.err || n > uint64(limit) || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if !utf8.ValidString(s) {
		d.err = true
	}
	return s
}
