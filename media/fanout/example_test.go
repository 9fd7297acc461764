package fanout_test

import (
	"context"
	"fmt"

	"github.com/cradle-monitor/cradle/media/fanout"
)

type event struct {
	what  string
	media bool
}

// A reader that fell behind loses its oldest media, never the alarm.
func Example() {
	f := fanout.New(func(e event) bool { return e.media })
	sub := f.Subscribe(3)
	defer sub.Close()

	f.Publish(event{what: "alarm raised"})
	for i := range 4 {
		f.Publish(event{what: fmt.Sprint("audio ", i), media: true})
	}
	f.Close(nil)

	for {
		e, err := sub.Next(context.Background())
		if err != nil {
			break
		}
		fmt.Println(e.what)
	}
	fmt.Println("dropped", sub.Dropped())
	// Output:
	// alarm raised
	// audio 2
	// audio 3
	// dropped 2
}
