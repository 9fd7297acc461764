package hw

import (
	"math/bits"
	"strconv"
	"strings"
)

// State is what the appliance tells the front panel; PatternFor turns it
// into the LED pattern.
type State struct {
	Booting     bool  // starting up: store, identity, network not ready yet
	PairingOpen bool  // the pairing window is open
	Streaming   int   // listeners receiving audio or video right now
	Faults      Fault // set of current faults; any one shows the error pattern
	ResetArmed  bool  // a factory reset was asked for and is running
	WipeArmed   bool  // a wipe (giving the monitor away) was asked for
}

// Fault is a set of faults the LED reports, as bits.
type Fault uint8

// Faults, in the order of their blink codes: the LED blinks FaultMicrophone
// once, FaultStore twice and FaultNetwork three times per cycle. With
// several faults the lowest code shows.
const (
	FaultMicrophone Fault = 1 << iota // no microphone, or it stopped
	FaultStore                        // the event store cannot be written
	FaultNetwork                      // no network address to serve on
)

var faultNames = []string{"microphone", "store", "network"}

// Has reports whether f contains every fault in g.
func (f Fault) Has(g Fault) bool { return f&g == g }

// Code returns the blink code of the first fault in f (1 for
// FaultMicrophone, 2, 3, ...), or 0 when f is empty.
func (f Fault) Code() int {
	if f == 0 {
		return 0
	}
	return bits.TrailingZeros8(uint8(f)) + 1
}

// String returns the fault names joined by "+", e.g. "microphone+network",
// or "none".
func (f Fault) String() string {
	if f == 0 {
		return "none"
	}
	var names []string
	for i := range 8 {
		if f&(1<<i) == 0 {
			continue
		}
		if i < len(faultNames) {
			names = append(names, faultNames[i])
		} else {
			names = append(names, "fault"+strconv.Itoa(i+1))
		}
	}
	return strings.Join(names, "+")
}
