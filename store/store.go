package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultSnapshotEvery is how many events pass between automatic snapshots
// when Options.SnapshotEvery is zero.
const DefaultSnapshotEvery = 1000

// lockTimeout is how long Open waits for another process's lock.
const lockTimeout = time.Second

// maxGroup bounds how many events the writer commits in one transaction
// when it groups separate Append calls (one call is never split).
const maxGroup = 4096

// fillPercent is how full bbolt fills the events bucket's pages before
// splitting: the log only appends, so pages can be nearly full.
const fillPercent = 0.9

var (
	bucketEvents    = []byte("events")
	bucketSnapshots = []byte("snapshots")
	keySnapshot     = []byte("state")
)

// Options configures a Store. The zero value is valid.
type Options struct {
	Logger *slog.Logger // nil discards
	// Clock stamps events; nil means time.Now. It is used for nothing else.
	Clock func() time.Time
	// SnapshotEvery is how many events pass between automatic snapshots:
	// zero means DefaultSnapshotEvery, negative means only on Snapshot,
	// Compact and Close.
	SnapshotEvery int
	// HistoryLen bounds State.History; zero means DefaultHistoryLen.
	HistoryLen int

	// Test knobs.
	noSync          bool          // skip fsync (tests that do not test durability)
	ignoreSnapshot  bool          // replay the whole log at Open
	noCloseSnapshot bool          // Close does not write a snapshot
	lockTimeout     time.Duration // overrides lockTimeout
}

// Store is the event log and its projections. Its methods are safe for
// concurrent use.
type Store struct {
	path       string
	db         *bolt.DB
	log        *slog.Logger
	clock      func() time.Time
	boot       [16]byte
	start      time.Time
	historyLen int
	snapEvery  int
	opts       Options

	state atomic.Pointer[State]

	mu        sync.Mutex
	committed uint64        // the last seq on disk and in state
	notify    chan struct{} // closed and replaced on each commit, closed on Close
	closed    bool

	reqs      chan *request
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine (and by Close once it has stopped).
	seq     uint64 // the last seq assigned
	snapSeq uint64 // the seq the snapshot on disk covers
	cur     State  // the published state
}

type op int

const (
	opAppend op = iota
	opSnapshot
	opCompact
)

// request is one call handed to the writer goroutine.
type request struct {
	op   op
	recs []pending // opAppend
	keep int       // opCompact
	last uint64    // opAppend: the seq of the last record, once committed
	done chan result
}

// pending is an encoded record and the event replay will decode from it.
type pending struct {
	rec []byte
	ev  Event
}

type result struct {
	seq uint64
	n   int
	err error
}

// Open opens or creates the store at path (mode 0600), rebuilds the
// projections from the latest snapshot and the events after it, and starts
// the writer. A file that cannot be used gives an *OpenError.
func Open(path string, opts Options) (_ *Store, err error) {
	if opts.HistoryLen < 0 {
		return nil, fmt.Errorf("store: HistoryLen %d is negative", opts.HistoryLen)
	}
	s := &Store{
		path:       path,
		log:        opts.Logger,
		clock:      opts.Clock,
		historyLen: opts.HistoryLen,
		snapEvery:  opts.SnapshotEvery,
		opts:       opts,
		notify:     make(chan struct{}),
		reqs:       make(chan *request),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("path", path)
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.historyLen == 0 {
		s.historyLen = DefaultHistoryLen
	}
	if s.snapEvery == 0 {
		s.snapEvery = DefaultSnapshotEvery
	}
	s.start = s.clock()
	rand.Read(s.boot[:])

	// A damaged file can make bbolt fault on its memory map or panic; turn
	// both into an error instead of a crash loop.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			if s.db != nil {
				s.db.Close()
			} else if file != nil {
				file.Close() // releases the lock; bbolt's mapping is leaked
			}
			err = openError(path, fmt.Errorf("%w (%v)", ErrCorrupt, r))
		}
	}()
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		// bbolt would silently start a new store in an existing empty file.
		return nil, openError(path, fmt.Errorf("%w (the file is empty)", ErrCorrupt))
	}
	timeout := lockTimeout
	if opts.lockTimeout > 0 {
		timeout = opts.lockTimeout
	}
	s.db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		NoSync:  opts.noSync,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			file = f
			return f, err
		},
	})
	if err != nil {
		return nil, openError(path, err)
	}
	if err := s.load(); err != nil {
		s.db.Close()
		return nil, openError(path, err)
	}
	go s.writer()
	return s, nil
}

// load checks the file, creates the buckets if needed and rebuilds the
// state.
func (s *Store) load() error {
	if d := damagedMetaPages(s.path); len(d) > 0 {
		s.log.Warn("store: a bbolt meta page is damaged and the other is used: the last write before the damage may be lost; "+
			"check the trusted listeners and the SD card", "pages", d)
	}
	fresh := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if fi, err := os.Stat(s.path); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%w (the file is %d bytes but its pages need %d: truncated?)", ErrCorrupt, fi.Size(), tx.Size())
		}
		fresh = tx.Bucket(bucketEvents) == nil || tx.Bucket(bucketSnapshots) == nil
		return nil
	})
	if err == nil && fresh {
		err = s.db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketEvents, bucketSnapshots} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("bucket %s: %w", name, err)
				}
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	var st State
	err = s.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		s.seq = events.Sequence()
		if k, _ := events.Cursor().Last(); len(k) == 8 {
			s.seq = max(s.seq, binary.BigEndian.Uint64(k))
		}
		if raw := tx.Bucket(bucketSnapshots).Get(keySnapshot); raw != nil && !s.opts.ignoreSnapshot {
			snap, err := decodeSnapshot(raw)
			switch {
			case err != nil:
				s.log.Warn("store: snapshot ignored, replaying the whole log", "err", err)
			case snap.Seq > s.seq:
				s.log.Warn("store: snapshot ignored, replaying the whole log", "err", "snapshot is ahead of the log",
					"snapshot_seq", snap.Seq, "log_seq", s.seq)
			default:
				st, s.snapSeq = snap, snap.Seq
			}
		}
		st.HistoryLen = s.historyLen
		if n := len(st.History); n > s.historyLen {
			st.History = st.History[n-s.historyLen:]
		}

		b := builder{st: st}
		skipped := 0
		c := events.Cursor()
		for k, v := c.Seek(seqKey(st.Seq + 1)); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				s.log.Warn("store: skipping a record with a malformed key", "key", fmt.Sprintf("%x", k))
				continue
			}
			e, err := decodeRecord(binary.BigEndian.Uint64(k), v)
			if err != nil {
				if skipped++; skipped <= 10 {
					s.log.Warn("store: event kept in the log but skipped by projections", "seq", e.Seq, "err", err)
				}
			}
			b.apply(e)
		}
		if skipped > 10 {
			s.log.Warn("store: more events skipped by projections", "count", skipped-10)
		}
		st = b.state()
		return nil
	})
	if err != nil {
		return err
	}
	st.Seq = s.seq
	s.cur, s.committed = st, s.seq
	s.state.Store(&st)
	s.log.Debug("store: opened", "seq", s.seq, "snapshot_seq", s.snapSeq)
	return nil
}

// State returns the current projections. The result is immutable and
// cheap to get: read it, never modify its maps or slices.
func (s *Store) State() State { return *s.state.Load() }

// Append stores payloads as consecutive events in one transaction and
// returns the seq of the last one. It returns only once the events are on
// disk (fsynced) and in State. If ctx ends after the events were handed to
// the writer, Append returns an error wrapping ctx.Err() and the events
// may or may not have been stored.
func (s *Store) Append(ctx context.Context, payloads ...Payload) (lastSeq uint64, err error) {
	if len(payloads) == 0 {
		return s.State().Seq, nil
	}
	now := s.clock()
	recs := make([]pending, len(payloads))
	for i, p := range payloads {
		enc, ok := p.(encoder)
		if !ok {
			return 0, fmt.Errorf("%w: %T", ErrInvalidPayload, p)
		}
		t := enc.EventType()
		e := Event{Type: t, Version: codecs[t].version, Time: now, Boot: s.boot, Mono: now.Sub(s.start)}
		rec := encodeRecord(e, enc)
		if len(rec) > headerLen+MaxRecordSize {
			return 0, fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrInvalidPayload, t, len(rec)-headerLen, MaxRecordSize)
		}
		// Apply what replay will read, so that the live state and a
		// rebuilt one cannot differ (times lose their location, etc.).
		ev, err := decodeRecord(0, rec)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
		}
		recs[i] = pending{rec: rec, ev: ev}
	}
	res, err := s.do(ctx, &request{op: opAppend, recs: recs})
	return res.seq, err
}

// Snapshot stores a snapshot of the current projections, so that the next
// Open replays only the events appended after it.
func (s *Store) Snapshot() error {
	_, err := s.do(context.Background(), &request{op: opSnapshot})
	return err
}

// Compact deletes connection-opened, connection-closed, sound-started and
// sound-stopped events except the newest keepConnections of them, and returns how many it deleted. It
// never deletes other events. It also stores a snapshot covering the whole
// log, so the projections (including the connection history) are the same
// before and after, and after a reopen. Subscribers that have not yet read
// a deleted event never see it. The file does not shrink: bbolt reuses the
// freed pages for later events.
func (s *Store) Compact(keepConnections int) (removed int, err error) {
	if keepConnections < 0 {
		return 0, fmt.Errorf("store: Compact(%d): keepConnections is negative", keepConnections)
	}
	res, err := s.do(context.Background(), &request{op: opCompact, keep: keepConnections})
	return res.n, err
}

// do hands r to the writer and waits for its result.
func (s *Store) do(ctx context.Context, r *request) (result, error) {
	r.done = make(chan result, 1)
	select {
	case s.reqs <- r:
	case <-s.closing:
		return result{}, ErrClosed
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res, res.err
	case <-ctx.Done():
		return result{}, fmt.Errorf("store: %w before the write was acknowledged: it may or may not be stored", ctx.Err())
	}
}

// Close stops the writer (after it commits what was already handed to
// it), stores a snapshot if events were appended since the last one, ends
// every Subscription and closes the file. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.done
		var err error
		if s.cur.Seq != s.snapSeq && !s.opts.noCloseSnapshot {
			err = s.guard(s.snapshot)
		}
		s.mu.Lock()
		s.closed = true
		close(s.notify)
		s.mu.Unlock()
		s.closeErr = errors.Join(err, s.db.Close())
	})
	return s.closeErr
}

// writer is the only goroutine that writes to the database. It takes the
// requests waiting when it is free and commits consecutive appends in one
// transaction (group commit), then acknowledges each caller.
func (s *Store) writer() {
	defer close(s.done)
	debug.SetPanicOnFault(true)
	for {
		var batch []*request
		select {
		case r := <-s.reqs:
			batch = s.drain(append(batch, r))
		case <-s.closing:
			s.run(s.drain(nil))
			return
		}
		s.run(batch)
	}
}

// drain adds the requests already waiting, up to maxGroup events.
func (s *Store) drain(batch []*request) []*request {
	n := 0
	for _, r := range batch {
		n += len(r.recs)
	}
	for n < maxGroup {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			n += len(r.recs)
		default:
			return batch
		}
	}
	return batch
}

// run executes a batch in order, one transaction per run of appends.
func (s *Store) run(batch []*request) {
	for len(batch) > 0 {
		if batch[0].op != opAppend {
			r := batch[0]
			var res result
			switch r.op {
			case opSnapshot:
				res.err = s.guard(s.snapshot)
			case opCompact:
				res.err = s.guard(func() (err error) { res.n, err = s.compact(r.keep); return err })
			}
			r.done <- res
			batch = batch[1:]
			continue
		}
		n := 1
		for n < len(batch) && batch[n].op == opAppend {
			n++
		}
		s.commit(batch[:n])
		batch = batch[n:]
	}
}

// commit appends the records of group in one transaction.
func (s *Store) commit(group []*request) {
	b := builder{st: s.cur}
	seq := s.seq
	var st State
	snap := false
	err := s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			events := tx.Bucket(bucketEvents)
			events.FillPercent = fillPercent
			for _, r := range group {
				for _, p := range r.recs {
					seq++
					sealRecord(p.rec, seq)
					if err := events.Put(seqKey(seq), p.rec); err != nil {
						return err
					}
					e := p.ev
					e.Seq = seq
					b.apply(e)
				}
				r.last = seq
			}
			if err := events.SetSequence(seq); err != nil {
				return err
			}
			st = b.state()
			if s.snapEvery > 0 && seq-s.snapSeq >= uint64(s.snapEvery) {
				snap = true
				return tx.Bucket(bucketSnapshots).Put(keySnapshot, encodeSnapshot(st))
			}
			return nil
		})
	})
	if err != nil {
		s.log.Error("store: append failed", "events", seq-s.seq, "err", err)
		for _, r := range group {
			r.done <- result{err: fmt.Errorf("store: append: %w", err)}
		}
		return
	}
	s.seq, s.cur = seq, st
	if snap {
		s.snapSeq = seq
	}
	s.state.Store(&st)
	s.mu.Lock()
	s.committed = seq
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	for _, r := range group {
		r.done <- result{seq: r.last}
	}
}

// snapshot stores s.cur as the snapshot.
func (s *Store) snapshot() error {
	st := s.cur
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).Put(keySnapshot, encodeSnapshot(st))
	})
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	s.snapSeq = st.Seq
	return nil
}

// isConnection reports whether a record is a connection (or soothing
// sound, or talk) event Compact may delete. Records that do not decode are kept.
func isConnection(k, v []byte) bool {
	if len(k) != 8 {
		return false
	}
	e, _, err := decodeHeader(binary.BigEndian.Uint64(k), v)
	if err != nil {
		return false
	}
	switch e.Type {
	case TypeConnectionOpened, TypeConnectionClosed, TypeSoundStarted, TypeSoundStopped, TypeTalkStarted, TypeTalkEnded:
		return true
	}
	return false
}

func (s *Store) compact(keep int) (removed int, err error) {
	st := s.cur
	err = s.db.Update(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		// Delete connection events older than the keep-th newest one.
		cutoff := uint64(math.MaxUint64)
		if keep > 0 {
			cutoff = 0
			n := 0
			c := events.Cursor()
			for k, v := c.Last(); k != nil; k, v = c.Prev() {
				if isConnection(k, v) {
					if n++; n == keep {
						cutoff = binary.BigEndian.Uint64(k)
						break
					}
				}
			}
		}
		var dead [][]byte
		c := events.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) == 8 && binary.BigEndian.Uint64(k) >= cutoff {
				break
			}
			if isConnection(k, v) {
				dead = append(dead, append([]byte(nil), k...))
			}
		}
		for _, k := range dead {
			if err := events.Delete(k); err != nil {
				return err
			}
		}
		removed = len(dead)
		if removed == 0 {
			return nil
		}
		// The snapshot covers the whole log, so replay never needs the
		// deleted events.
		return tx.Bucket(bucketSnapshots).Put(keySnapshot, encodeSnapshot(st))
	})
	if err != nil {
		return 0, fmt.Errorf("store: compact: %w", err)
	}
	if removed > 0 {
		s.snapSeq = st.Seq
		s.log.Info("store: compacted", "removed", removed, "kept_connections", keep)
	}
	return removed, nil
}

// guard runs fn, turning a bbolt panic or a fault on its memory map (a
// damaged file) into an error wrapping ErrCorrupt.
func (s *Store) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s (%v)", ErrCorrupt, s.path, r)
			s.log.Error("store: database fault", "err", err)
		}
	}()
	return fn()
}

// read returns up to limit events with from <= seq <= to, and the seq to
// read from next.
func (s *Store) read(from, to uint64, limit int) ([]Event, uint64, error) {
	var evs []Event
	next := from
	err := s.guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			for k, v := c.Seek(seqKey(from)); k != nil && len(evs) < limit; k, v = c.Next() {
				if len(k) != 8 {
					continue
				}
				seq := binary.BigEndian.Uint64(k)
				if seq > to {
					break
				}
				e, _ := decodeRecord(seq, v)
				evs = append(evs, e)
				next = seq + 1
			}
			return nil
		})
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return evs, next, err
}

// Events calls fn for each event after fromSeq, in order, until the end of
// the log or until fn returns an error, which Events returns. It reads in
// short transactions, so fn may be slow without blocking appends; events
// appended meanwhile are included. Unknown payloads are passed to fn.
func (s *Store) Events(fromSeq uint64, fn func(Event) error) error {
	for next := fromSeq + 1; next != 0; {
		evs, n, err := s.read(next, math.MaxUint64, 256)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
		}
		next = n
	}
	return nil
}

// Check runs bbolt's consistency check over the whole file and returns
// what it finds. It reads every page and holds the write lock meanwhile
// (a check in a read transaction is not safe beside a writer): use it for
// diagnostics, not on every start.
func (s *Store) Check() error {
	var errs []error
	errRollback := errors.New("rollback")
	err := s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			return errRollback
		})
	})
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	case err != errRollback:
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
