package page

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/store/history"
)

// HistoryFunc reads the monitor's sound history that overlaps [from, to)
// (every page of it). Serve uses listener.FetchHistory when
// Options.History is nil.
type HistoryFunc func(ctx context.Context, sess *listener.Session, from, to time.Time) (control.History, error)

func sessionHistory(ctx context.Context, sess *listener.Session, from, to time.Time) (control.History, error) {
	return listener.FetchHistoryStep(ctx, sess, from, to, drawStep(to.Sub(from)))
}

// maxDrawPoints is how many level records a drawing needs at most: a
// phone's timeline is a few hundred pixels wide.
const maxDrawPoints = 1440

// drawStep is the level record's length to ask for a range of d: the
// monitor's own (0) for a night, coarser for days (30 min for 30 days),
// so that a long range is one or two pages, not 25.
func drawStep(d time.Duration) time.Duration {
	return (d / maxDrawPoints).Truncate(time.Minute)
}

// Limits of GET /api/monitors/{id}/history.
const (
	// MaxHistoryRange is the longest range one request may name.
	MaxHistoryRange = 31 * 24 * time.Hour
	// maxNightsBack bounds ?night=N (the monitor keeps fewer days).
	maxNightsBack = 366
	// historyTimeout bounds one request: a monitor's 30 days take about
	// 25 pages of its history.
	historyTimeout = 20 * time.Second
)

// historyView is the answer of GET /api/monitors/{id}/history: the
// monitor's history of the range (control.History, every page of it),
// the range asked, and the summary of its episodes, computed here as the
// CLI computes it (history.Summarize), so that both say the same.
type historyView struct {
	FromMillis int64 `json:"from_ms"`
	ToMillis   int64 `json:"to_ms"`
	control.History
	Summary summaryView `json:"summary"`
}

// summaryView is history.Summary for the page: times in Unix ms (0: none),
// which the page writes in the phone's local time, in the words of
// history.Summary.Text.
type summaryView struct {
	Wakeups      int   `json:"wakeups"`
	Short        int   `json:"short"`
	LongestMs    int64 `json:"longest_ms"`
	Noise        bool  `json:"noise"`
	NoiseSinceMs int64 `json:"noise_since_ms"`
	QuietSinceMs int64 `json:"quiet_since_ms"`
}

func summaryOf(s history.Summary) summaryView {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return summaryView{Wakeups: s.Wakeups, Short: s.Short, LongestMs: s.Longest.Milliseconds(),
		Noise: s.Noise, NoiseSinceMs: ms(s.NoiseSince), QuietSinceMs: ms(s.QuietSince)}
}

// historyRange reads the range of a history request: from and to (Unix
// ms), which the page sends (a night in the phone's own local time), or
// night=N, the night N nights before the latest one that has started
// (history.Night) in the server's local time; neither is night=0. A range
// longer than MaxHistoryRange keeps its last MaxHistoryRange.
func historyRange(q map[string][]string, now time.Time) (from, to time.Time, ok bool) {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) != 1 {
			return "", ok
		}
		return v[0], true
	}
	fs, hasFrom := get("from")
	ts, hasTo := get("to")
	ns, hasNight := get("night")
	switch {
	case hasNight && (hasFrom || hasTo):
		return from, to, false
	case hasFrom || hasTo:
		f, err1 := strconv.ParseInt(fs, 10, 64)
		t, err2 := strconv.ParseInt(ts, 10, 64)
		// Unix ms within years 2000..2200: nothing a page computes is beyond.
		const lo, hi = 946684800000, 7258118400000
		if err1 != nil || err2 != nil || f < lo || t > hi || f >= t {
			return from, to, false
		}
		from, to = time.UnixMilli(f), time.UnixMilli(t)
	default:
		n := 0
		if hasNight {
			var err error
			if n, err = strconv.Atoi(ns); err != nil || n < 0 || n > maxNightsBack {
				return from, to, false
			}
		}
		from, to = history.Night(now, n)
	}
	if to.Sub(from) > MaxHistoryRange {
		from = to.Add(-MaxHistoryRange)
	}
	return from, to, true
}

// history serves the card's "night at a glance": GET
// /api/monitors/{id}/history?night=N or ?from=MS&to=MS, through the
// monitor's session, as info does.
func (s *server) history(w http.ResponseWriter, r *http.Request) {
	sess, err := s.pool.session(r.PathValue("id"))
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	from, to, ok := historyRange(r.URL.Query(), time.Now())
	if !ok {
		writeProblem(w, probBadRange)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), historyTimeout)
	defer cancel()
	h, err := s.opt.History(ctx, sess, from, to)
	if errors.Is(err, control.ErrUnknownMessage) || errors.Is(err, control.ErrProtocol) {
		// A monitor from before the history does not know the request.
		p := probNoHistory
		p.Detail = err.Error()
		writeProblem(w, p)
		return
	}
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	// Lists, never null: the page reads them as they are.
	if h.Minutes == nil {
		h.Minutes = [][4]int64{}
	}
	if h.Episodes == nil {
		h.Episodes = []control.HistoryEpisode{}
	}
	if h.Faults == nil {
		h.Faults = []control.HistoryFault{}
	}
	if h.Connections == nil {
		h.Connections = []control.HistoryConnection{}
	}
	h.Next = ""
	writeJSON(w, http.StatusOK, historyView{FromMillis: from.UnixMilli(), ToMillis: to.UnixMilli(), History: h,
		Summary: summaryOf(listener.HistorySummary(h, from, to))})
}
