package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/hw"
)

// TestStrangerTrustedOnlyRefusedByCore: with no transport filter at all
// (fakeConn hands the shell every message, as the transport would with
// its message filter switched off), a stranger's trusted-only requests
// reach the core, which refuses each one (error untrusted, then the
// close with untrusted), and nothing streams.
func TestStrangerTrustedOnlyRefusedByCore(t *testing.T) {
	m, acc := newShell(t, &fakeDevice{events: make(chan hw.ButtonEvent)}, newFakeLog())
	if _, err := m.OpenPairing(0); err != nil { // so that strangers are served
		t.Fatal(err)
	}
	requests := []control.Message{
		control.StreamStart{Session: "s", Kind: control.StreamAudio},
		control.WebRTCOffer{Session: "s", SDP: "v=0"},
		control.InfoRequest{},
		control.WebRTCICE{Session: "s", Candidate: "candidate:1 1 udp 1 192.0.2.9 9 typ host"},
		control.StreamStop{Session: "s"},
		control.PairOpen{},
		control.PairClose{},
		control.HistoryRequest{FromMillis: 0, ToMillis: 1 << 40},
	}
	for i, req := range requests {
		c := newFakeConn(uint64(i+1), pfp(byte(i+1)), false)
		acc <- c
		if ack, ok := c.next(t).(control.HelloAck); !ok || ack.Trusted {
			t.Fatalf("welcome %+v", ack)
		}
		if req.MessageType() == control.TypeWebRTCOffer {
			// Its stream_start first, as a listener would: refused too,
			// and the connection closes with it.
			c.in <- control.StreamStart{Session: "s", Kind: control.StreamAudio}
		} else {
			c.in <- req
		}
		msg, ok := c.next(t).(control.ErrorMsg)
		if !ok || msg.Code != control.CodeUntrusted.String() {
			t.Fatalf("a stranger's %s answered %+v, want untrusted", req.MessageType(), msg)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("the stranger that sent %s is still open", req.MessageType())
		}
		if got := fmt.Sprint(c.recorded()); !strings.HasPrefix(got, "[close untrusted") {
			t.Fatalf("a stranger's %s: %s", req.MessageType(), got)
		}
	}
	m.settle()
	var st control.Status
	_ = m.owner.run(func() { st = m.core.Status(st) })
	m.tracks.mu.Lock()
	pumping := m.tracks.stopA != nil || m.tracks.stopV != nil
	m.tracks.mu.Unlock()
	if st.Streaming != 0 || pumping || m.tracks.engine.Sessions() != 0 {
		t.Fatalf("something streams: %d sessions counted, pumps %v, %d peer connections", st.Streaming, pumping, m.tracks.engine.Sessions())
	}
}
