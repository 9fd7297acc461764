package transport

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
)

// TestFlood measures what a flood of strangers costs the server: a child
// process (this test binary again) opens connections from 64 goroutines
// for floodFor, and this process samples its heap in use and goroutines
// while a trusted listener stays connected. Modes: "handshake" (finish
// the QUIC handshake, then nothing), "loris" (open the stream, announce
// a 64 KiB frame, send one byte of it, then nothing). It is slow, so it
// runs only with TRANSPORT_FLOOD=1; its figures are a log line (go test
// -v -run TestFlood), not assertions, except that the trusted listener
// keeps its heartbeat.
func TestFlood(t *testing.T) {
	if mode := os.Getenv("TRANSPORT_FLOOD_CHILD"); mode != "" {
		floodChild(t, mode, os.Getenv("TRANSPORT_FLOOD_ADDR"))
		return
	}
	if os.Getenv("TRANSPORT_FLOOD") == "" {
		t.Skip("set TRANSPORT_FLOOD=1 to run the flood measurement")
	}
	for _, mode := range []string{"handshake", "loris"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, newAllowSet(listenerID(t).Fingerprint), testConfig(t)) // the default limits
			cc, sc := pair(t, h, testConfig(t))
			ctx := testCtx(t)
			var served sync.WaitGroup
			served.Go(func() {
				for {
					if _, err := sc.Recv(ctx); err != nil {
						return
					}
				}
			})
			defer served.Wait()
			defer sc.Close(control.CodeNone, "")
			var accepted sync.WaitGroup // strangers that did send a hello: none here
			defer accepted.Wait()

			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			baseHeap, baseG := ms.HeapInuse, runtime.NumGoroutine()

			cmd := exec.Command(os.Args[0], "-test.run=^TestFlood$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TRANSPORT_FLOOD_CHILD="+mode, "TRANSPORT_FLOOD_ADDR="+h.addr())
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var report string
			var reading sync.WaitGroup
			reading.Go(func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "flood:") {
						report = sc.Text()
					}
				}
			})
			var peakHeap, peakRSS uint64
			baseRSS := vmRSS()
			peakG := 0
			exited := make(chan error, 1)
			go func() { reading.Wait(); exited <- cmd.Wait() }()
			start := time.Now()
		sample:
			for {
				runtime.ReadMemStats(&ms)
				peakHeap = max(peakHeap, ms.HeapInuse)
				peakRSS = max(peakRSS, vmRSS())
				peakG = max(peakG, runtime.NumGoroutine())
				select {
				case err := <-exited:
					if err != nil {
						t.Fatalf("flood child: %v", err)
					}
					break sample
				case <-time.After(50 * time.Millisecond):
				}
			}
			floodTime := time.Since(start)
			// Let the server drop what the strangers left.
			settle := time.Now().Add(15 * time.Second)
			for runtime.NumGoroutine() > baseG && time.Now().Before(settle) {
				time.Sleep(100 * time.Millisecond)
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			st := cc.Stats()
			select {
			case <-cc.Done():
				t.Errorf("the trusted listener was disconnected: %v", cc.Err())
			default:
			}
			if st.Missed > 1 || st.Dead {
				t.Errorf("the trusted listener's heartbeat was disturbed: %+v", st)
			}
			t.Logf("%s (%v): heap in use %.1f MB before, peak %.1f MB, %.1f MB after; RSS %.1f MB before, peak %.1f MB, %.1f MB after; goroutines %d before, peak %d, %d after; trusted listener: %d pings sent, %d missed",
				report, floodTime.Round(100*time.Millisecond), mb(baseHeap), mb(peakHeap), mb(ms.HeapInuse),
				mb(baseRSS), mb(peakRSS), mb(vmRSS()),
				baseG, peakG, runtime.NumGoroutine(), st.Sent, st.Missed)
		})
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// vmRSS is this process's resident set in bytes (Linux), 0 if unknown:
// the server and the trusted listener, not the flooding child.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// floodFor is how long the child floods.
const floodFor = 4 * time.Second

// floodChild is the attacker: it dials addr from 64 goroutines until
// floodFor passed, keeps every connection it gets (and does with it what
// mode says), then prints what it did and closes them.
func floodChild(t *testing.T, mode, addr string) {
	id := newIdentity(t, "listener", "flood")
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	defer func() {
		tr.Close()
		udp.Close()
	}()
	tlsConf := id.ClientTLS(identity.Fingerprint{}, ALPN) // any monitor: this process has other identities
	var attempts, completed atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var kept []*quic.Conn
	deadline := time.Now().Add(floodFor)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				attempts.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				qc, err := tr.Dial(ctx, raddr, tlsConf, &quic.Config{MaxIdleTimeout: 30 * time.Second})
				cancel()
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				completed.Add(1)
				if mode == "loris" {
					if st, err := qc.OpenStream(); err == nil {
						st.Write(append(header(control.MaxFrame), '{'))
					}
				}
				mu.Lock()
				kept = append(kept, qc)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("flood: %s, %d attempts, %d handshakes completed (%.0f/s; first error: %v)\n",
		mode, attempts.Load(), completed.Load(), float64(attempts.Load())/floodFor.Seconds(), firstErr.Load())
	for _, qc := range kept {
		qc.CloseWithError(0, "")
	}
}
