package webrelay

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// TestRelayTone: a page's peer connection receives the monitor's audio,
// and decoded it is the 440 Hz test tone.
func TestRelayTone(t *testing.T) {
	_, r, pcm := playing(t, time.Second)
	if !isTone(pcm[len(pcm)/2:]) {
		t.Fatalf("decoded audio is not the tone: 440 Hz %.3g, 1 kHz %.3g", goertzel(pcm, 440), goertzel(pcm, 1000))
	}
	if n := r.Peers(); n != 1 {
		t.Fatalf("Peers = %d, want 1", n)
	}
}

// playing starts a session and a relay, and a page that plays the
// session's audio for d; it returns what the page decoded.
func playing(t *testing.T, d time.Duration) (*listener.Session, *Relay, []int16) {
	t.Helper()
	sess := setup(t)
	r := newRelay(t, Config{})
	b, err := newBrowser(t, r, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sess, r, b.decode(d)
}

var candidateLine = regexp.MustCompile(`(?m)^a=candidate:.*\r?\n`)

// TestRelayMDNSBrowser: a page that hides its address behind a .local
// candidate (Safari sends only those) still connects: its checks reach
// our host candidates and become peer-reflexive candidates.
func TestRelayMDNSBrowser(t *testing.T) {
	sess := setup(t)
	r := newRelay(t, Config{})
	b, err := newBrowser(t, r, sess, func(sdp string) string {
		sdp = candidateLine.ReplaceAllString(sdp, "")
		mdns := "a=candidate:1 1 udp 2113937151 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d.local 54321 typ host\r\n"
		i := strings.Index(sdp, "a=mid:")
		j := i + strings.Index(sdp[i:], "\n") + 1
		sdp = sdp[:j] + mdns + sdp[j:]
		if info, err := checkOffer(sdp); err != nil || info.mdns != 1 || strings.Contains(info.sdp, "a=candidate") {
			t.Fatalf("the edited offer: %+v, %v: want one .local candidate dropped and none left", info, err)
		}
		return sdp
	})
	if err != nil {
		t.Fatal(err)
	}
	if pcm := b.decode(500 * time.Millisecond); !isTone(pcm[len(pcm)/2:]) {
		t.Fatal("decoded audio is not the tone")
	}
}

// TestRelaySharedFeed: two pages share one subscription to the session
// (one feed, two references); closing one leaves the other receiving;
// closing both stops the feed.
func TestRelaySharedFeed(t *testing.T) {
	sess := setup(t)
	r := newRelay(t, Config{})
	b1, err := newBrowser(t, r, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := newBrowser(t, r, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1.decode(200 * time.Millisecond)
	b2.decode(200 * time.Millisecond)
	r.mu.Lock()
	feeds, refs := len(r.feeds), 0
	var f *feed
	if f = r.feeds[sess]; f != nil {
		refs = f.refs
	}
	r.mu.Unlock()
	if feeds != 1 || refs != 2 {
		t.Fatalf("%d feeds, %d references to the session's, want 1 feed with 2", feeds, refs)
	}
	b1.close()
	eventually(t, 10*time.Second, "the first page's peer closed", func() bool { return r.Peers() == 1 })
	b2.drain()
	if pcm := b2.decode(500 * time.Millisecond); !isTone(pcm[len(pcm)/2:]) {
		t.Fatal("the second page's audio after the first left is not the tone")
	}
	b2.close()
	eventually(t, 10*time.Second, "the last peer closed", func() bool { return r.Peers() == 0 })
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the feed still runs after its last peer left")
	}
	r.mu.Lock()
	feeds = len(r.feeds)
	r.mu.Unlock()
	if feeds != 0 {
		t.Fatalf("%d feeds after the last peer left", feeds)
	}
}

// TestRelayMaxPeers: the peer beyond MaxPeers is refused with a
// *LimitError (ErrTooManyPeers); a slot frees when a peer leaves.
func TestRelayMaxPeers(t *testing.T) {
	sess := setup(t)
	r := newRelay(t, Config{MaxPeers: 2})
	b1, err := newBrowser(t, r, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newBrowser(t, r, sess, nil); err != nil {
		t.Fatal(err)
	}
	_, err = newBrowser(t, r, sess, nil)
	var le *LimitError
	if !errors.Is(err, ErrTooManyPeers) || !errors.As(err, &le) || le.Max != 2 {
		t.Fatalf("third peer: %v, want a *LimitError{Max: 2}", err)
	}
	b1.close()
	eventually(t, 10*time.Second, "a slot freed", func() bool { return r.Peers() == 1 })
	if _, err := newBrowser(t, r, sess, nil); err != nil {
		t.Fatalf("a peer after one left: %v", err)
	}
}

// TestRelayClose: Close ends every peer and the feed, and is idempotent;
// Answer then fails with ErrClosed. (TestMain checks for goroutines left.)
func TestRelayClose(t *testing.T) {
	sess, r, _ := playing(t, 100*time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := r.Peers(); n != 0 {
		t.Fatalf("Peers = %d after Close", n)
	}
	if _, err := newBrowser(t, r, sess, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Answer after Close: %v, want ErrClosed", err)
	}
}

// TestRelayContextEndsPeer: the peer closes when Answer's context ends.
func TestRelayContextEndsPeer(t *testing.T) {
	sess, r, _ := playing(t, 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	b2, err := newBrowserCtx(t, ctx, r, sess)
	if err != nil {
		t.Fatal(err)
	}
	b2.decode(100 * time.Millisecond)
	cancel()
	eventually(t, 5*time.Second, "the cancelled peer closed", func() bool { return r.Peers() == 1 })
}

// TestAnswerRefusals: bad offers and ended sessions are refused before a
// peer connection is made.
func TestAnswerRefusals(t *testing.T) {
	sess := setup(t)
	r := newRelay(t, Config{})
	ctx := context.Background()
	video := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n"
	for name, offer := range map[string]string{
		"empty":      "",
		"huge":       "v=0\r\n" + strings.Repeat("a=x:yyyyyyyy\r\n", MaxOffer/10),
		"garbage":    "hello",
		"video only": video,
	} {
		if _, err := r.Answer(ctx, sess, offer, false); !errors.Is(err, ErrBadOffer) {
			t.Errorf("%s: %v, want ErrBadOffer", name, err)
		}
	}
	if n := r.Peers(); n != 0 {
		t.Fatalf("Peers = %d after refusals", n)
	}
	sess.Close()
	if _, err := newBrowser(t, r, sess, nil); !errors.Is(err, listener.ErrSessionClosed) {
		t.Fatalf("Answer for an ended session: %v, want listener.ErrSessionClosed", err)
	}
}
