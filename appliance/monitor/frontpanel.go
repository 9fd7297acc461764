package monitor

import "github.com/cradle-monitor/cradle/hw"

// frontPanel decides what the LED shows: the pairing window, the running
// sessions and the faults (store, microphone, network). It is a pure
// machine in the shape of pairing.Window; Core owns one and tells it the
// window and the sessions after every step.
//
// Rules:
//   - The health starts good (store answers, network up, microphone
//     present) until told otherwise (health, media).
//   - The state is hw.State: PairingOpen, Streaming (the running
//     sessions) and the faults; hw.PatternFor picks the pattern.
//   - show returns an LED effect only when the state changed since the
//     last one shown, and never on a monitor without a device.
type frontPanel struct {
	device    bool // a device shows the state: emit LED effects
	noMic     bool
	storeBad  bool
	noNetwork bool
	shown     bool     // an LED effect was made
	last      hw.State // the last one made
}

// media records whether the microphone is missing.
func (f *frontPanel) media(noMic bool) { f.noMic = noMic }

// health records whether the store answers and the network has an address.
func (f *frontPanel) health(storeOK, network bool) { f.storeBad, f.noNetwork = !storeOK, !network }

// state is what the LED shows with the window open or not and streaming
// sessions running.
func (f *frontPanel) state(pairingOpen bool, streaming int) hw.State {
	st := hw.State{PairingOpen: pairingOpen, Streaming: streaming}
	if f.storeBad {
		st.Faults |= hw.FaultStore
	}
	if f.noMic {
		st.Faults |= hw.FaultMicrophone
	}
	if f.noNetwork {
		st.Faults |= hw.FaultNetwork
	}
	return st
}

// show appends an LED effect to eff when the state changed.
func (f *frontPanel) show(eff []Effect, pairingOpen bool, streaming int) []Effect {
	if !f.device {
		return eff
	}
	st := f.state(pairingOpen, streaming)
	if f.shown && st == f.last {
		return eff
	}
	f.last, f.shown = st, true
	return append(eff, LED{State: st})
}
