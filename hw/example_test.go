package hw_test

import (
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/hw"
)

func ExamplePatternFor() {
	for _, s := range []hw.State{
		{Booting: true},
		{},
		{Streaming: 2},
		{PairingOpen: true, Streaming: 1},
		{PairingOpen: true, Faults: hw.FaultNetwork},
		{ResetArmed: true, Faults: hw.FaultStore},
	} {
		fmt.Println(hw.PatternFor(s))
	}
	// Output:
	// booting
	// ready
	// streaming
	// pairing
	// error:network
	// reset
}

func ExamplePattern_LevelAt() {
	p := hw.PatternFor(hw.State{PairingOpen: true})
	for _, ms := range []int{0, 499, 500, 1000} {
		at := time.Duration(ms) * time.Millisecond
		fmt.Printf("%v lit=%t next change in %v\n", at, p.LevelAt(at), p.NextChange(at))
	}
	// Output:
	// 0s lit=true next change in 500ms
	// 499ms lit=true next change in 1ms
	// 500ms lit=false next change in 500ms
	// 1s lit=true next change in 500ms
}

func ExampleButton() {
	b := hw.NewButton(hw.Config{})
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	b.Input(false, at(0))         // released at start
	b.Input(true, at(1000))       // pressed
	b.Input(false, at(1004))      // a bounce
	b.Input(true, at(1008))       // settles pressed
	fmt.Println(b.Tick(at(1048))) // debounced: no event yet
	fmt.Println(b.Input(false, at(1500)), b.Tick(at(1540)))
	b.Input(true, at(5000)) // held
	for {
		next, ok := b.Deadline()
		if !ok {
			break
		}
		fmt.Println(next.Sub(at(5000)), b.Tick(next))
	}
	// Output:
	// []
	// [] [short-press]
	// 40ms []
	// 10s [long-press-reached long-press]
	// 30s [wipe-press]
}
