package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the history's file in the state directory.
const FileName = "history.db"

// MinPlausible is the earliest wall time Prune trusts: a clock that
// reads earlier has not been set (a Pi before NTP), and dropping days by
// it would drop the wrong ones.
var MinPlausible = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	keyBoot       = []byte("boot")
)

// ErrClosed is returned by a DB's methods after Close.
var ErrClosed = errors.New("history: closed")

// DB is the history's bbolt file. Its methods are safe for concurrent
// use.
type DB struct {
	db   *bolt.DB
	boot uint32
	log  *slog.Logger
}

// Options tune Open.
type Options struct {
	// NoSync skips fsync (tests and benchmarks only).
	NoSync bool
	Log    *slog.Logger
}

// Open opens (or creates) the history at path and starts a new boot.
func Open(path string, o Options) (*DB, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: o.NoSync, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("history: opening %s: %w", path, err)
	}
	h := &DB{db: db, log: log}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketRecords); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyBoot); len(v) == 4 {
			h.boot = binary.BigEndian.Uint32(v)
		}
		h.boot++
		return m.Put(keyBoot, binary.BigEndian.AppendUint32(nil, h.boot))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("history: opening %s: %w", path, err)
	}
	return h, nil
}

// Boot is the boot this Open started: the Recorder's.
func (h *DB) Boot() uint32 { return h.boot }

// Close closes the file. It is idempotent.
func (h *DB) Close() error {
	if h == nil {
		return nil
	}
	return h.db.Close()
}

// Apply writes a batch in one transaction: shifts, then puts.
func (h *DB) Apply(b Batch) error {
	if b.Empty() {
		return nil
	}
	return h.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRecords)
		bk.FillPercent = 0.9 // records are appended in time order, mostly
		for _, s := range b.Shifts {
			if err := shift(bk, s); err != nil {
				return err
			}
		}
		for _, r := range b.Puts {
			if err := bk.Put(r.key(), r.value()); err != nil {
				return err
			}
		}
		return nil
	})
}

func shift(bk *bolt.Bucket, s Shift) error {
	var moved []Record
	var old [][]byte
	c := bk.Cursor()
	from := Record{Start: s.From}.key()[:8]
	for k, v := c.Seek(from); k != nil; k, v = c.Next() {
		if len(k) != keyLen || binary.BigEndian.Uint32(k[9:]) != s.Boot {
			continue
		}
		old = append(old, bytes.Clone(k))
		if r, err := decode(k, v); err == nil {
			r.Start, r.End = r.Start.Add(s.Delta), r.End.Add(s.Delta)
			moved = append(moved, r)
		}
	}
	for _, k := range old {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	for _, r := range moved {
		if err := bk.Put(r.key(), r.value()); err != nil {
			return err
		}
	}
	return nil
}

// Prune drops the records that ended before cutoff (in batches, so a
// long-unpruned file does not make one huge transaction), and returns how
// many. It does nothing when cutoff is before MinPlausible.
func (h *DB) Prune(cutoff time.Time) (int, error) {
	if cutoff.Before(MinPlausible) {
		return 0, nil
	}
	// Records start at most MaxSpan before they end: those that start
	// before cutoff - MaxSpan have all ended before cutoff.
	limit := Record{Start: cutoff.Add(-DefaultMaxSpan)}.key()[:8]
	total := 0
	for {
		n := 0
		err := h.db.Update(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRecords).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k[:min(8, len(k))], limit) < 0 && n < 5000; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			if n == 5000 {
				return nil
			}
			// Those that started within MaxSpan before cutoff: by their end.
			// (Collected first: a bbolt cursor skips a key after Delete.)
			end := Record{Start: cutoff}.key()[:8]
			var gone [][]byte
			for k, v := c.Seek(limit); k != nil && bytes.Compare(k[:min(8, len(k))], end) < 0; k, v = c.Next() {
				if r, err := decode(k, v); err != nil || r.End.Before(cutoff) {
					gone = append(gone, bytes.Clone(k))
				}
			}
			bk := tx.Bucket(bucketRecords)
			for _, k := range gone {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			n += len(gone)
			return nil
		})
		total += n
		if err != nil || n != 5000 {
			return total, err
		}
	}
}

// Size is the file's size in bytes.
func (h *DB) Size() int64 {
	fi, err := os.Stat(h.db.Path())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// KeyOf is r's key, as Page.Next holds it: a cursor that continues after r.
func KeyOf(r Record) []byte { return r.key() }

// MaxPage bounds the records Read returns at once (about 3 MB in memory
// at most).
const MaxPage = 24000

// Page is one answer of Read.
type Page struct {
	Records []Record
	// Next continues the read (Read's after); empty when the range is done.
	Next []byte
}

// Read returns the records that overlap [from, to), in key order (by
// start time), at most limit (at most MaxPage), continuing after the key
// after (a previous page's Next; nil from the start). overlay (sorted by
// key, as Recorder.Live gives it) is merged in: it holds what is not
// written yet, and replaces a written record with the same key. Open
// records of an earlier boot are returned closed at their end: the
// monitor stopped. A record that does not decode is skipped and logged.
func (h *DB) Read(from, to time.Time, after []byte, limit int, overlay ...Record) (Page, error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	var p Page
	keep := func(r Record) bool {
		return r.Start.Before(to) && (r.End.After(from) || r.Kind == KindMinute && !r.Start.Before(from))
	}
	// full reports whether the page is full, and then sets Next.
	add := func(r Record) bool {
		if len(p.Records) == limit {
			p.Next = p.Records[len(p.Records)-1].key()
			return true
		}
		p.Records = append(p.Records, r)
		return false
	}
	err := h.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		start := Record{Start: from.Add(-DefaultMaxSpan)}.key()[:8]
		end := Record{Start: to}.key()[:8]
		var k, v []byte
		if len(after) > 0 {
			if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		} else {
			k, v = c.Seek(start)
		}
		ov := overlay
		for len(ov) > 0 && (bytes.Compare(ov[0].key(), start) < 0 || len(after) > 0 && bytes.Compare(ov[0].key(), after) <= 0) {
			ov = ov[1:]
		}
		for {
			inFile := k != nil && bytes.Compare(k[:min(8, len(k))], end) < 0
			inOverlay := len(ov) > 0 && ov[0].Start.Before(to)
			if !inFile && !inOverlay {
				return nil
			}
			cmp := -1 // the file's record first
			if inFile && inOverlay {
				cmp = bytes.Compare(k, ov[0].key())
			} else if inOverlay {
				cmp = 1
			}
			var r Record
			switch cmp {
			case 0: // the overlay's newer version of a written record
				r, ov = ov[0], ov[1:]
				k, v = c.Next()
			case 1:
				r, ov = ov[0], ov[1:]
			default:
				var err error
				r, err = decode(k, v)
				k, v = c.Next()
				if err != nil {
					h.log.Warn("history: a record does not decode: skipped", "err", err)
					continue
				}
			}
			if !keep(r) {
				continue
			}
			if r.Open && r.Boot != h.boot {
				r.Open = false
			}
			if add(r) {
				return nil
			}
		}
	})
	return p, err
}
