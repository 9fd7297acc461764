package webrelay

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOggLatency: the delay the Ogg stream adds on the server side,
// from the session receiving a monitor packet (MediaEvent.Arrived) to its
// page being flushed to the client's connection, over 3 s of streaming
// per iteration: median, p99 and max in microseconds.
func BenchmarkOggLatency(b *testing.B) {
	sess := setup(b)
	var mu sync.Mutex
	var lat []time.Duration
	onFlush := func(arrived []time.Time, flushed time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range arrived {
			lat = append(lat, flushed.Sub(a))
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = serveOgg(r.Context(), w, sess, onFlush)
	}))
	defer srv.Close()
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no packet passed through")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(len(lat))/float64(b.N), "packets/op")
}

// BenchmarkRelayPeerCPU: the process CPU per extra relayed peer (relay
// and, in this one process, the browser's receiving side too), from 3 s
// with 1 peer against 3 s with 5: percent of one core per peer.
func BenchmarkRelayPeerCPU(b *testing.B) {
	sess := setup(b)
	r := newRelay(b, Config{})
	measure := func(peers int) time.Duration {
		var bs []*browser
		for range peers {
			br, err := newBrowser(b, r, sess, nil)
			if err != nil {
				b.Fatal(err)
			}
			bs = append(bs, br)
		}
		for _, br := range bs {
			br.decode(100 * time.Millisecond) // connected
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, br := range bs { // keep draining, as a page would play
			wg.Go(func() {
				for {
					select {
					case <-br.pkts:
					case <-stop:
						return
					}
				}
			})
		}
		before := cpu()
		time.Sleep(3 * time.Second) // a measurement window, not a wait for a condition
		used := cpu() - before
		close(stop)
		wg.Wait()
		for _, br := range bs {
			br.close()
		}
		eventually(b, 10*time.Second, "peers closed", func() bool { return r.Peers() == 0 })
		return used
	}
	b.ResetTimer()
	var per float64
	for range b.N {
		one := measure(1)
		five := measure(5)
		per = float64(five-one) / 4 / float64(3*time.Second) * 100
	}
	b.ReportMetric(per, "%core/peer")
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
