package history_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/store/history"
	"github.com/cradle-monitor/cradle/store/history/historytest"
)

var benchStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// sdCard mounts a fresh ext4 file system (default options, as the Pi
// image's root) on a loop device, so that a benchmark can count what the
// card would really be sent: data, metadata and the journal. It returns
// the mount point and a function giving the bytes written to the device
// so far. Root and e2fsprogs are needed (make bench runs as root).
func sdCard(b *testing.B) (string, func() int64) {
	if os.Geteuid() != 0 {
		b.Skip("counting the card's writes needs a loop device: run as root")
	}
	img := filepath.Join(b.TempDir(), "sd.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(img, 256<<20); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		b.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	b.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	if out, err := exec.Command("mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
		b.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	dir := filepath.Join(b.TempDir(), "mnt")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", dev, dir).CombinedOutput(); err != nil {
		b.Fatalf("mount: %v %s", err, out)
	}
	b.Cleanup(func() { exec.Command("umount", dir).Run() })
	stat := "/sys/block/" + filepath.Base(dev) + "/stat"
	return dir, func() int64 {
		exec.Command("sync", "-f", dir).Run()
		raw, err := os.ReadFile(stat)
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(raw))
		sectors, _ := strconv.ParseInt(f[6], 10, 64)
		return sectors * 512
	}
}

// BenchmarkDayOnTheCard: the bytes a day of history sends to the card
// once 30 days are kept (so that a day's pruning is in it too): levels
// every 200 ms as the monitor measures them, a flush every 5 minutes,
// pruning every hour, fsync on. Reported per simulated day, with the
// file's size (what is kept).
func BenchmarkDayOnTheCard(b *testing.B) {
	dir, written := sdCard(b)
	path := filepath.Join(dir, history.FileName)
	for b.Loop() {
		b.StopTimer()
		os.Remove(path)
		db, err := history.Open(path, history.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := historytest.Fill(db, benchStart, 30, historytest.Options{}); err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.StartTimer()
		db, err = history.Open(path, history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		before := written()
		day := benchStart.Add(30 * 24 * time.Hour)
		err = historytest.Fill(db, day, 1, historytest.Options{LevelEvery: 200 * time.Millisecond, Flush: 5 * time.Minute,
			Prune: func(now time.Time) error { _, err := db.Prune(now.AddDate(0, 0, -30)); return err }})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.ReportMetric(float64(written()-before)/1e6, "MB-written/day")
		fi, _ := os.Stat(path)
		b.ReportMetric(float64(fi.Size())/1e6, "MB-kept")
	}
}

// build30 writes 30 days of history into a temporary file.
func build30(b *testing.B) string {
	path := filepath.Join(b.TempDir(), history.FileName)
	db, err := history.Open(path, history.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := historytest.Fill(db, benchStart, 30, historytest.Options{}); err != nil {
		b.Fatal(err)
	}
	db.Close()
	return path
}

// BenchmarkOpen30Days: opening a file with 30 days (a new boot is
// written: one transaction).
func BenchmarkOpen30Days(b *testing.B) {
	path := build30(b)
	for b.Loop() {
		db, err := history.Open(path, history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// BenchmarkRead30Days: every page of 30 days, from the file.
func BenchmarkRead30Days(b *testing.B) {
	path := build30(b)
	db, err := history.Open(path, history.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	from, to := benchStart, benchStart.Add(30*24*time.Hour)
	for b.Loop() {
		n := 0
		var after []byte
		for {
			pg, err := db.Read(from, to, after, 0)
			if err != nil {
				b.Fatal(err)
			}
			n += len(pg.Records)
			if pg.Next == nil {
				break
			}
			after = pg.Next
		}
		if n < 30*1440 {
			b.Fatalf("%d records", n)
		}
	}
}
