package listener

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/presence"
	"github.com/cradle-monitor/cradle/media/fanout"
)

// StreamMode says what a session streams while the parent listens.
type StreamMode int

// Stream modes.
const (
	StreamOff        StreamMode = iota // presence and status only: not listening
	StreamAudio                        // listen
	StreamAudioVideo                   // listen and watch
	StreamAuto                         // listen; watch too when the monitor's auto_stream is audio+video
)

func (m StreamMode) String() string {
	switch m {
	case StreamOff:
		return "off"
	case StreamAudio:
		return "audio"
	case StreamAudioVideo:
		return "audio+video"
	case StreamAuto:
		return "auto"
	}
	return "mode?"
}

// Conn is the control connection a session drives: *transport.Conn, or a
// fake in tests.
type Conn interface {
	Send(ctx context.Context, m control.Message) error
	Recv(ctx context.Context) (control.Message, error)
	Done() <-chan struct{}
	Err() error
	Stats() presence.Stats
	RemoteAddr() net.Addr
	Close(code control.Code, reason string) error
}

// Dialer reaches a paired monitor: the Listener itself, or a fake.
type Dialer interface {
	// Dial connects to m at m.Address, pinning m.Fingerprint, and returns
	// once the monitor's hello_ack said it trusts this listener.
	Dial(ctx context.Context, m PairedMonitor) (Conn, control.HelloAck, error)
	// Rediscover finds m's current address (mDNS), for when its last one
	// stopped answering.
	Rediscover(ctx context.Context, m PairedMonitor) (string, error)
}

// SessionOptions tune a Session; zero values take defaults.
type SessionOptions struct {
	// Stream is what to stream while listening; StreamOff only keeps the
	// connection (presence and status). SetStream changes it later.
	Stream  StreamMode
	Backoff Backoff
	// Alarm tunes the alarm, which is armed while the session streams.
	Alarm alarm.Config
	// AnswerTimeout bounds the wait for the monitor's WebRTC answer
	// (default 10 s).
	AnswerTimeout time.Duration
	// Logger receives the session's logs (and WebRTC's); nil uses the
	// listener's.
	Logger *slog.Logger

	dialer Dialer // tests: a fake instead of the listener
	// stream runs one stream attempt (tests: a fake instead of WebRTC);
	// nil is WebRTC (Session.stream).
	stream streamFunc
}

// Session keeps one paired monitor connected, and streaming while the
// parent listens, and tells every subscriber what happens: presence,
// status, stream state, media, decoded audio, alarm and noise chimes.
// Every front end (terminal, speaker, web page) is a subscriber of the
// same session; none of them reads the connection or owns a reconnect
// loop.
//
// A Session is a shell around a pure core (sessionCore, in core.go): the
// core decides, the shell does the I/O. Every call into the core happens
// under mu, and the shell carries out its effects in order before it
// lets go: delivering events (to a fan-out that never blocks), answering
// requests, waking the streamer, arming the one timer. Goroutines, all
// owned by the session and stopped by Close: the dial loop (dial, serve,
// redial when the core says); per live connection a reader (it feeds
// every message to the core) and a streamer (the WebRTC offer, restarts);
// pion's track readers (waited for by the streamer); and the timer's
// goroutine, which wakes only at the core's next deadline.
type Session struct {
	l      *Listener // nil in tests with a fake dialer
	dialer Dialer
	opt    SessionOptions
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    error // set before done closes

	fan      *fanout.Fanout[Event]
	pcmSubs  atomic.Int32  // subscribers that want decoded audio
	modeWake chan struct{} // poked when the stream mode changes (the streamer waits on it)
	timer    *time.Timer   // at the core's next deadline; its goroutine steps timerFired
	wakeups  atomic.Uint64 // the timer's fires (tests count them)

	mu        sync.Mutex // guards the core and the fields below
	core      *sessionCore
	armed     time.Time // the deadline the timer is set for; zero: stopped
	conn      Conn      // the live connection, nil while offline
	inbox     chan control.Message
	waiters   map[uint64]chan reply // requests waiting for their answer
	lastAsk   uint64
	historyMu chan struct{} // one history request at a time (a semaphore)
	talk      *Talk         // the talk running, if any (talk.go)
	talkTail  time.Time     // the nursery stays muted until then, after a talk
}

// ErrOffline: the monitor is not connected right now.
var ErrOffline = errors.New("listener: the monitor is offline: it is reconnected as soon as it answers")

// SessionStats count what a session received.
type SessionStats struct {
	Connections  int
	Streams      int
	AudioPackets uint64
	AudioBytes   uint64
	VideoPackets uint64
	Statuses     uint64
}

// Start keeps m connected (and streaming, per opt.Stream) until Close. It
// returns at once; subscribe to see what happens.
func (l *Listener) Start(m PairedMonitor, opt SessionOptions) *Session {
	if opt.Logger == nil {
		opt.Logger = l.log
	}
	if opt.dialer == nil {
		opt.dialer = listenerDialer{l}
	}
	return startSession(l, m, opt, Policy{Backoff: opt.Backoff, Discovery: l.cfg.Discovery})
}

// StartSession starts a session with m reached through d instead of a
// Listener's QUIC dial: the monitor's own page follows its monitor over
// an in-process connection this way, with the same core, presence and
// events as every listener. Such a session has no WebRTC engine: keep
// its Stream StreamOff. Close stops it.
func StartSession(m PairedMonitor, d Dialer, opt SessionOptions) *Session {
	opt.dialer = d
	return startSession(nil, m, opt, Policy{Backoff: opt.Backoff})
}

func startSession(l *Listener, m PairedMonitor, opt SessionOptions, pol Policy) *Session {
	if opt.AnswerTimeout <= 0 {
		opt.AnswerTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		l: l, dialer: opt.dialer, opt: opt, log: opt.Logger.With("monitor", m.Name),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		fan:       fanout.New(droppable),
		modeWake:  make(chan struct{}, 1),
		timer:     time.NewTimer(time.Hour),
		core:      newSessionCore(m, opt.Stream, pol, opt.Alarm),
		waiters:   make(map[uint64]chan reply),
		historyMu: make(chan struct{}, 1),
	}
	s.timer.Stop()
	s.mu.Lock()
	first := s.step(started{At: time.Now()})
	s.mu.Unlock()
	s.wg.Go(func() { s.run(first) })
	s.wg.Go(s.runTimer)
	go func() {
		s.wg.Wait()
		s.timer.Stop()
		s.fan.Close(nil)
		close(s.done)
	}()
	return s
}

// step feeds ev to the core and carries out its effects, in order, except
// the dial loop's (dialAt, stopSession) and the streamer's signalling,
// which it returns for the caller. Called with mu held.
func (s *Session) step(ev any) (rest []effect) {
	for _, e := range s.core.Step(ev) {
		switch e := e.(type) {
		case deliver:
			s.fan.Publish(e.Event)
		case answer:
			if ch, ok := s.waiters[e.ID]; ok {
				delete(s.waiters, e.ID)
				ch <- e.Reply // buffered for this one answer
			}
		case modeChanged:
			select {
			case s.modeWake <- struct{}{}:
			default:
			}
		case logLine:
			s.log.Log(context.Background(), e.Level, e.Msg, e.Args...)
		default:
			rest = append(rest, e)
		}
	}
	s.armTimer()
	return rest
}

// armTimer sets the timer for the core's next deadline, or stops it.
// Called with mu held.
func (s *Session) armTimer() {
	d, ok := s.core.nextDeadline()
	switch {
	case !ok:
		if !s.armed.IsZero() {
			s.timer.Stop()
			s.armed = time.Time{}
		}
	case !d.Equal(s.armed):
		s.timer.Reset(time.Until(d))
		s.armed = d
	}
}

// runTimer steps timerFired when the timer goes off: the only wake-ups
// of an idle session besides the connection's own traffic.
func (s *Session) runTimer() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-s.timer.C:
			s.wakeups.Add(1)
			s.mu.Lock()
			s.armed = time.Time{}
			s.step(timerFired{At: now})
			s.mu.Unlock()
		}
	}
}

// Monitor is the session's monitor (with its latest address).
func (s *Session) Monitor() PairedMonitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.mon
}

// Subscribe starts delivering events. The first events describe the
// present: the presence, the latest status and the alarm if it is raised.
func (s *Session) Subscribe(opt SubscribeOptions) *Subscription {
	if opt.Queue <= 0 {
		opt.Queue = 512
	}
	sub := &Subscription{s: s, opt: opt}
	if opt.PCM {
		s.pcmSubs.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub.fs = s.fan.SubscribeFunc(opt.Queue, opt.wants, s.core.present()...)
	return sub
}

// SetStream changes what the session streams: StreamOff stops listening
// (and disarms the alarm), any other mode (re)starts the stream.
func (s *Session) SetStream(mode StreamMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step(streamSet{At: time.Now(), Mode: mode})
}

// Stream returns the current stream mode.
func (s *Session) Stream() StreamMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.mode
}

// Ack acknowledges the alarm: its sound stops; the alarm stays raised
// until the baby can be heard again (and sounds again after the alarm's
// reminder interval if it is still not).
func (s *Session) Ack() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step(acked{At: time.Now()})
}

// Snapshot is a session's present state, for a front end that draws it.
type Snapshot struct {
	Change                 // presence, address, RTT and last seen (live while online)
	Status    *StatusEvent // the latest status, if any
	Alarm     alarm.State
	Stream    StreamMode
	Streaming bool // media is flowing
	Stats     SessionStats
	Pairing   *PairingEvent // the monitor's pairing window, once heard of
	Sound     *SoundEvent   // the monitor's speaker, once heard of
	Talk      *TalkEvent    // who talks to the nursery, once heard of
}

// Snapshot returns the session's present state.
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.core
	snap := Snapshot{Change: c.change, Alarm: c.alarmSt, Stream: c.mode, Streaming: c.streaming, Stats: c.stats}
	if c.status != nil {
		st := *c.status
		snap.Status = &st
	}
	if c.sound != nil {
		sd := *c.sound
		snap.Sound = &sd
	}
	if c.talk != nil {
		tk := *c.talk
		snap.Talk = &tk
	}
	if c.pairing != nil {
		p := *c.pairing
		snap.Pairing = &p
	}
	if s.conn != nil {
		st := s.conn.Stats()
		snap.RTT, snap.LastSeen = st.SRTT, st.LastSeen
	}
	return snap
}

// Stats returns what the session received so far.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.stats
}

// Done is closed when the session has ended: Close, or a final error.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended by itself (the monitor revoked this
// listener, or its identity changed); nil after Close.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close stops the session and waits for every goroutine it started. It
// is idempotent and returns Err.
func (s *Session) Close() error {
	s.cancel()
	<-s.done
	return s.err
}
