package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var benchPayload = ConnectionOpened{ConnID: "c-0123456789", Fingerprint: fp(7), Remote: "192.168.1.23:52344"}

// BenchmarkAppend measures one durable (fsynced) Append of one event.
func BenchmarkAppend(b *testing.B) {
	s := openTest(b, "", Options{})
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Append(ctx, benchPayload); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "median-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAppendBatch100 measures one Append of 100 events (one
// transaction, one fsync pair). For comparison: the same without fsync
// (the store's CPU cost), and raw bbolt Updates of 100 puts of the same
// records (the disk's limit).
func BenchmarkAppendBatch100(b *testing.B) {
	ps := make([]Payload, 100)
	for i := range ps {
		ps[i] = benchPayload
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{{"durable", Options{}}, {"nosync", Options{noSync: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := openTest(b, "", bc.opts)
			for b.Loop() {
				if _, err := s.Append(context.Background(), ps...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	b.Run("bbolt-baseline", func(b *testing.B) {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "baseline.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		rec := encodeRecord(Event{Type: benchPayload.EventType(), Version: 1}, benchPayload)
		var seq uint64
		for b.Loop() {
			err := db.Update(func(tx *bolt.Tx) error {
				events, err := tx.CreateBucketIfNotExists(bucketEvents)
				if err != nil {
					return err
				}
				for range 100 {
					seq++
					if err := events.Put(seqKey(seq), rec); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkAppendConcurrent100 measures a burst of 100 concurrent
// single-event Appends, which the writer groups into few transactions.
func BenchmarkAppendConcurrent100(b *testing.B) {
	s := openTest(b, "", Options{})
	for b.Loop() {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				if _, err := s.Append(context.Background(), benchPayload); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
}

var bench1M struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// cleanupBench removes the 1M-event database, if a benchmark built one.
func cleanupBench() {
	if bench1M.dir != "" {
		os.RemoveAll(bench1M.dir)
	}
}

const benchEvents = 1_000_000

// build1M writes a store of benchEvents events (mostly connection events,
// one trust change in a hundred) in large transactions, with a snapshot
// 1000 events before the end. It runs once per test binary, and only
// from benchmarks.
func build1M(b *testing.B) string {
	bench1M.once.Do(func() {
		start := time.Now()
		bench1M.dir, bench1M.err = os.MkdirTemp("", "cradle-store-bench-")
		if bench1M.err != nil {
			return
		}
		bench1M.path = filepath.Join(bench1M.dir, "events.db")
		db, err := bolt.Open(bench1M.path, 0o600, &bolt.Options{NoSync: true})
		if err != nil {
			bench1M.err = err
			return
		}
		defer db.Close()
		bld := builder{st: State{HistoryLen: DefaultHistoryLen}}
		boot := [16]byte{1}
		t := time.Unix(0, 0).UTC() // a Pi before NTP
		for seq := uint64(1); seq <= benchEvents && bench1M.err == nil; {
			bench1M.err = db.Update(func(tx *bolt.Tx) error {
				events, err := tx.CreateBucketIfNotExists(bucketEvents)
				if err != nil {
					return err
				}
				snaps, err := tx.CreateBucketIfNotExists(bucketSnapshots)
				if err != nil {
					return err
				}
				events.FillPercent = fillPercent
				for end := min(seq+50_000, benchEvents+1); seq < end; seq++ {
					var p encoder
					switch {
					case seq%100 == 0:
						p = ListenerTrusted{Fingerprint: fp(int(seq/100) % 50), Name: "phone"}
					case seq%100 == 50:
						p = ListenerRevoked{Fingerprint: fp(int(seq/100+25) % 50)}
					case seq%2 == 0:
						p = ConnectionOpened{ConnID: fmt.Sprint(seq), Fingerprint: fp(int(seq % 50)), Remote: "192.168.1.23:52344"}
					default:
						p = ConnectionClosed{ConnID: fmt.Sprint(seq - 1), Fingerprint: fp(int(seq % 50)), Remote: "192.168.1.23:52344", Reason: "eof", Duration: time.Minute}
					}
					e := Event{Seq: seq, Type: p.EventType(), Version: 1, Time: t.Add(time.Duration(seq) * time.Second), Boot: boot, Payload: p}
					if err := events.Put(seqKey(seq), encodeRecord(e, p)); err != nil {
						return err
					}
					bld.apply(e)
					if seq == benchEvents-1000 {
						if err := snaps.Put(keySnapshot, encodeSnapshot(bld.state())); err != nil {
							return err
						}
					}
				}
				return events.SetSequence(seq - 1)
			})
		}
		if fi, err := os.Stat(bench1M.path); err == nil {
			b.Logf("built %d events (%d MB) in %v", benchEvents, fi.Size()>>20, time.Since(start).Round(time.Millisecond))
		}
	})
	if bench1M.err != nil {
		b.Fatal(bench1M.err)
	}
	return bench1M.path
}

// BenchmarkOpen1M measures Open until State is ready on a log of 1M
// events: with a snapshot 1000 events before the end, and with a full
// replay (snapshot ignored) for comparison. The page cache is warm.
func BenchmarkOpen1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1M-event database")
	}
	path := build1M(b)
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"snapshot", Options{noCloseSnapshot: true}},
		{"full-replay", Options{noCloseSnapshot: true, ignoreSnapshot: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := Open(path, bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st := s.State(); st.Seq != benchEvents || len(st.Allowlist) == 0 {
					b.Fatalf("state at %d with %d listeners", st.Seq, len(st.Allowlist))
				}
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkDecodeRecord measures decoding one stored event.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := encodeRecord(Event{Seq: 1, Type: benchPayload.EventType(), Version: 1}, benchPayload)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := decodeRecord(binary.BigEndian.Uint64(rec[offSeq:]), rec); err != nil {
			b.Fatal(err)
		}
	}
}
