package monitor

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/hw"
)

// TestButtonOpensPairingAndLEDFollows: with periph's gpiotest pins, a
// short press pushed as edges opens the pairing window, and the LED shows
// the pairing pattern; closing the window returns it to ready. A long
// press is a factory reset.
func TestButtonOpensPairingAndLEDFollows(t *testing.T) {
	led := &gpiotest.Pin{N: "GPIO17", Num: 17}
	button := &gpiotest.Pin{N: "GPIO27", Num: 27, EdgesChan: make(chan gpio.Level)}
	cfg := hw.Config{LongPress: 3500 * time.Millisecond}
	panel, err := hw.New(led, button, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer panel.Close()
	m, err := Open(Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Device: panel, HW: cfg, limits: pairing.WindowConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFor(t, func() bool { return panel.Pattern().Name == hw.PatternReady.Name })

	button.EdgesChan <- gpio.Low
	time.Sleep(150 * time.Millisecond) // a finger on the button
	button.EdgesChan <- gpio.High
	waitFor(t, func() bool { return m.Status().Pairing.Open })
	waitFor(t, func() bool { return panel.Pattern().Name == hw.PatternPairing.Name })

	m.ClosePairing()
	waitFor(t, func() bool { return panel.Pattern().Name == hw.PatternReady.Name })

	// Long press: a trusted listener is forgotten.
	_, conn := pairedClient(t, m)
	button.EdgesChan <- gpio.Low
	waitFor(t, func() bool { return len(m.Listeners()) == 0 })
	button.EdgesChan <- gpio.High
	<-conn.Done()
}
