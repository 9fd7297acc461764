package pake_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
)

// Example runs both roles in one process. In Cradle each side runs on its
// own device and the four messages travel on a pairing stream of the QUIC
// connection whose exporter value is Binding.
func Example() {
	params := pake.Params{
		Code:       "31415926", // typed by the parent, shown by the monitor
		ListenerID: sha256.Sum256([]byte("listener certificate key")),
		MonitorID:  sha256.Sum256([]byte("monitor certificate key")),
		// Both sides: conn.ConnectionState().TLS.ExportKeyingMaterial(
		//     pake.ExporterLabel, nil, pake.BindingSize)
		Binding: bytes.Repeat([]byte{0x42}, pake.BindingSize),
	}
	listener, err := pake.NewInitiator(params, nil)
	if err != nil {
		panic(err)
	}
	monitor, err := pake.NewResponder(params, nil)
	if err != nil {
		panic(err)
	}

	pA, _ := listener.Start()                  // listener -> monitor
	pB, _ := monitor.Respond(pA)               // monitor -> listener
	cA, _ := listener.Finish(pB)               // listener -> monitor
	cB, monitorKey, err := monitor.Confirm(cA) // monitor -> listener, only if cA was right
	if err != nil {
		fmt.Println("monitor:", err)
		return
	}
	listenerKey, err := listener.Verify(cB)
	if err != nil {
		fmt.Println("listener:", err)
		return
	}
	fmt.Println(len(pA), len(pB), len(cA), len(cB), bytes.Equal(listenerKey, monitorKey))
	// Output: 65 65 32 32 true
}
