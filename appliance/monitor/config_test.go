package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{StateDir: "/var/lib/cradle"}.WithDefaults()
	if c.Listen != ":48080" || c.AdminSocket != "/var/lib/cradle/cradled.sock" || c.Name != "Nursery" ||
		c.PairingWindow != 3*time.Minute || c.AutoStream != control.StreamAudio || c.Media != media.ModeTest || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	set := Config{StateDir: "/s", Listen: "127.0.0.1:1", AdminSocket: "/run/x.sock", Name: "Lea", PairingWindow: time.Minute,
		AutoStream: "off", Media: media.ModeDevices}.WithDefaults()
	if set.Listen != "127.0.0.1:1" || set.AdminSocket != "/run/x.sock" || set.Name != "Lea" || set.PairingWindow != time.Minute ||
		set.AutoStream != "off" || set.Media != media.ModeDevices {
		t.Errorf("a set field was replaced: %+v", set)
	}
	if c := (Config{}).WithDefaults(); c.AdminSocket != "" {
		t.Errorf("no state dir, admin socket %q", c.AdminSocket)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{StateDir: "/s"}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" valid, else a part of the error
	}{
		{"defaults", func(*Config) {}, ""},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "state_dir"},
		{"a 15 min window", func(c *Config) { c.PairingWindow = 15 * time.Minute }, ""},
		{"a window over 15 min", func(c *Config) { c.PairingWindow = 15*time.Minute + time.Second }, "pairing_window"},
		{"a negative window", func(c *Config) { c.PairingWindow = -time.Second }, "pairing_window"},
		{"auto_stream off", func(c *Config) { c.AutoStream = "off" }, ""},
		{"auto_stream video", func(c *Config) { c.AutoStream = control.StreamAudioVideo }, ""},
		{"auto_stream nonsense", func(c *Config) { c.AutoStream = "video" }, "auto_stream"},
		{"a 64-byte name", func(c *Config) { c.Name = strings.Repeat("n", 64) }, ""},
		{"a 65-byte name", func(c *Config) { c.Name = strings.Repeat("n", 65) }, "name"},
		{"media auto", func(c *Config) { c.Media = media.ModeAuto }, ""},
		{"media nonsense", func(c *Config) { c.Media = "webcam" }, "media"},
	} {
		c := ok
		tc.change(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
}

// TestIdentityAndCodeRecordedOnce: the first start records the identity
// and the setup code's generation; a restart records neither again.
func TestIdentityAndCodeRecordedOnce(t *testing.T) {
	dir := t.TempDir()
	count := func(m *Monitor) map[store.Type]int {
		t.Helper()
		n := map[store.Type]int{}
		if err := m.st.Events(0, func(e store.Event) error { n[e.Type]++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for start := range 2 {
		m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		n := count(m)
		m.Close()
		if n[store.TypeIdentityCreated] != 1 || n[store.TypeSetupCodeSet] != 1 {
			t.Fatalf("start %d: %d identity-created and %d setup-code-set events, want 1 of each", start+1, n[store.TypeIdentityCreated], n[store.TypeSetupCodeSet])
		}
	}
}

// TestDefaultVideoCodec: without a choice in the WebRTC configuration the
// shared video track is VP8, which every browser decodes.
func TestDefaultVideoCodec(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	if got := m.tracks.video.Codec().MimeType; got != webrtc.MimeTypeVP8 {
		t.Errorf("video track %q, want %q", got, webrtc.MimeTypeVP8)
	}
}

// TestCloseReleasesMedia: Close turns the capture off, whoever still
// holds a subscription, and stops the shared tracks' pumps.
func TestCloseReleasesMedia(t *testing.T) {
	m := openMonitor(t, t.TempDir(), pairing.WindowConfig{})
	levels, err := m.hub.SubscribeLevels()
	if err != nil {
		t.Fatal(err)
	}
	defer levels.Close()
	if err := m.tracks.set(Pumps{Audio: true}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := levels.Err(); !errors.Is(err, media.ErrClosed) {
		t.Errorf("a level subscription after Close: %v, want media.ErrClosed", err)
	}
	// The pump ends with its subscription; goleak checks after the tests.
}
