package monitor

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/store"
	"github.com/cradle-monitor/cradle/store/history"
)

// HistoryConfig is the sound history's settings (store/history).
type HistoryConfig struct {
	// Off keeps no history: the microphone then runs only while someone
	// listens, and history_request is refused.
	Off bool
	// Days is how many days are kept; default 30, at most MaxHistoryDays.
	Days int
	// Flush is how often what was measured is written (default 5 min):
	// a power cut loses at most this, and the minute in progress.
	Flush time.Duration
	// Gap merges noise closer together than this into one episode
	// (default 2 min).
	Gap time.Duration
	// Step is the length of a level record (default 1 min; tests shorten
	// it).
	Step time.Duration
}

// Defaults and bounds of HistoryConfig.
const (
	DefaultHistoryDays  = 30
	MaxHistoryDays      = 60
	DefaultHistoryFlush = 5 * time.Minute
)

func (c HistoryConfig) withDefaults() HistoryConfig {
	if c.Days == 0 {
		c.Days = DefaultHistoryDays
	}
	if c.Flush == 0 {
		c.Flush = DefaultHistoryFlush
	}
	if c.Gap == 0 {
		c.Gap = history.DefaultGap
	}
	if c.Step == 0 {
		c.Step = history.DefaultStep
	}
	return c
}

func (c HistoryConfig) validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Days < 1 || c.Days > MaxHistoryDays {
		errs = append(errs, fmt.Errorf("history_days: %d is out of range (0 for none, or 1 to %d)", c.Days, MaxHistoryDays))
	}
	if c.Flush < 100*time.Millisecond || c.Flush > time.Hour {
		errs = append(errs, fmt.Errorf("history_flush: %v is out of range (100ms to 1h)", c.Flush))
	}
	if c.Gap < time.Second || c.Gap > time.Hour {
		errs = append(errs, fmt.Errorf("history_gap: %v is out of range (1s to 1h)", c.Gap))
	}
	if c.Step < 100*time.Millisecond || c.Step > time.Hour || time.Hour%c.Step != 0 {
		errs = append(errs, fmt.Errorf("history_step: %v must divide an hour (at least 100ms)", c.Step))
	}
	return errors.Join(errs...)
}

// historyKeeper is the history's shell: the Recorder behind a lock (the
// level pump, the applier and the connections feed it), and the file.
type historyKeeper struct {
	cfg   HistoryConfig
	db    *history.DB
	start time.Time // the monotonic origin of the Recorder's readings
	now   func() time.Time

	mu  sync.Mutex
	rec *history.Recorder
}

func openHistory(dir string, cfg HistoryConfig, vox media.VoxConfig, now func() time.Time, log *slog.Logger) (*historyKeeper, error) {
	cfg = cfg.withDefaults()
	path := filepath.Join(dir, history.FileName)
	db, err := history.Open(path, history.Options{})
	if err != nil {
		// A damaged history must not keep the nursery unheard: it is set
		// aside (for a bug report) and a new one started.
		aside := path + ".damaged"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w (and it cannot be set aside: %v)", err, rerr)
		}
		log.Error("history: the file does not open: set aside, starting a new history", "err", err, "moved_to", aside)
		if db, err = history.Open(path, history.Options{}); err != nil {
			return nil, err
		}
	}
	rc := history.Config{Step: cfg.Step, Gap: cfg.Gap, Attack: vox.Attack, Hold: vox.Hold}
	return &historyKeeper{cfg: cfg, db: db, start: now(), now: now, rec: history.NewRecorder(rc, db.Boot())}, nil
}

// reading is now on both clocks: t's wall clock, and its monotonic
// offset from the keeper's start.
func (h *historyKeeper) reading(t time.Time) history.Now {
	return history.Now{Wall: t.Round(0), Mono: t.Sub(h.start)}
}

func (h *historyKeeper) level(l media.Level) {
	now := h.reading(h.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rec.Level(history.Level{Mono: l.At.Sub(h.start), RMSDBFS: l.RMSDBFS, PeakDBFS: l.PeakDBFS, Noise: l.Noise}, now)
}

func (h *historyKeeper) observe(fault bool) {
	now := h.reading(h.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rec.Fault(control.FaultMicrophone, fault, now)
	h.rec.Observe(now)
}

// appended records a trusted connection's opening and closing, from the
// events the monitor appends to its log.
func (h *historyKeeper) appended(p store.Payload, st store.State) {
	if h == nil {
		return
	}
	now := h.reading(h.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	switch p := p.(type) {
	case store.ConnectionOpened:
		kind, name := "listener", ""
		if id, ok := strings.CutPrefix(p.Remote, "page:"); ok {
			kind, name = "phone", st.Devices[id].Name
			if name == "" {
				name = "phone " + id
			}
		} else if l, ok := st.Allowlist[p.Fingerprint]; ok {
			name = l.Name
		}
		h.rec.ConnOpen(p.ConnID, kind, name, now)
	case store.ConnectionClosed:
		h.rec.ConnClose(p.ConnID, now)
	}
}

// live is what is not written yet (history.Recorder.Live).
func (h *historyKeeper) live() []history.Record {
	now := h.reading(h.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rec.Live(now)
}

func (h *historyKeeper) flush(final bool) error {
	now := h.reading(h.now())
	h.mu.Lock()
	b := h.rec.Flush(now, final)
	h.mu.Unlock()
	return h.db.Apply(b)
}

func (h *historyKeeper) close() error {
	if h == nil {
		return nil
	}
	return h.db.Close()
}

// serveHistory keeps the history: it holds a level subscription (so the
// microphone runs all night, whether or not anybody listens), feeds the
// Recorder, and flushes every Flush, and once more when the monitor
// stops. It prunes old days at start and every hour.
func (m *Monitor) serveHistory(ctx context.Context) error {
	h := m.hist
	sub, err := m.hub.SubscribeLevels()
	if err != nil {
		m.log.Error("history: no sound level: the history is not kept", "err", err)
		return nil
	}
	defer sub.Close()
	defer func() {
		if err := h.flush(true); err != nil {
			m.log.Error("history: writing the last minutes", "err", err)
		}
	}()
	prune := func() {
		cutoff := m.now().AddDate(0, 0, -h.cfg.Days)
		if n, err := h.db.Prune(cutoff); err != nil {
			m.log.Warn("history: dropping old days", "err", err)
		} else if n > 0 {
			m.log.Info("history: dropped old records", "records", n, "before", cutoff.Format(time.DateOnly))
		}
	}
	prune()
	interval := m.hub.Config().LevelInterval
	w := newLevelWatch(interval, m.noMicrophone(), m.now())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := time.NewTicker(h.cfg.Flush)
	defer flush.Stop()
	hourly := time.NewTicker(time.Hour)
	defer hourly.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-sub.C():
			if !ok {
				return nil
			}
			w.level(l, m.now())
			h.level(l)
		case <-tick.C:
			w.noMic = m.noMicrophone()
			h.observe(len(w.status(m.now()).Faults) > 0)
		case <-flush.C:
			if err := h.flush(false); err != nil {
				m.log.Error("history: writing", "err", err)
			}
		case <-hourly.C:
			prune()
		}
	}
}

// maxHistoryRecords bounds a history page: 1800 level records (32 bytes
// of JSON each) fill a frame to about 58 KiB. A page of longer records
// (connections with long names) is cut further to fit.
const maxHistoryRecords = 1800

// answerHistory answers a trusted connection's history_request with one
// page (on the connection's goroutine: reading is not the core's work).
func (m *Monitor) answerHistory(ctx context.Context, p *peer, req control.HistoryRequest) error {
	h := m.hist
	if h == nil {
		return control.Errorf(control.CodeBadRequest, "this monitor keeps no history (history_days = 0)")
	}
	page, err := m.historyPage(req)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, m.cfg.Heartbeat.WithDefaults().Interval*2)
	defer cancel()
	if err := p.conn.Send(sctx, page); err != nil && p.conn.Err() == nil {
		return control.Errorf(control.CodeInternal, "sending history: %v", err)
	}
	return nil
}

// historyPage reads one page of history_request req.
func (m *Monitor) historyPage(req control.HistoryRequest) (control.History, error) {
	return m.historyPageLimit(req, maxHistoryRecords)
}

// historyPageLimit is historyPage with at most limit records.
func (m *Monitor) historyPageLimit(req control.HistoryRequest, limit int) (control.History, error) {
	h := m.hist
	if req.ToMillis < req.FromMillis || req.ToMillis-req.FromMillis > control.MaxHistoryRangeMillis || req.FromMillis < 0 {
		return control.History{}, control.Errorf(control.CodeBadRequest, "history range from %d to %d ms is not a range of at most %d days", req.FromMillis, req.ToMillis, control.MaxHistoryRangeMillis/86400000)
	}
	var after []byte
	if req.After != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(req.After); err != nil || len(after) > 64 {
			return control.History{}, control.Errorf(control.CodeBadRequest, "history: after is not a cursor this monitor gave")
		}
	}
	from, to := time.UnixMilli(req.FromMillis), time.UnixMilli(req.ToMillis)
	step := h.cfg.Step
	if req.StepMillis > step.Milliseconds() {
		want := time.Duration(min(req.StepMillis, control.MaxHistoryStepMillis)) * time.Millisecond
		step = want - want%h.cfg.Step
		// Coarser records: read up to 12 times more (they merge), within
		// the file's page bound; the answer is cut to a frame below.
		limit = min(limit*min(int(step/h.cfg.Step), 12), history.MaxPage)
	}
	for {
		pg, err := h.db.Read(from, to, after, limit, h.live()...)
		if err != nil {
			return control.History{}, control.Errorf(control.CodeInternal, "reading the history: %v", err)
		}
		if step != h.cfg.Step {
			pg = coarsen(pg, step)
		}
		if len(pg.Records) > maxHistoryRecords && limit > 1 {
			limit = max(1, limit/2)
			continue
		}
		out := historyMessage(pg, m.now(), h.cfg, step)
		b, err := control.Encode(out)
		if err == nil && len(b) <= control.MaxFrame-1024 {
			return out, nil
		}
		if limit == 1 {
			return control.History{}, control.Errorf(control.CodeInternal, "a history record does not fit a frame")
		}
		limit /= 2 // names with many escapes: fewer records
	}
}

// coarsen merges a page's level records into records of step (aligned
// to it). A page that goes on ends before the last bucket it reached (so
// that no bucket is split across pages): the next page starts with it.
// Buckets hold at most 6 h of records, fewer than a page, so a cut page
// is never empty.
func coarsen(pg history.Page, step time.Duration) history.Page {
	recs := pg.Records
	if pg.Next != nil {
		var last time.Time
		for _, r := range recs {
			if r.Kind == history.KindMinute {
				last = r.Start.Truncate(step)
			}
		}
		if cut := sort.Search(len(recs), func(i int) bool { return !recs[i].Start.Before(last) }); cut > 0 && !last.IsZero() {
			recs = recs[:cut]
			pg.Next = history.KeyOf(recs[cut-1])
		}
	}
	out := make([]history.Record, 0, len(recs))
	var cur *history.Record
	var sumPow float64
	flush := func() {
		if cur != nil {
			cur.Mean = 10 * math.Log10(sumPow/float64(max(cur.Count, 1)))
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, r := range recs {
		if r.Kind != history.KindMinute {
			out = append(out, r)
			continue
		}
		b := r.Start.Truncate(step)
		if cur != nil && !cur.Start.Equal(b) {
			flush()
		}
		n := max(r.Count, 1)
		if cur == nil {
			c := r
			c.Start, c.End, c.Count = b, b.Add(step), 0
			cur, sumPow = &c, 0
		}
		cur.Min, cur.Max = min(cur.Min, r.Min), max(cur.Max, r.Max)
		cur.Count += n
		sumPow += math.Pow(10, r.Mean/10) * float64(n)
	}
	flush()
	// Level records now sit at their bucket's start, before intervals that
	// started within the bucket: keep the page in start order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	pg.Records = out
	return pg
}

func historyMessage(pg history.Page, now time.Time, cfg HistoryConfig, step time.Duration) control.History {
	out := control.History{
		NowMillis: now.UnixMilli(), StepMillis: step.Milliseconds(), Days: cfg.Days,
		Minutes: [][4]int64{}, Episodes: []control.HistoryEpisode{}, Faults: []control.HistoryFault{}, Connections: []control.HistoryConnection{},
	}
	ddb := func(v float64) int64 { return int64(math.Round(v * 10)) }
	for _, r := range pg.Records {
		s, e := r.Start.UnixMilli(), r.End.UnixMilli()
		switch r.Kind {
		case history.KindMinute:
			out.Minutes = append(out.Minutes, [4]int64{s, ddb(r.Min), ddb(r.Mean), ddb(r.Max)})
		case history.KindEpisode:
			out.Episodes = append(out.Episodes, control.HistoryEpisode{StartMillis: s, EndMillis: e, PeakDecidB: ddb(r.Peak), Ongoing: r.Open})
		case history.KindFault:
			out.Faults = append(out.Faults, control.HistoryFault{Fault: r.Label, StartMillis: s, EndMillis: e, Ongoing: r.Open})
		case history.KindConn:
			out.Connections = append(out.Connections, control.HistoryConnection{Name: r.Name, Kind: r.Label, StartMillis: s, EndMillis: e, Ongoing: r.Open})
		}
	}
	if len(pg.Next) > 0 {
		out.Next = base64.RawURLEncoding.EncodeToString(pg.Next)
	}
	return out
}
