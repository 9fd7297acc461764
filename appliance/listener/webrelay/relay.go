package webrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/rtc"
)

// Defaults and fixed timeouts.
const (
	DefaultMaxPeers = 16
	// GatherTimeout bounds the wait for our host candidates to be
	// gathered into the answer (the answer is not trickled).
	GatherTimeout = rtc.DefaultGatherTimeout
	// ConnectTimeout closes a peer that did not connect in time: an
	// offer that is never followed by a connection costs no more.
	ConnectTimeout = rtc.DefaultConnectTimeout
	// feedQueue bounds the media waiting in a feed's subscription.
	feedQueue = 1024
)

// Config configures a Relay; the zero value works.
type Config struct {
	// Logger receives the relay's logs (and pion's); nil means
	// slog.Default().
	Logger *slog.Logger
	// IncludeLoopback offers 127.0.0.1 host candidates too: for a
	// dashboard on loopback, and tests.
	IncludeLoopback bool
	// MaxPeers bounds the peer connections open at once, across all
	// sessions (default 16): a stranger who got past the dashboard's
	// token still cannot exhaust the listener.
	MaxPeers int
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.MaxPeers < 0 {
		return fmt.Errorf("webrelay: MaxPeers %d is negative: use 0 for the default (%d)", c.MaxPeers, DefaultMaxPeers)
	}
	return nil
}

// Relay serves browser peer connections with the media of listener
// sessions. Its methods are safe for concurrent use.
//
// Goroutines, all owned by the Relay and waited for by Close: per peer a
// keeper (it closes the peer when the browser leaves, its context ends,
// its session ends or the Relay closes) and an RTCP reader per track; per
// relayed session a feeder (one subscription to the session's media,
// written to the session's shared tracks), stopped with the session's
// last peer.
type Relay struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	peers  map[*peer]struct{} // including peers still being answered
	feeds  map[*listener.Session]*feed
}

// New returns a Relay with host-only ICE (rtc.NewEngine's settings).
func New(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxPeers == 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	eng, err := rtc.NewEngine(rtc.Config{IncludeLoopback: cfg.IncludeLoopback, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Relay{
		cfg: cfg, log: cfg.Logger, api: eng.API(), ctx: ctx, cancel: cancel,
		peers: map[*peer]struct{}{}, feeds: map[*listener.Session]*feed{},
	}, nil
}

// peer is one browser tab's peer connection.
type peer struct {
	pc     *webrtc.PeerConnection
	feed   *feed
	states chan webrtc.PeerConnectionState
	abort  chan struct{} // closed when Answer fails
	done   chan struct{} // closed when the keeper has cleaned up
}

// feed is one session's shared tracks and the subscription feeding them.
type feed struct {
	sess         *listener.Session
	audio, video *webrtc.TrackLocalStaticRTP
	sub          *listener.Subscription
	cancel       context.CancelFunc
	done         chan struct{} // closed when the feeder returned
	refs         int           // peers using it; guarded by Relay.mu
	stopOnce     sync.Once
}

// Answer takes a page's SDP offer (non-trickle: every candidate it has is
// in it) for sess's media and returns the SDP answer, carrying every host
// candidate gathered within GatherTimeout. Each call makes one peer
// connection: audio always, video too when video is set, the offer has a
// video section and sess streams video (StreamAudioVideo or StreamAuto).
//
// ctx is the peer's lifetime: the peer closes when ctx ends, when the
// browser closes it or its connection fails, when it has not connected
// within ConnectTimeout, when sess ends, or on Close. Pass the server's
// lifetime context (or one derived from it, cancelled to end this one
// tab), not the HTTP request's: that ends as soon as the answer is sent.
//
// Errors: ErrBadOffer (wrapped), a *LimitError (errors.Is
// ErrTooManyPeers), ErrClosed, listener.ErrSessionClosed, ctx's error.
func (r *Relay) Answer(ctx context.Context, sess *listener.Session, offerSDP string, video bool) (string, error) {
	offer, err := checkOffer(offerSDP)
	if err != nil {
		return "", err
	}
	if sess == nil {
		return "", errors.New("webrelay: Answer without a session")
	}
	select {
	case <-sess.Done():
		return "", listener.ErrSessionClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p := &peer{states: make(chan webrtc.PeerConnectionState, 8), abort: make(chan struct{}), done: make(chan struct{})}
	if err := r.reserve(p); err != nil {
		return "", err
	}
	// reserve counted the keeper in r.wg: from here it must run or be
	// given back.
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{}) // no ICE servers: host candidates only
	if err != nil {
		r.unreserve(p)
		r.wg.Done()
		return "", fmt.Errorf("webrelay: new peer connection: %w", err)
	}
	p.pc = pc
	if p.feed, err = r.acquireFeed(sess); err != nil {
		_ = pc.Close()
		r.unreserve(p)
		r.wg.Done()
		return "", err
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		select {
		case p.states <- st:
		default: // the keeper is behind; it reads ConnectionState anyway
		}
	})
	go func() {
		defer r.wg.Done()
		r.keep(ctx, p)
	}()
	answer, err := r.negotiate(ctx, p, offer, video)
	if err != nil {
		close(p.abort)
		<-p.done
		return "", err
	}
	if offer.mdns > 0 {
		r.log.Debug("webrelay: dropped the page's mDNS candidates", "count", offer.mdns)
	}
	return answer, nil
}

// reserve registers p within MaxPeers and counts its keeper in r.wg
// (so that Close, once it holds r.mu, sees every keeper).
func (r *Relay) reserve(p *peer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrClosed
	case len(r.peers) >= r.cfg.MaxPeers:
		return &LimitError{Max: r.cfg.MaxPeers}
	}
	r.peers[p] = struct{}{}
	r.wg.Add(1)
	return nil
}

func (r *Relay) unreserve(p *peer) {
	r.mu.Lock()
	delete(r.peers, p)
	r.mu.Unlock()
}

func (r *Relay) negotiate(ctx context.Context, p *peer, offer offerInfo, video bool) (string, error) {
	pc := p.pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.sdp}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	tracks := []webrtc.TrackLocal{p.feed.audio}
	if video && offer.video {
		switch p.feed.sess.Stream() {
		case listener.StreamAudioVideo, listener.StreamAuto:
			tracks = append(tracks, p.feed.video)
		}
	}
	for _, tr := range tracks {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			return "", fmt.Errorf("webrelay: add %s track: %w", tr.Kind(), err)
		}
		// pion's NACK and report interceptors see only the RTCP that is
		// read. Key-frame requests cannot be forwarded (the session has no
		// way to ask the monitor): a tab waits for the next key frame.
		r.spawn(func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		})
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: cannot answer it: %w", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("webrelay: set local description: %w", err)
	}
	t := time.NewTimer(GatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C: // answer with what was gathered so far
	case <-ctx.Done():
		return "", ctx.Err()
	case <-r.ctx.Done():
		return "", ErrClosed
	}
	desc := pc.LocalDescription()
	if desc == nil {
		return "", errors.New("webrelay: no local description")
	}
	return desc.SDP, nil
}

// spawn runs f in a goroutine Close waits for, unless the Relay is closed.
func (r *Relay) spawn(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.wg.Go(f)
}

// keep closes p's peer connection when its time is up and gives back its
// slot and its share of the feed.
func (r *Relay) keep(ctx context.Context, p *peer) {
	defer close(p.done)
	connect := time.NewTimer(ConnectTimeout)
	defer connect.Stop()
	why := ""
wait:
	for {
		select {
		case <-p.abort:
			why = "answer failed"
			break wait
		case <-ctx.Done():
			why = "context ended"
			break wait
		case <-r.ctx.Done():
			why = "relay closed"
			break wait
		case <-p.feed.done:
			why = "session ended"
			break wait
		case <-connect.C:
			if p.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				why = "did not connect in time"
				break wait
			}
		case st := <-p.states:
			switch st {
			case webrtc.PeerConnectionStateConnected:
				connect.Stop()
				r.log.Info("webrelay: page connected", "peers", r.Peers())
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				why = st.String()
				break wait
			}
		}
	}
	if err := p.pc.GracefulClose(); err != nil {
		r.log.Debug("webrelay: closing peer connection", "err", err)
	}
	r.releaseFeed(p.feed)
	r.unreserve(p)
	r.log.Info("webrelay: page left", "why", why, "peers", r.Peers())
}

// acquireFeed returns sess's feed, starting it for the first peer.
func (r *Relay) acquireFeed(sess *listener.Session) (*feed, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	f := r.feeds[sess]
	if f == nil {
		f = r.newFeed(sess)
		r.feeds[sess] = f
	}
	f.refs++
	return f, nil
}

// releaseFeed drops one peer's share; the last one stops the feeder.
func (r *Relay) releaseFeed(f *feed) {
	r.mu.Lock()
	f.refs--
	last := f.refs == 0
	if last && r.feeds[f.sess] == f {
		delete(r.feeds, f.sess)
	}
	r.mu.Unlock()
	if last {
		f.stop()
	}
}

// newFeed makes sess's tracks and starts its feeder. Called with r.mu held.
func (r *Relay) newFeed(sess *listener.Session) *feed {
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}, "audio", "cradle")
	if err != nil {
		panic(err) // only fails for an empty mime type
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "cradle")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	f := &feed{
		sess: sess, audio: audio, video: video, cancel: cancel, done: make(chan struct{}),
		sub: sess.Subscribe(listener.SubscribeOptions{Audio: true, Video: true, Queue: feedQueue}),
	}
	r.wg.Go(func() { f.run(ctx, r.log) })
	return f
}

// run writes the session's media to the shared tracks until the feed is
// stopped or the session ends.
func (f *feed) run(ctx context.Context, log *slog.Logger) {
	defer close(f.done)
	var audio, video rebaser
	audio.rate, video.rate = 48000, 90000
	warned := false
	for {
		ev, err := f.sub.Next(ctx)
		if err != nil {
			return
		}
		m, ok := ev.(listener.MediaEvent)
		if !ok {
			continue
		}
		pkt := *m.Packet // the header is ours to change; the payload stays shared
		tr := f.audio
		if m.Video {
			if !strings.EqualFold(m.Mime, webrtc.MimeTypeVP8) {
				if !warned {
					log.Warn("webrelay: video codec not relayed", "mime", m.Mime)
					warned = true
				}
				continue
			}
			tr = f.video
			video.apply(&pkt, m.Arrived, false)
		} else {
			audio.apply(&pkt, m.Arrived, m.First)
		}
		_ = tr.WriteRTP(&pkt) // errors are per binding: a closing peer
	}
}

// stop ends the feeder and its subscription and waits for it. Idempotent.
func (f *feed) stop() {
	f.stopOnce.Do(func() {
		f.cancel()
		f.sub.Close()
		<-f.done
	})
}

// Peers returns the number of peer connections open (or being answered).
func (r *Relay) Peers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers)
}

// Close closes every peer connection and waits for every goroutine.
// Later Answers fail with ErrClosed. Idempotent.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// rebaser keeps one kind's sequence numbers and timestamps continuous
// across the monitor's stream restarts (a new SSRC, or the session's
// First packet): the browser sees one stream whose timestamps advance by
// the wall-clock time of the break. Not safe for concurrent use.
type rebaser struct {
	rate    uint32 // RTP clock
	started bool
	ssrc    uint32
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
}

// apply rewrites p's sequence number and timestamp.
func (b *rebaser) apply(p *rtp.Packet, at time.Time, first bool) {
	switch {
	case !b.started:
		b.started, b.ssrc = true, p.SSRC
	case first || p.SSRC != b.ssrc:
		b.ssrc = p.SSRC
		ticks := uint32(max(at.Sub(b.lastAt).Seconds()*float64(b.rate), 1))
		b.seqOff = b.lastSeq + 1 - p.SequenceNumber
		b.tsOff = b.lastTS + ticks - p.Timestamp
	}
	p.SequenceNumber += b.seqOff
	p.Timestamp += b.tsOff
	if d := p.SequenceNumber - b.lastSeq; d < 0x8000 || b.lastAt.IsZero() {
		b.lastSeq, b.lastTS, b.lastAt = p.SequenceNumber, p.Timestamp, at
	}
}
