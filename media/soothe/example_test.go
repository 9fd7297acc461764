package soothe_test

import (
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/soothe"
)

// A speaker at its default ceiling plays pink noise for a moment, then
// fades it out; nothing it played peaks above the ceiling.
func Example() {
	sink := play.NewTestSink(0) // a sound card in a test
	spk, _ := soothe.NewSpeaker(sink, soothe.DefaultCeiling)
	defer spk.Close()
	src, _ := soothe.New(soothe.Pink, 1)
	st, _ := spk.Play(src)
	<-sink.Wait(soothe.Rate / 10)
	st.FadeOut(100 * time.Millisecond)
	<-st.Done()
	peak := 0
	for _, v := range sink.Played() {
		peak = max(peak, int(v), -int(v))
	}
	fmt.Println("faded out:", !spk.Playing())
	fmt.Println("under the ceiling:", float64(peak) <= soothe.DefaultCeiling*32767)
	// Output:
	// faded out: true
	// under the ceiling: true
}
