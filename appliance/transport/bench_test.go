package transport

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// reportMedian adds the median of ds as a metric.
func reportMedian(b *testing.B, ds []time.Duration, unit string, scale time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(scale), unit)
}

// BenchmarkDial measures Dial up to the HelloAck on loopback (goal: median
// at most 3 ms).
func BenchmarkDial(b *testing.B) {
	h := newHarness(b, newAllowSet(listenerID(b).Fingerprint), Config{})
	mon, lis := monitorID(b), listenerID(b)
	ctx := context.Background()
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		c, _, err := Dial(ctx, h.addr(), lis, mon.Fingerprint, testHello("bench"), Config{})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		b.StopTimer()
		c.Close(control.CodeNone, "")
		(<-h.conns).Close(control.CodeNone, "")
		b.StartTimer()
	}
	reportMedian(b, ds, "ms-median", time.Millisecond)
}

// BenchmarkRoundTrip measures one application message to the monitor and
// its echo back, through Send and Recv on both sides (goal: 100 µs).
func BenchmarkRoundTrip(b *testing.B) {
	h := newHarness(b, newAllowSet(listenerID(b).Fingerprint), Config{})
	cc, sc := pair(b, h, Config{})
	ctx := context.Background()
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		for {
			m, err := sc.Recv(ctx)
			if err != nil || sc.Send(ctx, m) != nil {
				return
			}
		}
	}()
	ping := control.StreamStop{Session: "rtt"}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := cc.Send(ctx, ping); err != nil {
			b.Fatal(err)
		}
		if _, err := cc.Recv(ctx); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	sc.Close(control.CodeNone, "")
	<-echoed
	reportMedian(b, ds, "µs-median", time.Microsecond)
}

// BenchmarkThroughput measures 100-byte messages one way, listener to
// monitor (goal: 100k msg/s).
func BenchmarkThroughput(b *testing.B) {
	h := newHarness(b, newAllowSet(listenerID(b).Fingerprint), Config{})
	cc, sc := pair(b, h, Config{})
	ctx := context.Background()
	m := control.StreamStop{Session: "s", Reason: "x"}
	enc, _ := control.Encode(m)
	m.Reason = strings.Repeat("x", 100-len(enc)+1)
	if enc, _ = control.Encode(m); len(enc) != 100 {
		b.Fatalf("message is %d bytes", len(enc))
	}
	b.SetBytes(100)
	recvd := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func(total int) {
		for range total {
			if _, err := sc.Recv(ctx); err != nil {
				recvd <- err
				return
			}
		}
		recvd <- nil
	}(b.N)
	for range b.N {
		if err := cc.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-recvd; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
