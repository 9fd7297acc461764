package monitor

import (
	"context"
	"net"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store"
)

// startStatus starts, once per connection, the goroutine that sends the
// sound level to a trusted listener (every level interval, whether or not
// it streams). The microphone runs while any such goroutine does.
func (m *Monitor) startStatus(p *peer) {
	p.status.Do(func() {
		sub, err := m.hub.SubscribeLevels()
		if err != nil {
			m.log.Error("no sound level for this listener", "conn", p.conn.ID(), "err", err)
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer sub.Close()
			for {
				select {
				case <-p.conn.Done():
					return
				case <-m.ctx.Done():
					return
				case lvl, ok := <-sub.C():
					if !ok {
						return
					}
					st := control.Status{RMSDBFS: lvl.RMSDBFS, PeakDBFS: lvl.PeakDBFS, Noise: lvl.Noise, Listeners: m.trustedCount(), Streaming: m.streams.streaming()}
					ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Heartbeat.WithDefaults().Interval)
					err := p.conn.Send(ctx, st)
					cancel()
					if err != nil && p.conn.Err() != nil {
						return
					}
				}
			}
		}()
	})
}

func (m *Monitor) trustedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.peers {
		if p.conn.Trusted() {
			n++
		}
	}
	return n
}

// updateLED shows the monitor's state on the LED.
func (m *Monitor) updateLED() {
	if m.cfg.Device == nil {
		return
	}
	m.mu.Lock()
	open := m.window.Status().Open
	m.mu.Unlock()
	st := hw.State{PairingOpen: open}
	if m.streams != nil {
		st.Streaming = m.streams.streaming()
	}
	if m.Healthy() != nil {
		st.Faults |= hw.FaultStore
	}
	// A monitor meant to hear the baby (not the test mode) shows a missing
	// microphone, and a missing network, on its LED.
	if m.cfg.Media != media.ModeTest && m.hub.SyntheticAudio() {
		st.Faults |= hw.FaultMicrophone
	}
	if !hasNetwork() {
		st.Faults |= hw.FaultNetwork
	}
	m.cfg.Device.SetState(st)
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

// watchHealth refreshes the LED every few seconds, for the faults that
// arrive without an event (network gone, store failing).
func (m *Monitor) watchHealth() {
	defer m.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.updateLED()
		}
	}
}

// buttons turns button presses into actions: a short press opens the
// pairing window, a long press is a factory reset.
func (m *Monitor) buttons() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case ev, ok := <-m.cfg.Device.Events():
			if !ok {
				return
			}
			switch ev {
			case hw.ShortPress:
				if _, err := m.OpenPairing(0); err != nil {
					m.log.Warn("button: cannot open the pairing window", "err", err)
				}
			case hw.LongPress:
				m.log.Warn("button: factory reset")
				if err := m.FactoryReset(m.ctx); err != nil {
					m.log.Error("factory reset failed", "err", err)
				}
			}
		}
	}
}

// FactoryReset forgets every listener and clears the failure counter.
func (m *Monitor) FactoryReset(ctx context.Context) error {
	_, err := m.st.Append(ctx, store.TrustReset{Reason: "factory reset"})
	return err
}
