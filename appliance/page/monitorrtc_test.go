package page

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/page/pagetest"
)

var tabRE = regexp.MustCompile(`"type":"hello","tab":"([0-9a-f]+)"`)

// TestMonitorPageWebRTC: a phone's offer on the monitor's page is answered
// by the monitor itself (one peer connection, monitor to phone) and its
// audio arrives; when another phone removes it, its audio stops within 1 s
// from the server's side (the page's hold ends with its event stream and
// the monitor closes the phone's connection; package monitor tests the
// latter alone), not because the phone stops playing.
func TestMonitorPageWebRTC(t *testing.T) {
	mon := newMonitor(t)
	p := startMonitorPage(t, mon)
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	code := string(mon.SetupCode())
	a := p.phone(t, "127.0.0.2")
	if resp := a.pair("Bedside phone", code); resp.StatusCode != http.StatusOK {
		t.Fatalf("pair: %s", resp.Status)
	}
	me := a.me()
	_, ev := a.open("/api/events")
	var tab string
	deadline := time.After(5 * time.Second)
	var seen []byte
	for tab == "" {
		select {
		case b := <-ev:
			seen = append(seen, b...)
			if m := tabRE.FindSubmatch(seen); m != nil {
				tab = string(m[1])
			}
		case <-deadline:
			t.Fatal("no hello on the event stream")
		}
	}
	id := mon.Fingerprint().DeviceID()

	rx := pagetest.NewReceiver(t)
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/listen", `{"tab":"`+tab+`"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("listen: %s %+v", resp.Status, problemOf(t, resp))
	}
	body, _ := json.Marshal(map[string]any{"tab": tab, "sdp": rx.Offer()})
	resp := a.do(http.MethodPost, "/api/monitors/"+id+"/offer", string(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("offer: %s %+v", resp.Status, problemOf(t, resp))
	}
	var ans struct{ SDP string }
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	if err := rx.Answer(ans.SDP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "audio from the monitor", func() bool { return rx.Packets() >= 50 })
	// The monitor tells every trusted connection of each pairing window
	// (and sends its status every second): far more messages than a
	// connection's queue holds. The phone's connection is read, so it is
	// not closed as a slow peer and the sound goes on.
	for range 100 {
		if _, err := mon.OpenPairing(0); err != nil {
			t.Fatal(err)
		}
		mon.ClosePairing()
	}
	before := rx.Packets()
	waitFor(t, 3*time.Second, "audio still flowing after many notices", func() bool { return rx.Packets() >= before+50 })

	b := p.phone(t, "127.0.0.3")
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if resp := b.pair("Kitchen tablet", code); resp.StatusCode != http.StatusOK {
		t.Fatalf("second phone: %s", resp.Status)
	}
	if resp := b.do(http.MethodPost, "/api/devices/"+me.ID+"/revoke", "{}"); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", resp.Status)
	}
	revoked := time.Now()
	// The test's own peer connection stays open: only the server can
	// stop the audio.
	waitFor(t, time.Second, "the removed phone's audio stopped", func() bool {
		return time.Since(rx.LastPacket()) > 200*time.Millisecond
	})
	t.Logf("audio stopped %v after the removal (last packet %v after it)", time.Since(revoked).Round(time.Millisecond), rx.LastPacket().Sub(revoked).Round(time.Millisecond))
}
