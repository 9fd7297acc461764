package webrelay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// The Ogg stream's pacing (see pacer).
const (
	// OggFrame is the length of a generated packet.
	OggFrame = 10 * time.Millisecond
	// OggGap is how long the stream may run dry (no packet from the
	// monitor) before generated packets fill it. Longer than the network's
	// jitter, far shorter than the page's buffer.
	OggGap = 100 * time.Millisecond
	// OggAhead is how far the monitor's packets may run ahead of real time
	// (a burst after a stall that was already filled) before the excess is
	// dropped, so the page's latency cannot creep up over a night.
	OggAhead = 200 * time.Millisecond
	// oggWriteTimeout drops a client that stops reading.
	oggWriteTimeout = 10 * time.Second
)

// ServeOgg writes a continuous Ogg/Opus stream (48 kHz, mono) of sess's
// audio to w until ctx ends, for a plain <audio> element; a phone keeps
// playing it with the screen locked.
//
//   - The monitor's Opus packets pass through unchanged (no decoding), one
//     Ogg page each, flushed at once.
//   - When none arrives for OggGap (link or audio lost, the session not
//     streaming yet), generated packets keep the stream flowing in real
//     time, one per OggFrame, so the element never stalls: silence, or
//     while the session's alarm sounds (AlarmEvent State.Sounding) the
//     alarm sound (play.AlarmSound) encoded with Opus. A locked phone
//     thus sounds the alarm with no push service.
//   - While the alarm sounds the stream carries the alarm alone: the
//     monitor's packets, if any still come (a microphone fault), are
//     dropped, since mixing would need decoding. When the alarm stops
//     (acknowledged or cleared), its current tone finishes, then the
//     monitor's audio passes through again.
//
// Headers: ServeOgg sets Content-Type: audio/ogg, Cache-Control: no-store
// and X-Content-Type-Options: nosniff, then writes the body (status 200);
// the caller may add other headers before calling, and must not have
// written the header. It sets a write deadline before each write, so a
// server WriteTimeout does not cut the stream and a client that stops
// reading for 10 s is dropped.
//
// Pass the request's context (joined with the server's lifetime). It
// returns nil when ctx ends, listener.ErrSessionClosed when the session
// ended, media.ErrNoEncoder in a build without cgo, or the write error
// when the client went away. The caller keeps the session streaming
// (Session.SetStream) while the page listens.
func ServeOgg(ctx context.Context, w http.ResponseWriter, sess *listener.Session) error {
	return serveOgg(ctx, w, sess, nil)
}

// serveOgg is ServeOgg; onFlush, when set (benchmarks), is told the
// arrival time of every monitor packet each flush delivered.
func serveOgg(ctx context.Context, w http.ResponseWriter, sess *listener.Session, onFlush func(arrived []time.Time, flushed time.Time)) error {
	sub := sess.Subscribe(listener.SubscribeOptions{Audio: true})
	defer sub.Close()
	return serveOggFrom(ctx, w, sub.Next, onFlush)
}

// ServeOggFrom is ServeOgg fed by next instead of a session: the
// monitor's own page feeds it the monitor's Opus frames (as MediaEvents)
// straight from its capture. next returns an error when the source ended
// (ServeOggFrom returns it) or ctx ended.
func ServeOggFrom(ctx context.Context, w http.ResponseWriter, next func(context.Context) (listener.Event, error)) error {
	return serveOggFrom(ctx, w, next, nil)
}

func serveOggFrom(ctx context.Context, w http.ResponseWriter, next func(context.Context) (listener.Event, error), onFlush func(arrived []time.Time, flushed time.Time)) error {
	enc, err := media.NewOpusEncoder(media.Config{AudioFrame: OggFrame})
	if err != nil {
		return fmt.Errorf("webrelay: ogg stream: %w", err)
	}
	defer enc.Close()
	h := w.Header()
	h.Set("Content-Type", "audio/ogg")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	s := &oggStream{w: w, rc: http.NewResponseController(w), enc: enc, pcm: make([]int16, enc.FrameSamples()), onFlush: onFlush}
	s.alarm.Stop() // the zero AlarmSound sounds; ours waits for the alarm
	s.deadline()
	if s.ogg, err = oggwriter.NewWith(w, media.SampleRate, 1); err != nil { // writes OpusHead and OpusTags
		return fmt.Errorf("webrelay: ogg stream: %w", err)
	}
	return runPaced(ctx, next, &s.pace, s)
}

// pacedStream is a continuous stream run by runPaced: event takes what
// the source sent, fill writes the generated audio due, flush sends what
// was written.
type pacedStream interface {
	event(ev listener.Event, now time.Time) error
	fill(now time.Time) error
	flush() error
}

// runPaced runs s: it reads next on a goroutine of its own (stopped and
// waited for before it returns), starts the pacer, and wakes for every
// event and every generated frame due, until ctx ends (nil), the source
// ends (its error) or a write fails.
func runPaced(ctx context.Context, next func(context.Context) (listener.Event, error), pace *pacer, s pacedStream) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ended error
	events := make(chan listener.Event, 64)
	pumped := make(chan struct{})
	go func() { // owned here: stopped by cancel, waited for below
		defer close(pumped)
		defer close(events)
		for {
			ev, err := next(ctx)
			if err != nil {
				ended = err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-pumped
	}()
	pace.start(time.Now())
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				<-pumped
				return ended
			}
			if err := s.event(ev, time.Now()); err != nil {
				return err
			}
		case <-timer.C:
		}
		now := time.Now()
		if err := s.fill(now); err != nil {
			return err
		}
		if err := s.flush(); err != nil {
			return err
		}
		timer.Reset(pace.wake().Sub(now))
	}
}

// flushResponse flushes rc (a recorder in tests cannot: that is fine).
func flushResponse(rc *http.ResponseController) error {
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// oggStream is ServeOgg's state; one goroutine uses it.
type oggStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	ogg     *oggwriter.OggWriter
	enc     *media.OpusEncoder
	pcm     []int16
	gen     rtp.Packet
	pace    pacer
	alarm   play.AlarmSound
	pending bool // written but not flushed
	stats   oggStats

	onFlush func(arrived []time.Time, flushed time.Time)
	arrived []time.Time // of the monitor packets written since the last flush, with onFlush
}

// oggStats count what a stream wrote.
type oggStats struct {
	Passed, Generated, Alarm, Dropped uint64
}

func (s *oggStream) event(ev listener.Event, now time.Time) error {
	m, _ := admit(ev, now, &s.alarm, &s.pace, &s.stats)
	if m == nil {
		return nil
	}
	if err := s.ogg.WriteRTP(m.Packet); err != nil {
		return err
	}
	s.stats.Passed++
	s.pending = true
	if s.onFlush != nil {
		s.arrived = append(s.arrived, m.Arrived)
	}
	return nil
}

// admit is what both continuous streams do with an event: an alarm change
// starts or stops their alarm sound; a monitor's audio packet is returned,
// with its duration, if it is well formed, no alarm sounds and the pacer
// takes it (else it counts as dropped); anything else is nil.
func admit(ev listener.Event, now time.Time, alarm *play.AlarmSound, pace *pacer, stats *oggStats) (*listener.MediaEvent, time.Duration) {
	switch ev := ev.(type) {
	case listener.AlarmEvent:
		if ev.State.Active && ev.State.Sounding {
			alarm.Start()
		} else {
			alarm.Stop()
		}
	case listener.MediaEvent:
		if ev.Video {
			return nil, 0
		}
		d, ok := opusDuration(ev.Packet.Payload)
		if !ok || alarm.Sounding() || !pace.packet(now, d) {
			stats.Dropped++
			return nil, 0
		}
		return &ev, d
	}
	return nil, 0
}

// fill writes the generated packets due at now.
func (s *oggStream) fill(now time.Time) error {
	for range s.pace.due(now) {
		if s.alarm.Sounding() {
			s.alarm.Fill(s.pcm)
			s.stats.Alarm++
		} else {
			clear(s.pcm)
		}
		pkt, err := s.enc.Encode(s.pcm)
		if err != nil {
			return err
		}
		s.gen.Payload = pkt
		if err := s.ogg.WriteRTP(&s.gen); err != nil {
			return err
		}
		s.stats.Generated++
		s.pending = true
	}
	return nil
}

func (s *oggStream) flush() error {
	if !s.pending {
		return nil
	}
	s.pending = false
	s.deadline()
	if err := flushResponse(s.rc); err != nil {
		return err
	}
	if s.onFlush != nil {
		s.onFlush(s.arrived, time.Now())
		s.arrived = s.arrived[:0]
	}
	return nil
}

func (s *oggStream) deadline() {
	_ = s.rc.SetWriteDeadline(time.Now().Add(oggWriteTimeout)) // ErrNotSupported: a recorder in tests
}

// pacer keeps the Ogg stream in real time, with no goroutine and no clock
// of its own (the caller passes now). pos is the wall-clock time up to
// which the stream holds audio:
//
//   - a monitor packet of d is written, and pos advances by d (from at
//     least now-OggGap), unless pos is already more than OggAhead past
//     now-OggGap: then it is dropped;
//   - once pos falls OggGap behind now (the stream ran dry), generated
//     packets of OggFrame are due until it no longer is; wake says when
//     the next one falls due. If it fell more than OggAhead behind (the
//     process was frozen), only OggAhead of it is generated: the rest is
//     skipped, never sent as a burst.
type pacer struct{ pos time.Time }

func (p *pacer) start(now time.Time) { p.pos = now.Add(-OggGap) }

// packet reports whether a monitor packet of d arriving at now is written.
func (p *pacer) packet(now time.Time, d time.Duration) bool {
	floor := now.Add(-OggGap)
	if p.pos.Sub(floor) > OggAhead {
		return false
	}
	if p.pos.Before(floor) {
		p.pos = floor
	}
	p.pos = p.pos.Add(d)
	return true
}

// due returns the number of generated packets due at now and counts them
// written.
func (p *pacer) due(now time.Time) int {
	n := 0
	floor := now.Add(-OggGap)
	if floor.Sub(p.pos) > OggAhead {
		// The stream fell far behind (this process was frozen or starved):
		// what it missed is gone; it goes on from now, with no burst that
		// would put the page that much further behind live for good.
		p.pos = floor.Add(-OggAhead)
	}
	for ; !p.pos.After(floor); n++ {
		p.pos = p.pos.Add(OggFrame)
	}
	return n
}

// wake is when the next generated packet falls due.
func (p *pacer) wake() time.Time { return p.pos.Add(OggGap) }

// opusDuration is the audio in an Opus packet (RFC 6716 §3.1), and
// whether the packet is one an Ogg stream can carry.
func opusDuration(pkt []byte) (time.Duration, bool) {
	if len(pkt) == 0 {
		return 0, false
	}
	toc := pkt[0]
	var frame time.Duration // per frame, in units of 100 µs
	switch cfg := toc >> 3; {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]time.Duration{100, 200, 400, 600}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = [2]time.Duration{100, 200}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]time.Duration{25, 50, 100, 200}[cfg&3]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(pkt) < 2 || pkt[1]&0x3f == 0 {
			return 0, false
		}
		frames = int(pkt[1] & 0x3f)
	}
	d := frame * time.Duration(frames) * 100 * time.Microsecond
	if d > 120*time.Millisecond {
		return 0, false
	}
	return d, true
}
