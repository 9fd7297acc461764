package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"time"
)

// Event is one record of the log.
type Event struct {
	Seq     uint64
	Type    Type
	Version uint16 // schema version of the payload's encoding

	// Time is the wall clock when the event was appended, in UTC. On a Pi it
	// may read 1970 until NTP syncs: order events by Seq, never by Time.
	Time time.Time
	// Boot is a random id chosen by the Open that appended the event (one
	// per process run), and Mono the monotonic time from that Open to the
	// append: within one Boot, Mono orders and spaces events reliably.
	Boot [16]byte
	Mono time.Duration

	// Payload is one of this package's payload types, or Unknown when the
	// record was written by a newer release or does not decode.
	Payload Payload
}

// LogValue logs an event's position and type, never its payload.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("seq", e.Seq), slog.String("type", e.Type.String()), slog.Int("version", int(e.Version)))
}

// MaxRecordSize bounds an event's payload in bytes. Append refuses larger
// payloads and decoders reject them before reading.
const MaxRecordSize = 64 << 10

// Envelope layout, format 1 (big-endian):
//
//	[0]      format = 1
//	[1:5]    CRC-32C (Castagnoli) of bytes [5:]
//	[5:13]   seq, equal to the record's key
//	[13:15]  type
//	[15:17]  schema version of the payload
//	[17:25]  time, seconds since the Unix epoch (signed)
//	[25:29]  time, nanoseconds
//	[29:45]  boot id
//	[45:53]  monotonic nanoseconds since that boot's Open (signed)
//	[53:]    payload
const (
	envelopeFormat = 1
	headerLen      = 53
	offSeq         = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seqKey is the bbolt key of seq: 8 bytes, big-endian, so keys sort by seq.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// encodeRecord encodes e (whose Payload must be an encoder) with seq 0;
// sealRecord fills in the seq and checksum once the writer assigns it.
func encodeRecord(e Event, p encoder) []byte {
	w := wbuf{b: make([]byte, headerLen, headerLen+64)}
	w.b[0] = envelopeFormat
	binary.BigEndian.PutUint16(w.b[13:], uint16(e.Type))
	binary.BigEndian.PutUint16(w.b[15:], e.Version)
	binary.BigEndian.PutUint64(w.b[17:], uint64(e.Time.Unix()))
	binary.BigEndian.PutUint32(w.b[25:], uint32(e.Time.Nanosecond()))
	copy(w.b[29:45], e.Boot[:])
	binary.BigEndian.PutUint64(w.b[45:], uint64(e.Mono))
	p.encode(&w)
	sealRecord(w.b, e.Seq)
	return w.b
}

func sealRecord(rec []byte, seq uint64) {
	binary.BigEndian.PutUint64(rec[offSeq:], seq)
	binary.BigEndian.PutUint32(rec[1:], crc32.Checksum(rec[5:], castagnoli))
}

// decodeHeader checks a record's envelope and returns the event without
// its payload, and the payload bytes (a slice of rec).
func decodeHeader(seq uint64, rec []byte) (Event, []byte, error) {
	e := Event{Seq: seq}
	switch {
	case len(rec) > headerLen+MaxRecordSize:
		return e, nil, fmt.Errorf("record of %d bytes is too large", len(rec))
	case len(rec) < 1:
		return e, nil, fmt.Errorf("empty record")
	case rec[0] != envelopeFormat:
		return e, nil, fmt.Errorf("envelope format %d is unknown (written by a newer release?)", rec[0])
	case len(rec) < headerLen:
		return e, nil, fmt.Errorf("record of %d bytes is shorter than its header", len(rec))
	case binary.BigEndian.Uint32(rec[1:]) != crc32.Checksum(rec[5:], castagnoli):
		return e, nil, fmt.Errorf("checksum mismatch")
	case binary.BigEndian.Uint64(rec[offSeq:]) != seq:
		return e, nil, fmt.Errorf("record holds seq %d", binary.BigEndian.Uint64(rec[offSeq:]))
	}
	e.Type = Type(binary.BigEndian.Uint16(rec[13:]))
	e.Version = binary.BigEndian.Uint16(rec[15:])
	nsec := binary.BigEndian.Uint32(rec[25:])
	if nsec >= 1e9 {
		return Event{Seq: seq}, nil, fmt.Errorf("bad time")
	}
	e.Time = time.Unix(int64(binary.BigEndian.Uint64(rec[17:])), int64(nsec)).UTC()
	copy(e.Boot[:], rec[29:45])
	e.Mono = time.Duration(binary.BigEndian.Uint64(rec[45:]))
	return e, rec[headerLen:], nil
}

// decodeRecord decodes the record stored under seq. It always returns a
// usable Event: when the record cannot be interpreted, its Payload is
// Unknown and the error says why (the caller logs it; projections skip it).
// Nothing in the result aliases rec.
func decodeRecord(seq uint64, rec []byte) (Event, error) {
	e, body, err := decodeHeader(seq, rec)
	if err != nil {
		raw := rec
		if len(raw) > headerLen+MaxRecordSize {
			raw = raw[:headerLen+MaxRecordSize]
		}
		e.Payload = Unknown{Raw: append([]byte(nil), raw...), Reason: err.Error()}
		return e, fmt.Errorf("seq %d: %w", seq, err)
	}
	e.Payload, err = decodePayload(e.Type, e.Version, body)
	if err != nil {
		return e, fmt.Errorf("seq %d: %w", seq, err)
	}
	return e, nil
}
