package webrelay

import (
	"context"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// setup runs a monitor (test media) and a listener paired with it on
// loopback, and starts a session streaming audio.
func setup(t testing.TB, mcfg ...monitor.Config) *listener.Session {
	t.Helper()
	dir := t.TempDir()
	cfg := monitor.Config{Media: media.ModeTest}
	if len(mcfg) > 0 {
		cfg = mcfg[0]
	}
	cfg.StateDir, cfg.Listen, cfg.Logger = filepath.Join(dir, "m"), "127.0.0.1:0", quiet
	mon, err := monitor.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	l, err := listener.Open(listener.Config{StateDir: filepath.Join(dir, "l"), Name: "parent", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := l.Pair(ctx, listener.PairRequest{Target: mon.Addr().String(), Code: mon.SetupCode()})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Start(m, listener.SessionOptions{Stream: listener.StreamAudio, Logger: quiet})
	t.Cleanup(func() { s.Close() })
	return s
}

func newRelay(t testing.TB, cfg Config) *Relay {
	t.Helper()
	cfg.IncludeLoopback, cfg.Logger = true, quiet
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// browser plays a web page's part: the offerer, with a recvonly audio
// transceiver, that waits for ICE gathering before posting its offer.
type browser struct {
	t    testing.TB
	pc   *webrtc.PeerConnection
	pkts chan *rtp.Packet

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // track readers
}

// newBrowser makes the page's peer connection; edit rewrites its offer
// (nil: as is).
func newBrowser(t testing.TB, r *Relay, sess *listener.Session, edit func(string) string) (*browser, error) {
	t.Helper()
	return newBrowserWith(t, context.Background(), r, sess, edit)
}

// newBrowserCtx is newBrowser with ctx passed to Answer.
func newBrowserCtx(t testing.TB, ctx context.Context, r *Relay, sess *listener.Session) (*browser, error) {
	t.Helper()
	return newBrowserWith(t, ctx, r, sess, nil)
}

func newBrowserWith(t testing.TB, ctx context.Context, r *Relay, sess *listener.Session, edit func(string) string) (*browser, error) {
	t.Helper()
	eng, err := rtc.NewEngine(rtc.Config{IncludeLoopback: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := eng.API().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, pc: pc, pkts: make(chan *rtp.Packet, 4096)}
	t.Cleanup(b.close)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		b.wg.Add(1)
		b.mu.Unlock()
		defer b.wg.Done()
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case b.pkts <- p:
			default:
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	sdp := pc.LocalDescription().SDP
	if edit != nil {
		sdp = edit(sdp)
	}
	answer, err := r.Answer(ctx, sess, sdp, false)
	if err != nil {
		return b, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return b, nil
}

func (b *browser) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	_ = b.pc.Close()
	b.wg.Wait()
}

// drain forgets the packets received so far.
func (b *browser) drain() {
	for {
		select {
		case <-b.pkts:
		default:
			return
		}
	}
}

// decode receives d of audio and returns it decoded.
func (b *browser) decode(d time.Duration) []int16 {
	b.t.Helper()
	dep, err := play.NewDepacketizer()
	if err != nil {
		b.t.Fatal(err)
	}
	defer dep.Close()
	var pcm []int16
	deadline := time.After(d + 10*time.Second)
	for len(pcm) < int(d.Seconds()*media.SampleRate) {
		select {
		case p := <-b.pkts:
			frames, _ := dep.Push(p.SequenceNumber, p.Timestamp, p.Payload)
			for _, f := range frames {
				pcm = append(pcm, f.PCM...)
			}
		case <-deadline:
			b.t.Fatalf("received %d samples of audio within %v, want %v", len(pcm), d+10*time.Second, d)
		}
	}
	return pcm
}

// goertzel is the power of pcm (48 kHz) at hz.
func goertzel(pcm []int16, hz float64) float64 {
	w := 2 * math.Pi * hz / 48000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(pcm)*len(pcm))
}

// isTone reports whether pcm is the monitor's 440 Hz test tone.
func isTone(pcm []int16) bool {
	return goertzel(pcm, 440) > 100*goertzel(pcm, 1000)
}

// eventually waits up to d for cond.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		<-tick.C
	}
}

// alarmSounded reports when sess's alarm first sounds; the test's cleanup
// stops the watch and waits for it.
func alarmSounded(t testing.TB, sess *listener.Session) <-chan time.Time {
	alarmed := make(chan time.Time, 1)
	sub := sess.Subscribe(listener.SubscribeOptions{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := sub.Next(context.Background())
			if err != nil {
				return
			}
			if a, ok := ev.(listener.AlarmEvent); ok && a.State.Sounding {
				select {
				case alarmed <- time.Now():
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		sub.Close()
		<-done
	})
	return alarmed
}
