package pagetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/rtc"
)

// Receiver is a phone's browser's receive-only WebRTC peer, in Go, on
// loopback: it offers to receive audio (its candidates gathered, as the
// page posts its offer) and counts the RTP packets that arrive. The
// test's cleanup closes it.
type Receiver struct {
	pc      *webrtc.PeerConnection
	packets atomic.Int64
	last    atomic.Int64 // unix nanoseconds of the last packet
	started atomic.Bool
	done    chan struct{}
}

// NewReceiver makes the peer and its offer.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	eng, err := rtc.NewEngine(rtc.Config{IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := eng.API().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{pc: pc, done: make(chan struct{})}
	t.Cleanup(func() {
		pc.Close()
		if r.started.Load() {
			<-r.done
		}
	})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !r.started.CompareAndSwap(false, true) {
			return
		}
		defer close(r.done)
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			r.packets.Add(1)
			r.last.Store(time.Now().UnixNano())
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
	return r
}

// Offer is the peer's offer (SDP), with its candidates.
func (r *Receiver) Offer() string { return r.pc.LocalDescription().SDP }

// Answer applies the answer (SDP).
func (r *Receiver) Answer(sdp string) error {
	return r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// Packets counts the RTP packets received.
func (r *Receiver) Packets() int64 { return r.packets.Load() }

// LastPacket is when the last one arrived (zero before any).
func (r *Receiver) LastPacket() time.Time {
	if n := r.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Client is a phone's browser's HTTP client: its own cookies, its
// connections from the loopback address from, the page's self-signed
// certificate accepted (trust on first use), 20 s per request.
func Client(t testing.TB, from string) *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 64,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second}
}

// Stream GETs url with c and delivers what it reads, chunk by chunk
// (chunks the test does not take in time are dropped), until the test
// ends or the server ends the response (the channel is then closed). It
// fails the test unless the answer is 200.
func Stream(t testing.TB, c *http.Client, url string) (*http.Response, <-chan []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	long := *c
	long.Timeout = 0
	resp, err := long.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatalf("GET %s: %v %v", url, err, resp)
	}
	out := make(chan []byte, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		br := bufio.NewReader(resp.Body)
		for {
			b := make([]byte, 8192)
			n, err := br.Read(b)
			if n > 0 {
				select {
				case out <- b[:n]:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	return resp, out
}

// ReadThrough reads chunks until their text holds want, and returns all
// the text read; false when the stream ended or d passed first.
func ReadThrough(chunks <-chan []byte, d time.Duration, want string) (string, bool) {
	var sb strings.Builder
	deadline := time.After(d)
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				return sb.String(), false
			}
			sb.Write(b)
			if strings.Contains(sb.String(), want) {
				return sb.String(), true
			}
		case <-deadline:
			return sb.String(), false
		}
	}
}
