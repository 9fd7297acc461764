package listener

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/presence"
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
	Dial(ctx context.Context, m Monitor) (Conn, control.HelloAck, error)
	// Rediscover finds m's current address (mDNS), for when its last one
	// stopped answering.
	Rediscover(ctx context.Context, m Monitor) (string, error)
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
}

// tickInterval drives the alarm's timers (audio gap, stream grace).
const tickInterval = 50 * time.Millisecond

// Session keeps one paired monitor connected, and streaming while the
// parent listens, and tells every subscriber what happens: presence,
// status, stream state, media, decoded audio, alarm and noise chimes.
// Every front end (terminal, speaker, web page) is a subscriber of the
// same session; none of them reads the connection or owns a reconnect
// loop.
//
// Goroutines, all owned by the session and stopped by Close: the run loop
// (dial, serve, redial by Policy); per live connection a reader (the mux:
// it routes each message by type and stream session) and a streamer (the
// WebRTC offer, restarts); pion's track readers (waited for by the
// streamer); and a ticker for the alarm's timers.
type Session struct {
	l      *Listener // nil in tests with a fake dialer
	dialer Dialer
	opt    SessionOptions
	policy Policy
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    error // set before done closes

	mu        sync.Mutex
	mon       Monitor
	subs      []*Subscription
	mode      StreamMode
	modeWake  chan struct{} // poked when mode changes (the streamer waits on it)
	tickWake  chan struct{} // poked when mode changes (the ticker waits on it)
	alarm     *alarm.Machine
	change    Change
	conn      Conn
	status    *StatusEvent
	streaming bool
	alarmSt   alarm.State
	stats     SessionStats
	infoWait  []chan infoReply    // MonitorInfo calls waiting for the answer
	openWait  []chan pairingReply // OpenPairing calls waiting for the answer
	closeWait []chan pairingReply // ClosePairing calls
	pairing   *PairingEvent       // the latest pairing state heard
}

type infoReply struct {
	info control.Info
	err  error
}

// ErrOffline: the monitor is not connected right now.
var ErrOffline = errors.New("listener: the monitor is offline: it is reconnected as soon as it answers")

// MonitorInfo asks the monitor for its control card: its port, pairing
// window and live connections with their last heartbeat.
func (s *Session) MonitorInfo(ctx context.Context) (control.Info, error) {
	r, err := ask(ctx, s, &s.infoWait, control.InfoRequest{})
	if err != nil {
		return control.Info{}, err
	}
	return r.info, r.err
}

// answerInfo hands the monitor's info (or its error) to every waiting
// MonitorInfo call.
func (s *Session) answerInfo(r infoReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	answer(&s.infoWait, r)
}

// ask sends req on the live connection and waits for its answer, which
// the mux hands to every channel in *waiting (guarded by s.mu).
func ask[R any](ctx context.Context, s *Session, waiting *[]chan R, req control.Message) (R, error) {
	var zero R
	ch := make(chan R, 1)
	s.mu.Lock()
	c := s.conn
	if c != nil {
		*waiting = append(*waiting, ch)
	}
	s.mu.Unlock()
	if c == nil {
		return zero, ErrOffline
	}
	defer func() {
		s.mu.Lock()
		*waiting = slices.DeleteFunc(*waiting, func(x chan R) bool { return x == ch })
		s.mu.Unlock()
	}()
	if err := c.Send(ctx, req); err != nil {
		return zero, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.Done():
		return zero, ErrOffline
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// answer hands r to every waiting ask and forgets them. s.mu must be held.
func answer[R any](waiting *[]chan R, r R) {
	for _, ch := range *waiting {
		select {
		case ch <- r:
		default:
		}
	}
	*waiting = nil
}

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
func (l *Listener) Start(m Monitor, opt SessionOptions) *Session {
	if opt.Logger == nil {
		opt.Logger = l.log
	}
	if opt.dialer == nil {
		opt.dialer = listenerDialer{l}
	}
	return startSession(l, m, opt, Policy{Backoff: opt.Backoff, Discovery: l.cfg.Discovery})
}

func startSession(l *Listener, m Monitor, opt SessionOptions, pol Policy) *Session {
	if opt.AnswerTimeout <= 0 {
		opt.AnswerTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		l: l, dialer: opt.dialer, opt: opt, policy: pol, log: opt.Logger.With("monitor", m.Name),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		mon: m, mode: opt.Stream, modeWake: make(chan struct{}, 1), tickWake: make(chan struct{}, 1),
		alarm: alarm.New(opt.Alarm),
	}
	now := time.Now()
	s.change = Change{Monitor: m, Presence: Connecting, At: now, Address: m.Address}
	if s.mode != StreamOff {
		s.applyAlarm(s.alarm.Listening(true, now))
	}
	s.wg.Go(s.run)
	s.wg.Go(s.ticker)
	go func() {
		s.wg.Wait()
		s.mu.Lock()
		subs := s.subs
		s.subs = nil
		s.mu.Unlock()
		for _, sub := range subs {
			sub.end()
		}
		close(s.done)
	}()
	return s
}

// Monitor is the session's monitor (with its latest address).
func (s *Session) Monitor() Monitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mon
}

// Subscribe starts delivering events. The first events describe the
// present: the presence, the latest status and the alarm if it is raised.
func (s *Session) Subscribe(opt SubscribeOptions) *Subscription {
	if opt.Queue <= 0 {
		opt.Queue = 512
	}
	sub := &Subscription{s: s, opt: opt, wake: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		sub.closed = true
		return sub
	default:
	}
	if s.change.Presence != Connecting {
		sub.push(PresenceEvent{s.change})
	}
	if s.status != nil {
		sub.push(*s.status)
	}
	if s.alarmSt.Active {
		sub.push(AlarmEvent{Monitor: s.mon, State: s.alarmSt})
	}
	s.subs = append(s.subs, sub)
	return sub
}

func (s *Session) unsubscribe(sub *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = slices.DeleteFunc(s.subs, func(x *Subscription) bool { return x == sub })
}

// publish hands ev to every subscriber that wants it. Called with s.mu held.
func (s *Session) publish(ev Event) {
	for _, sub := range s.subs {
		switch ev := ev.(type) {
		case MediaEvent:
			if ev.Video && !sub.opt.Video || !ev.Video && !sub.opt.Audio {
				continue
			}
		case PCMEvent:
			if !sub.opt.PCM {
				continue
			}
		}
		sub.push(ev)
	}
}

// wantsPCM reports whether a subscriber wants decoded audio. Called with s.mu held.
func (s *Session) wantsPCM() bool {
	for _, sub := range s.subs {
		if sub.opt.PCM {
			return true
		}
	}
	return false
}

// SetStream changes what the session streams: StreamOff stops listening
// (and disarms the alarm), any other mode (re)starts the stream.
func (s *Session) SetStream(mode StreamMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode == mode {
		return
	}
	was := s.mode
	s.mode = mode
	if (was == StreamOff) != (mode == StreamOff) {
		s.applyAlarm(s.alarm.Listening(mode != StreamOff, time.Now()))
	}
	for _, wake := range []chan struct{}{s.modeWake, s.tickWake} {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// Stream returns the current stream mode.
func (s *Session) Stream() StreamMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// Ack acknowledges the alarm: its sound stops; the alarm stays raised
// until the baby can be heard again (and sounds again after the alarm's
// reminder interval if it is still not).
func (s *Session) Ack() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyAlarm(s.alarm.Ack(time.Now()))
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
}

// Snapshot returns the session's present state.
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Change: s.change, Alarm: s.alarmSt, Stream: s.mode, Streaming: s.streaming, Stats: s.stats}
	if s.status != nil {
		st := *s.status
		snap.Status = &st
	}
	if s.pairing != nil {
		p := *s.pairing
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
	return s.stats
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

// applyAlarm publishes the alarm machine's effects. Called with s.mu held.
func (s *Session) applyAlarm(effs []alarm.Effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case alarm.AlarmChanged:
			s.alarmSt = e.State
			if e.State.Active && e.State.Sounding {
				s.log.Warn("alarm", "reason", e.State.Reason.String())
			}
			s.publish(AlarmEvent{Monitor: s.mon, State: e.State})
		case alarm.Chime:
			s.publish(ChimeEvent{Monitor: s.mon, At: e.At})
		}
	}
}

// ticker drives the alarm's timers while the parent listens; it sleeps
// while the session only watches presence (StreamOff), when the alarm is
// disarmed and has no timer.
func (s *Session) ticker() {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		if s.Stream() == StreamOff {
			t.Stop()
			select {
			case <-s.ctx.Done():
				return
			case <-s.tickWake:
				t.Reset(tickInterval)
				continue
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.tickWake:
		case now := <-t.C:
			s.mu.Lock()
			s.applyAlarm(s.alarm.Tick(now))
			s.mu.Unlock()
		}
	}
}

// setPresence records a presence report and tells the alarm and the
// subscribers when it changed.
func (s *Session) setPresence(p Presence, c Conn, err error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := Change{Monitor: s.mon, Presence: p, At: now, Address: s.mon.Address, LastSeen: s.change.LastSeen, Err: err}
	if c != nil {
		st := c.Stats()
		ch.RTT, ch.LastSeen = st.SRTT, st.LastSeen
	}
	if p == Online {
		s.conn = c
		s.stats.Connections++
	} else {
		s.conn = nil
		s.streaming = false
	}
	changed := p != s.change.Presence
	s.change = ch
	if !changed {
		return
	}
	s.publish(PresenceEvent{ch})
	if p == Online {
		s.applyAlarm(s.alarm.Online(now))
	} else {
		s.applyAlarm(s.alarm.Offline(now))
	}
}

// run dials, serves and redials the monitor by the reconnect policy.
func (s *Session) run() {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	var retry Retry
	for {
		mon := s.Monitor()
		dctx, cancel := context.WithTimeout(s.ctx, s.dialTimeout())
		c, ack, err := s.dialer.Dial(dctx, mon)
		cancel()
		if s.ctx.Err() != nil {
			if c != nil {
				c.Close(control.CodeGoingAway, "")
			}
			return
		}
		var d Decision
		if err != nil {
			s.log.Debug("dial failed", "err", err)
			s.setPresence(Offline, nil, err)
			retry, d = s.policy.Next(retry, DialFailed, err, time.Now(), rng.Float64())
		} else {
			retry, _ = s.policy.Next(retry, Connected, nil, time.Now(), 0)
			s.setPresence(Online, c, nil)
			s.serve(c, ack)
			if s.ctx.Err() != nil {
				c.Close(control.CodeGoingAway, "")
				return
			}
			cerr := c.Err()
			s.setPresence(Offline, nil, cerr)
			retry, d = s.policy.Next(retry, Disconnected, cerr, time.Now(), rng.Float64())
		}
		if d.Stop {
			s.log.Warn("giving up on the monitor", "err", d.Err)
			s.err = d.Err
			s.cancel()
			return
		}
		if d.Rediscover {
			s.rediscover()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(time.Until(d.DialAt)):
		}
	}
}

func (s *Session) dialTimeout() time.Duration {
	var hb presence.Config
	if s.l != nil {
		hb = s.l.cfg.Heartbeat
	}
	hb = hb.WithDefaults()
	return max(3*time.Second, hb.Interval*time.Duration(hb.Misses))
}

// rediscover looks the monitor up after its last address failed a few
// times; a new address is remembered. The pinned fingerprint still
// decides whom the next dial accepts.
func (s *Session) rediscover() {
	mon := s.Monitor()
	addr, err := s.dialer.Rediscover(s.ctx, mon)
	if err != nil || addr == mon.Address {
		return
	}
	s.log.Info("monitor found at a new address", "old", mon.Address, "new", addr)
	if s.l != nil {
		if err := s.l.RecordAddress(s.ctx, mon, addr); err != nil {
			s.log.Warn("cannot remember the new address", "err", err)
		}
	}
	s.mu.Lock()
	s.mon.Address = addr
	s.mu.Unlock()
}

// serve runs while c is up: the mux reads every message and routes it;
// the streamer streams while the parent listens.
func (s *Session) serve(c Conn, ack control.HelloAck) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	inbox := make(chan control.Message, 64)
	var wg sync.WaitGroup
	wg.Go(func() { s.mux(ctx, c, inbox) })
	wg.Go(func() { s.streamer(ctx, c, ack, inbox) })
	select {
	case <-c.Done():
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
}

// mux is the connection's one reader: status goes to the subscribers and
// the alarm, signalling for a stream session to the streamer.
func (s *Session) mux(ctx context.Context, c Conn, inbox chan<- control.Message) {
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return
		}
		switch m := m.(type) {
		case control.Status:
			s.onStatus(m)
			continue
		case control.Info:
			s.answerInfo(infoReply{info: m})
			continue
		case control.PairingState:
			s.onPairing(pairingReply{st: m}, m.Ref)
			continue
		case control.WebRTCAnswer, control.WebRTCICE, control.StreamStop:
		case control.ErrorMsg:
			if m.Ref == control.TypeInfoRequest {
				s.answerInfo(infoReply{err: m.ToError()})
				continue
			}
			if m.Ref == control.TypePairOpen || m.Ref == control.TypePairClose {
				s.onPairing(pairingReply{err: m.ToError()}, m.Ref)
				continue
			}
			if m.Session == "" && m.Ref != control.TypeStreamStart && m.Ref != control.TypeWebRTCOffer && m.Ref != control.TypeWebRTCICE {
				s.log.Warn("error from the monitor", "code", m.Code, "ref", m.Ref, "message", control.Truncate(m.Message, 200))
				continue
			}
		default:
			s.log.Debug("message ignored", "type", m.MessageType())
			continue
		}
		select {
		case inbox <- m:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Session) onStatus(st control.Status) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := StatusEvent{Monitor: s.mon, Status: st, At: now}
	s.status = &ev
	s.stats.Statuses++
	s.publish(ev)
	s.applyAlarm(s.alarm.Faults(slices.Contains(st.Faults, control.FaultMicrophone), now))
	s.applyAlarm(s.alarm.Noise(st.Noise, now))
}

// listenerDialer dials for sessions of a real Listener.
type listenerDialer struct{ l *Listener }

func (d listenerDialer) Dial(ctx context.Context, m Monitor) (Conn, control.HelloAck, error) {
	c, ack, err := d.l.Dial(ctx, m)
	if err != nil {
		return nil, ack, err
	}
	return c, ack, nil
}

func (d listenerDialer) Rediscover(ctx context.Context, m Monitor) (string, error) {
	if !d.l.cfg.Discovery {
		return "", errors.New("listener: discovery is off")
	}
	return d.l.rediscover(ctx, m)
}
