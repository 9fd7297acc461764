package pairing_test

import (
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// The owner of a Window turns its effects into actions.
func ExampleWindow() {
	start := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	w := pairing.NewWindow(pairing.WindowConfig{}, 0) // no failures recorded yet
	apply := func(effs []pairing.Effect) {
		for _, e := range effs {
			switch e := e.(type) {
			case pairing.WindowOpened:
				fmt.Println("advertise pairing until", e.Until.Sub(start))
			case pairing.WindowClosed:
				fmt.Println("stop advertising:", e.Reason)
			case pairing.SessionStarted:
				fmt.Println("run the PAKE with connection", e.Conn)
			case pairing.AttemptFailed:
				fmt.Println("wrong code", e.WindowFailures, "of 20: tell connection", e.Conn, "and the parents")
			case pairing.Paired:
				fmt.Println("trust connection", e.Conn)
			}
		}
	}
	effs, _ := w.Open(start, 0) // the button was pressed
	apply(effs)
	effs, _ = w.Begin(start.Add(20*time.Second), 1, "192.168.1.23")
	apply(effs)
	apply(w.Fail(start.Add(25*time.Second), 1, "wrong code"))
	effs, err := w.Begin(start.Add(26*time.Second), 2, "192.168.1.42")
	apply(effs)
	if err == nil {
		effs, _ = w.Succeed(start.Add(30*time.Second), 2)
		apply(effs)
	}
	// Output:
	// advertise pairing until 3m0s
	// run the PAKE with connection 1
	// wrong code 1 of 20: tell connection 1 and the parents
	// run the PAKE with connection 2
	// trust connection 2
	// stop advertising: success
}
