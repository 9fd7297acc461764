package play

import (
	"fmt"

	"github.com/cradle-monitor/cradle/media"
)

// Frame is decoded audio: 48 kHz mono PCM with the RTP timestamp of its first sample.
type Frame struct {
	PCM       []int16
	TS        uint32 // RTP timestamp (48 kHz clock) of PCM[0]
	Concealed bool   // produced by PLC/FEC, not decoded from its own packet
}

// Depacketizer limits. The rules are in Depacketizer's doc comment.
const (
	// MaxConceal is the most lost frames concealed for one gap: 100 ms at
	// 10 ms frames. PLC fades to silence by then; the jitter buffer
	// plays silence over the rest of a longer gap.
	MaxConceal = 10
	// ResyncJump is the sequence-number distance, either way, that means
	// a new stream (the monitor restarted) rather than loss or lateness:
	// 5 s of 10 ms packets.
	ResyncJump = 500
	// ResyncTS is how far a packet's RTP timestamp may be from the one
	// its sequence number implies before it starts a new stream: 1 s.
	ResyncTS = media.SampleRate
	// ResyncLate is how many packets in a row may be dropped as late or
	// duplicate before the next one starts a new stream (a restarted
	// stream whose sequence numbers happen to sit just behind the old).
	ResyncLate = 25
)

// DepacketizerStats counts what a Depacketizer did. Decoded + Concealed
// is the number of frames it returned.
type DepacketizerStats struct {
	Decoded   uint64 // frames decoded from their own packet
	Concealed uint64 // frames made up for lost or corrupt packets (FEC included)
	FEC       uint64 // of Concealed, frames asked of the next packet's FEC data
	Skipped   uint64 // lost frames beyond MaxConceal, not concealed
	Late      uint64 // packets dropped: older than the last one played
	Duplicate uint64 // packets dropped: the last one played again
	Corrupt   uint64 // packets the decoder refused (concealed instead)
	Resyncs   uint64 // new streams (the first packet is not counted)
}

// Depacketizer turns RTP audio packets, in arrival order, into Frames: it
// decodes each packet once, conceals up to MaxConceal lost frames when the
// sequence number jumps forward (FEC from the packet that revealed the gap
// for the frame just before it, PLC for the rest), drops duplicates and
// packets older than the last one played, and resynchronises after a large
// jump (a restarted stream). It is not safe for concurrent use.
//
// The rules, for a packet with sequence number seq after the last one
// accepted, last (sequence numbers compared modulo 2^16):
//
//   - seq == last+1: decoded; one frame.
//   - last+1 < seq < last+ResyncJump: lost = seq-last-1 frames are missing.
//     When lost <= MaxConceal, lost frames are concealed, the one just
//     before seq from seq's in-band FEC (our encoder sends none, so libopus
//     conceals it too), then the packet is decoded. When lost > MaxConceal,
//     MaxConceal frames of PLC follow the last one (a fade rather than a
//     click), the rest are skipped, and the packet is decoded at its own
//     timestamp.
//   - seq == last: a duplicate; dropped.
//   - last-ResyncJump < seq < last: late (reordered past its gap, which was
//     already concealed); dropped.
//   - otherwise, or when the timestamp is more than ResyncTS from the one
//     seq implies, or after ResyncLate dropped packets in a row: a new
//     stream. The decoder starts afresh and the packet is decoded.
//
// Concealed frames have the length of the last decoded frame and the
// timestamps that follow it. A packet the decoder refuses (empty, too
// large, corrupt) counts as lost: its frame is concealed, and Push returns
// the frames with an error wrapping media.ErrOpusPacket; the frames must be
// played all the same.
//
// Each Frame's PCM is a fresh slice that the caller owns.
type Depacketizer struct {
	dec     *media.OpusDecoder
	pcm     []int16
	started bool
	last    uint16 // sequence number of the last packet accepted
	lastTS  uint32 // its timestamp
	n       int    // samples in its frame
	dropped int    // late or duplicate packets in a row
	stats   DepacketizerStats
}

// NewDepacketizer returns a Depacketizer with its own Opus decoder. Without
// cgo it fails with media.ErrNoDecoder.
func NewDepacketizer() (*Depacketizer, error) {
	dec, err := media.NewOpusDecoder()
	if err != nil {
		return nil, err
	}
	return &Depacketizer{dec: dec, pcm: make([]int16, media.MaxFrameSamples)}, nil
}

// errClosedDepacketizer is returned by Push after Close.
var errClosedDepacketizer = fmt.Errorf("play: depacketizer: %w", media.ErrClosed)

// Push takes the next packet as it arrived and returns the frames to play,
// in order (none for a dropped packet).
func (d *Depacketizer) Push(seq uint16, ts uint32, payload []byte) ([]Frame, error) {
	if d.dec == nil {
		return nil, errClosedDepacketizer
	}
	if !d.started {
		return d.resync(seq, ts, payload, false)
	}
	diff := int(int16(seq - d.last)) // modulo 2^16: 0 after 65535 is +1
	if diff <= -ResyncJump || diff >= ResyncJump {
		return d.resync(seq, ts, payload, true)
	}
	if want := d.lastTS + uint32(diff*d.n); absTS(ts-want) > ResyncTS {
		return d.resync(seq, ts, payload, true)
	}
	if diff <= 0 {
		d.dropped++
		if d.dropped > ResyncLate {
			return d.resync(seq, ts, payload, true)
		}
		if diff == 0 {
			d.stats.Duplicate++
		} else {
			d.stats.Late++
		}
		return nil, nil
	}
	d.dropped = 0
	lost := diff - 1
	var out []Frame
	if lost > MaxConceal {
		out = d.conceal(out, MaxConceal)
		d.stats.Skipped += uint64(lost - MaxConceal)
	} else if lost > 0 {
		out = d.conceal(out, lost-1)
		out = d.fec(out, ts, payload)
	}
	out, err := d.decode(out, ts, payload)
	d.last, d.lastTS = seq, ts
	return out, err
}

// absTS is the distance of a timestamp difference from zero, modulo 2^32.
func absTS(d uint32) int64 {
	if v := int64(int32(d)); v >= 0 {
		return v
	}
	return -int64(int32(d))
}

// resync starts a new stream at this packet.
func (d *Depacketizer) resync(seq uint16, ts uint32, payload []byte, count bool) ([]Frame, error) {
	if d.started {
		dec, err := media.NewOpusDecoder()
		if err != nil {
			return nil, err
		}
		d.dec.Close()
		d.dec = dec
	}
	if count {
		d.stats.Resyncs++
	}
	d.started, d.dropped = true, 0
	if d.n == 0 {
		d.n = media.SampleRate / 100 // a guess for a corrupt first packet
	}
	out, err := d.decode(nil, ts, payload)
	d.last, d.lastTS = seq, ts
	return out, err
}

// conceal appends k frames of PLC following the last frame.
func (d *Depacketizer) conceal(out []Frame, k int) []Frame {
	for range k {
		n, err := d.dec.Conceal(d.pcm, d.n)
		if err != nil { // cannot happen: d.n came from the decoder
			n = d.n
			clear(d.pcm[:n])
		}
		out = d.emit(out, d.lastTS+uint32(d.n), n, true)
		d.stats.Concealed++
	}
	return out
}

// fec appends the frame before payload, recovered from its FEC data.
func (d *Depacketizer) fec(out []Frame, ts uint32, payload []byte) []Frame {
	n, err := d.dec.DecodeFEC(payload, d.pcm, d.n)
	if err != nil { // a bad packet: plain PLC
		return d.conceal(out, 1)
	}
	d.stats.FEC++
	d.stats.Concealed++
	return d.emit(out, ts-uint32(n), n, true)
}

// decode appends the packet's own frame, or a concealed one if the decoder
// refuses it.
func (d *Depacketizer) decode(out []Frame, ts uint32, payload []byte) ([]Frame, error) {
	n, err := d.dec.Decode(payload, d.pcm)
	if err != nil {
		d.stats.Corrupt++
		n, cerr := d.dec.Conceal(d.pcm, d.n)
		if cerr != nil {
			n = d.n
			clear(d.pcm[:n])
		}
		d.stats.Concealed++
		return d.emit(out, ts, n, true), fmt.Errorf("play: packet at timestamp %d concealed: %w", ts, err)
	}
	d.stats.Decoded++
	return d.emit(out, ts, n, false), nil
}

// emit appends a frame of d.pcm[:n] at ts and makes it the last one.
func (d *Depacketizer) emit(out []Frame, ts uint32, n int, concealed bool) []Frame {
	d.lastTS, d.n = ts, n
	return append(out, Frame{PCM: append([]int16(nil), d.pcm[:n]...), TS: ts, Concealed: concealed})
}

// Stats returns the counts so far.
func (d *Depacketizer) Stats() DepacketizerStats { return d.stats }

// Close frees the decoder. Closing twice is fine.
func (d *Depacketizer) Close() error {
	if d.dec == nil {
		return nil
	}
	err := d.dec.Close()
	d.dec = nil
	return err
}
