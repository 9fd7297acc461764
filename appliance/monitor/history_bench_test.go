package monitor

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/store/history"
	"github.com/cradle-monitor/cradle/store/history/historytest"
)

// fill30 writes 30 days of history, ending now, into dir's history.db.
func fill30(b *testing.B, dir string) time.Time {
	from := time.Now().Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour)
	db, err := history.Open(filepath.Join(dir, history.FileName), history.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := historytest.Fill(db, from, 30, historytest.Options{}); err != nil {
		b.Fatal(err)
	}
	return from
}

// BenchmarkOpenToReady: monitor.Open until it serves, with no history
// and with 30 days kept (goal: under 200 ms either way).
func BenchmarkOpenToReady(b *testing.B) {
	for _, days := range []int{0, 30} {
		name := "no-history"
		if days > 0 {
			name = "30-days"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
			if days > 0 {
				fill30(b, dir)
			}
			var runs []time.Duration
			for b.Loop() {
				start := time.Now()
				m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
				if err != nil {
					b.Fatal(err)
				}
				runs = append(runs, time.Since(start))
				b.StopTimer()
				m.Close()
				b.StartTimer()
			}
			sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
			b.ReportMetric(float64(runs[len(runs)/2].Microseconds())/1000, "ms-median")
		})
	}
}

// BenchmarkHistoryFetch30Days: a trusted listener reads 30 days of
// history over the control channel (QUIC on loopback), every page.
func BenchmarkHistoryFetch30Days(b *testing.B) {
	dir := b.TempDir()
	m, err := Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	from := fill30(b, dir)
	m, err = Open(Config{StateDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	l, mon := pairedListener(b, m, "bench")
	s := l.Start(mon, listener.SessionOptions{})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	to := from.Add(30 * 24 * time.Hour)
	for {
		if _, err := s.MonitorInfo(ctx); !errors.Is(err, listener.ErrOffline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, step := range []time.Duration{0, 30 * time.Minute} {
		b.Run("step="+step.String(), func(b *testing.B) {
			for b.Loop() {
				h, err := listener.FetchHistoryStep(ctx, s, from, to, step)
				if err != nil {
					b.Fatal(err)
				}
				if len(h.Minutes) < 1400 || len(h.Episodes) < 150 { // (the oldest hours are pruned at open)
					b.Fatalf("%d minutes, %d episodes", len(h.Minutes), len(h.Episodes))
				}
			}
		})
	}
}
