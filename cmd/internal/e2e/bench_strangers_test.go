package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// BenchmarkStrangerWrites measures what unpaired connections cost the
// SD card: the real cradled, its pairing window open, takes b.N
// connections from strangers on four addresses (each answered, then
// dropped), and the benchmark reports the bytes the process wrote to disk
// (/proc/PID/io write_bytes, what reaches the block layer)  per connection. Before issue 14 each one appended two durable
// events: about 34 KB and 2 fsyncs a connection (580 MB for 17,000).
func BenchmarkStrangerWrites(b *testing.B) {
	dir := b.TempDir()
	mon := startMonitor(b, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0")
	mon.admin(b, "pair", "--duration", "15m")
	pid := mon.cmd.Process.Pid
	ctx := context.Background()
	strangers := make([]*stranger, 4)
	for i := range strangers {
		strangers[i] = &stranger{dir: b.TempDir(), addr: mon.addr, from: &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(20+i))}}
		// A warm-up connection each (identities, first allocations).
		if c, _, err := strangers[i].dial(ctx); err == nil {
			c.Close(control.CodeNone, "")
		}
	}
	time.Sleep(200 * time.Millisecond)
	w0 := procWrites(b, pid)
	b.ResetTimer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i, s := range strangers {
		n := b.N / len(strangers)
		if i == 0 {
			n += b.N % len(strangers)
		}
		wg.Go(func() {
			for range n {
				c, _, err := s.dial(ctx)
				if err != nil {
					continue
				}
				c.Close(control.CodeNone, "")
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	time.Sleep(300 * time.Millisecond) // the last closes are handled
	w1 := procWrites(b, pid)
	b.ReportMetric(float64(w1-w0)/float64(b.N), "disk-B/conn")
	b.ReportMetric(float64(ok)/float64(b.N)*100, "served-%")
}

// procWrites is the bytes process pid caused to be written to storage.
func procWrites(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no write_bytes in /proc/PID/io")
	return 0
}
