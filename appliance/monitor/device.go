package monitor

import (
	"context"
	"net"
	"time"

	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/media"
)

// The front panel's shell: the button's presses and the health the LED
// shows (store, network, microphone), probed here and handed to the core
// (frontPanel decides what the LED shows; the applier's panel worker
// writes it).

// noMicrophone reports whether the microphone is at fault: the monitor is
// meant to hear the baby (not the test mode) but has no real microphone
// (auto mode fell back to the test tone), or the Hub's capture delivers
// nothing (the microphone was unplugged, its reads fail or hang, or it is
// not plugged in yet: media.Hub.MicrophoneFault, within about a second).
func (m *Monitor) noMicrophone() bool {
	fault, _ := m.hub.MicrophoneFault()
	return fault || (m.cfg.Media != media.ModeTest && m.hub.SyntheticAudio())
}

// SoundSource says, for a parent, what the monitor listens with: the
// microphone, or the test tone and why (chosen, or no microphone found).
func (m *Monitor) SoundSource() string {
	switch {
	case m.cfg.Media == media.ModeTest:
		return "no microphone: a " + m.hub.AudioSource() + " instead, on purpose (--media test: a demo or a test, no microphone fault)"
	case m.hub.SyntheticAudio():
		return "no microphone found: a " + m.hub.AudioSource() + " instead, and the LED and the listeners show the microphone fault until one is plugged in (it is then used within about 2 s)"
	default:
		return "the microphone, " + m.hub.AudioSource() + " (if it is unplugged or fails, the LED and the listeners show the microphone fault until it is back)"
	}
}

// mediaChanged tells the core whether the microphone is missing (the
// LED's fault).
func (m *Monitor) mediaChanged() {
	_ = m.step(Media{NoMic: m.noMicrophone()})
}

// serveMicrophone tells the core at once when the Hub's microphone fault
// rises or clears, so the LED follows within the Hub's second rather than
// at the next health check.
func (m *Monitor) serveMicrophone(ctx context.Context) error {
	for {
		_, changed := m.hub.MicrophoneFault()
		m.mediaChanged()
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// checkHealth tells the core whether the store answers and the network
// has an address (the LED's faults). It reads the store and scans the
// interfaces: watchHealth calls it every few seconds, off any callback.
func (m *Monitor) checkHealth() {
	_ = m.step(Health{StoreOK: m.Healthy() == nil, Network: hasNetwork()})
	m.mediaChanged()
}

// hasNetwork reports whether an interface other than loopback is up with
// an address.
func hasNetwork() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if addrs, err := ifc.Addrs(); err == nil && len(addrs) > 0 {
			return true
		}
	}
	return false
}

// serveHealth checks the health every few seconds, for the faults that
// arrive without an event (network gone, store failing).
func (m *Monitor) serveHealth(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.checkHealth()
		}
	}
}

// serveButtons turns button presses into actions: a short press opens
// the pairing window, a long press is a factory reset.
func (m *Monitor) serveButtons(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-m.cfg.Device.Events():
			if !ok {
				return nil
			}
			switch ev {
			case hw.LongPress:
				m.log.Warn("button: factory reset (forget the listeners)")
			case hw.WipePress:
				m.log.Warn("button: wipe (giving the monitor away)")
			}
			if err := m.step(Button{At: m.now(), Event: ev}); err != nil {
				m.log.Warn("button: cannot open the pairing window", "err", err)
			}
		}
	}
}
