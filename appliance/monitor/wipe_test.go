package monitor

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/hw"
)

// TestButtonWipe: the button held to the wipe threshold stops the monitor
// with ErrWiped and leaves the marker; the next Open is a new monitor
// (new identity, new setup code, an event log of its own), the listener
// trusted before is not, and the marker is gone.
func TestButtonWipe(t *testing.T) {
	dir := t.TempDir()
	m := openMonitor(t, dir, pairing.WindowConfig{})
	fp, code := m.Fingerprint(), m.SetupCode()
	m.OpenPairing(0)
	c, _ := pairedClient(t, m)
	if !m.Trusted(c.id.Fingerprint) {
		t.Fatal("the listener is not trusted")
	}
	seq := m.Store().State().Seq
	if err := m.step(Button{At: time.Now(), Event: hw.WipePress}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-m.Fatal():
		if !errors.Is(err, ErrWiped) {
			t.Fatalf("fatal %v, want ErrWiped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the monitor did not stop after the wipe")
	}
	if _, err := os.Stat(filepath.Join(dir, WipeMarker)); err != nil {
		t.Fatalf("no wipe marker: %v", err)
	}
	m.Close()

	n := openMonitor(t, dir, pairing.WindowConfig{})
	if n.Fingerprint() == fp {
		t.Error("the identity survived the wipe")
	}
	if n.SetupCode() == code {
		t.Error("the setup code survived the wipe")
	}
	if n.Trusted(c.id.Fingerprint) {
		t.Error("the listener is still trusted after the wipe")
	}
	if got := n.Store().State().Seq; got >= seq {
		t.Errorf("the event log has %d events after the wipe, %d before: its old events stayed", got, seq)
	}
	if _, err := os.Stat(filepath.Join(dir, WipeMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker stayed after the wipe: %v", err)
	}
}
