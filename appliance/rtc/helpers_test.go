package rtc

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// silence is one 20 ms Opus frame: TOC 0xf8 (CELT fullband 20 ms, mono,
// one frame) and a silent payload.
var silence = []byte{0xf8, 0xff, 0xfe}

const frame = 20 * time.Millisecond

// wait is how long a test waits for a signal before it fails.
const wait = 10 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// loopConfig gathers loopback candidates only.
func loopConfig() Config {
	return Config{IncludeLoopback: true, Interfaces: []string{"lo"}, Logger: quietLogger()}
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func opusTrack(t testing.TB) *webrtc.TrackLocalStaticSample {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "cradle")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// pump writes a sample every period to track until stopped: the media
// pipeline's stand-in.
type pump struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	sent atomic.Int64
}

func startPump(t testing.TB, track *webrtc.TrackLocalStaticSample, data []byte, period time.Duration) *pump {
	p := &pump{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			if err := track.WriteSample(media.Sample{Data: data, Duration: period}); err == nil {
				p.sent.Add(1)
			}
			select {
			case <-p.stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(p.Stop)
	return p
}

func (p *pump) Stop() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// conn simulates one control connection: an Answerer on the monitor's
// end, Offerers on the listener's, candidates carried through a channel
// by a goroutine the test owns.
type conn struct {
	t      testing.TB
	a      *Answerer
	states chan sessionState

	mu       sync.Mutex
	offerers map[string]*Offerer
	trickled []control.WebRTCICE
	errs     []error // from delivering trickled candidates

	ice  chan iceMsg
	done chan struct{}
	wg   sync.WaitGroup
}

type sessionState struct {
	session string
	state   webrtc.PeerConnectionState
}

type iceMsg struct {
	toMonitor bool
	c         control.WebRTCICE
}

func newConn(t testing.TB, e *Engine) *conn {
	c := &conn{
		t:        t,
		a:        e.NewAnswerer(),
		states:   make(chan sessionState, 256),
		offerers: map[string]*Offerer{},
		ice:      make(chan iceMsg, 256),
		done:     make(chan struct{}),
	}
	c.a.OnCandidate = func(m control.WebRTCICE) { c.send(iceMsg{false, m}) }
	c.a.OnState = func(s string, st webrtc.PeerConnectionState) {
		select {
		case c.states <- sessionState{s, st}:
		default:
		}
	}
	c.wg.Add(1)
	go c.carry()
	t.Cleanup(func() {
		c.a.Close()
		close(c.done)
		c.wg.Wait()
		if n := c.a.Count(); n != 0 {
			t.Errorf("Count after Close = %d, want 0", n)
		}
	})
	return c
}

func (c *conn) send(m iceMsg) {
	select {
	case c.ice <- m:
	case <-c.done:
	}
}

func (c *conn) carry() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.ice:
			c.mu.Lock()
			c.trickled = append(c.trickled, m.c)
			o := c.offerers[m.c.Session]
			c.mu.Unlock()
			var err error
			if m.toMonitor {
				err = c.a.AddCandidate(m.c.Session, m.c)
			} else if o != nil {
				err = o.AddCandidate(m.c)
			}
			if err != nil {
				c.mu.Lock()
				c.errs = append(c.errs, err)
				c.mu.Unlock()
			}
		}
	}
}

// listener is one Offerer with its connection signal and received
// packet count.
type listener struct {
	o         *Offerer
	connected chan struct{}
	packets   atomic.Int64
	got       chan struct{} // one token per packet, dropped when full
}

// dial runs a whole signalling exchange for session and returns once the
// answer is applied. onTrack, if nil, counts audio packets.
func (c *conn) dial(e *Engine, session string, video bool, tracks []webrtc.TrackLocal, onTrack func(*webrtc.TrackRemote)) *listener {
	c.t.Helper()
	l := &listener{o: e.NewOfferer(), connected: make(chan struct{}), got: make(chan struct{}, 1024)}
	var once sync.Once
	l.o.OnState = func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(l.connected) })
		}
	}
	l.o.OnCandidate = func(m control.WebRTCICE) { c.send(iceMsg{true, m}) }
	l.o.OnTrack = func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if onTrack != nil {
			onTrack(tr)
			return
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			l.packets.Add(1)
			select {
			case l.got <- struct{}{}:
			default:
			}
		}
	}
	c.mu.Lock()
	c.offerers[session] = l.o
	c.mu.Unlock()
	c.t.Cleanup(func() { _ = l.o.Close() })

	offer, err := l.o.Start(session, video)
	if err != nil {
		c.t.Fatalf("Start: %v", err)
	}
	answer, err := c.a.HandleOffer(session, offer, tracks)
	if err != nil {
		c.t.Fatalf("HandleOffer: %v", err)
	}
	if err := l.o.SetAnswer(answer); err != nil {
		c.t.Fatalf("SetAnswer: %v", err)
	}
	return l
}

func (l *listener) waitConnected(t testing.TB) {
	t.Helper()
	select {
	case <-l.connected:
	case <-time.After(wait):
		t.Fatalf("listener not connected after %v (state %v)", wait, l.o.State())
	}
}

// waitPackets waits for n more packets.
func (l *listener) waitPackets(t testing.TB, n int) {
	t.Helper()
	deadline := time.After(wait)
	for range n {
		select {
		case <-l.got:
		case <-deadline:
			t.Fatalf("got %d packets, want %d more within %v", l.packets.Load(), n, wait)
		}
	}
}

// waitState waits for session to report state st.
func (c *conn) waitState(session string, st webrtc.PeerConnectionState) {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case s := <-c.states:
			if s.session == session && s.state == st {
				return
			}
		case <-deadline:
			c.t.Fatalf("session %q did not reach %v within %v", session, st, wait)
		}
	}
}

// offerSDP returns a real listener offer (its Offerer already closed).
func offerSDP(t testing.TB, e *Engine, video bool) string {
	t.Helper()
	o := e.NewOfferer()
	defer o.Close()
	sdp, err := o.Start("probe", video)
	if err != nil {
		t.Fatal(err)
	}
	return sdp
}
