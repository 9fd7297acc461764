package alarm_test

import (
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
)

// The owner of a Machine turns its effects into sound and a banner.
func ExampleMachine() {
	start := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	m := alarm.New(alarm.Config{}) // the defaults: 400 ms gap, 5 s grace, 5 min reminder
	apply := func(effs []alarm.Effect) {
		for _, e := range effs {
			switch e := e.(type) {
			case alarm.AlarmChanged:
				switch st := e.State; {
				case !st.Active:
					fmt.Println("stop the alarm, hide the banner")
				case st.Sounding:
					fmt.Printf("banner %q since %v, sound the alarm\n", st.Reason, st.Since.Sub(start))
				default:
					fmt.Printf("banner %q since %v, silent\n", st.Reason, st.Since.Sub(start))
				}
			case alarm.Chime:
				fmt.Println("chime at", e.At.Sub(start))
			}
		}
	}
	at := func(d time.Duration) time.Time { return start.Add(d) }

	apply(m.Listening(true, at(0))) // the parent listens
	apply(m.Online(at(0)))
	apply(m.StreamUp(at(time.Second)))
	for t := time.Second; t <= 2*time.Second; t += 10 * time.Millisecond {
		apply(m.Audio(at(t))) // packets flow: nothing to do
	}
	apply(m.Noise(true, at(2*time.Second)))
	for t := 2 * time.Second; t <= 3*time.Second; t += 50 * time.Millisecond {
		apply(m.Tick(at(t))) // the packets stopped at +2s
	}
	apply(m.Ack(at(3 * time.Second)))
	apply(m.Offline(at(4 * time.Second)))
	apply(m.Online(at(10 * time.Second)))
	apply(m.Audio(at(11 * time.Second)))
	// Output:
	// chime at 2s
	// banner "audio lost" since 2.4s, sound the alarm
	// banner "audio lost" since 2.4s, silent
	// banner "link lost" since 4s, sound the alarm
	// stop the alarm, hide the banner
}
