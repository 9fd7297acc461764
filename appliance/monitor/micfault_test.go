package monitor

import (
	"context"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/mediatest"
)

// untilStatus reads statuses on conn until one satisfies ok, and returns
// how long that took; it fails the test after limit.
func untilStatus(t *testing.T, conn *transport.Conn, limit time.Duration, ok func(control.Status) bool) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		msg, err := conn.Recv(ctx)
		if err != nil {
			t.Fatalf("no such status within %v: %v", limit, err)
		}
		if st, is := msg.(control.Status); is && ok(st) {
			return time.Since(start)
		}
	}
}

func micFault(st control.Status) bool {
	return slices.Equal(st.Faults, []string{control.FaultMicrophone})
}

// waitPattern waits up to limit for the LED to show the named pattern and
// returns how long that took.
func waitPattern(t *testing.T, panel *hw.Panel, name string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for panel.Pattern().Name != name {
		if time.Since(start) > limit {
			t.Fatalf("the LED shows %q, not %q, after %v", panel.Pattern().Name, name, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestMicrophonePulledOut: a monitor with a listener connected; its
// microphone is pulled out: within 2 s the status carries the microphone
// fault and the LED shows it; plugged back, within 10 s the status carries
// the sound again without the fault and the LED is back, with no restart
// and on the same connection.
func TestMicrophonePulledOut(t *testing.T) {
	led := &gpiotest.Pin{N: "GPIO17", Num: 17}
	button := &gpiotest.Pin{N: "GPIO27", Num: 27, EdgesChan: make(chan gpio.Level)}
	panel, err := hw.New(led, button, hw.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer panel.Close()
	mic := mediatest.NewMic(440, 0.25)
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Media: media.ModeDevices,
		Device: panel, Sources: &media.Sources{Audio: mic}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	conn := trustedConn(t, m)
	untilStatus(t, conn, 5*time.Second, func(st control.Status) bool { return isTone(st) && st.Faults == nil })
	ready := panel.Pattern().Name
	if ready != hw.PatternReady.Name {
		t.Fatalf("the LED shows %q with the microphone in", ready)
	}

	mic.PullOut()
	statusAfter := untilStatus(t, conn, 2*time.Second, micFault)
	ledAfter := waitPattern(t, panel, "error:microphone", 2*time.Second-statusAfter) + statusAfter
	t.Logf("pulled out: the status has the fault after %v, the LED after %v", statusAfter.Round(time.Millisecond), ledAfter.Round(time.Millisecond))
	if !m.noMicrophone() {
		t.Fatal("noMicrophone is false with the microphone out")
	}

	time.Sleep(3 * time.Second) // a while without it
	mic.PlugIn()
	back := time.Now()
	untilStatus(t, conn, 10*time.Second, func(st control.Status) bool { return isTone(st) && st.Faults == nil })
	statusBack := time.Since(back)
	ledBack := waitPattern(t, panel, ready, 10*time.Second-statusBack) + statusBack
	t.Logf("plugged back: the status has the sound and no fault after %v, the LED after %v", statusBack.Round(time.Millisecond), ledBack.Round(time.Millisecond))
	if st := m.hub.Stats(); st.MicStarts != 1 || st.MicFaults != 1 {
		t.Fatalf("hub stats %+v", st)
	}
}

// TestStatusTestModeNoFault and TestStatusAutoWithoutMicrophone: the test
// mode's tone is chosen, not a fault (the demo); auto mode that fell back
// to the tone is a monitor without its microphone: the fault, from the
// first status.
func TestStatusAutoWithoutMicrophone(t *testing.T) {
	for _, tc := range []struct {
		mode  media.Mode
		fault bool
	}{{media.ModeTest, false}, {media.ModeAuto, true}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			// Auto mode's fallback: the tone where a microphone should be.
			src := &media.Sources{Audio: media.NewToneSource(440, 0.25)}
			m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Media: tc.mode, Sources: src})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			conn := trustedConn(t, m)
			sts := collectStatuses(t, conn, 1500*time.Millisecond)
			if len(sts) < 5 {
				t.Fatalf("%d statuses", len(sts))
			}
			for i, st := range sts {
				if micFault(st.Status) != tc.fault {
					t.Errorf("status %d: faults %q, want the microphone fault %v", i, st.Faults, tc.fault)
				}
			}
			if m.noMicrophone() != tc.fault {
				t.Errorf("noMicrophone = %v", !tc.fault)
			}
		})
	}
}
