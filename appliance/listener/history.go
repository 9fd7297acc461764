package listener

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/store/history"
)

// MaxHistoryPages bounds the pages FetchHistory reads for one range: a
// monitor that keeps sending a next page cannot keep a listener busy (a
// monitor's 30 days take about 25 pages).
const MaxHistoryPages = 200

// ErrHistoryTooLong is returned by FetchHistory when a range takes more
// than MaxHistoryPages pages.
var ErrHistoryTooLong = errors.New("listener: the monitor's history did not end within the page limit")

// History asks the monitor for one page of its sound history (see
// control.HistoryRequest). Requests on one session are asked one at a
// time: the monitor's answer does not say which request it answers.
func (s *Session) History(ctx context.Context, req control.HistoryRequest) (control.History, error) {
	select {
	case s.historyMu <- struct{}{}:
	case <-ctx.Done():
		return control.History{}, ctx.Err()
	}
	defer func() { <-s.historyMu }()
	r, err := s.ask(ctx, req)
	if err != nil {
		return control.History{}, err
	}
	if r.Err != nil {
		return control.History{}, r.Err
	}
	h, _ := r.Msg.(control.History)
	return h, nil
}

// HistoryAsker is what FetchHistory reads from: a Session.
type HistoryAsker interface {
	History(ctx context.Context, req control.HistoryRequest) (control.History, error)
}

// FetchHistory reads every page of the monitor's history that overlaps
// [from, to) and returns them as one History (the last page's now, step
// and days). A range longer than control.MaxHistoryRangeMillis is cut to
// its last part.
func FetchHistory(ctx context.Context, s HistoryAsker, from, to time.Time) (control.History, error) {
	return FetchHistoryStep(ctx, s, from, to, 0)
}

// FetchHistoryStep is FetchHistory with level records of step (see
// control.HistoryRequest.StepMillis; 0: the monitor's own).
func FetchHistoryStep(ctx context.Context, s HistoryAsker, from, to time.Time, step time.Duration) (control.History, error) {
	if to.Sub(from) > time.Duration(control.MaxHistoryRangeMillis)*time.Millisecond {
		from = to.Add(-time.Duration(control.MaxHistoryRangeMillis) * time.Millisecond)
	}
	req := control.HistoryRequest{FromMillis: from.UnixMilli(), ToMillis: to.UnixMilli(), StepMillis: step.Milliseconds()}
	var all control.History
	for range MaxHistoryPages {
		p, err := s.History(ctx, req)
		if err != nil {
			return control.History{}, err
		}
		all.NowMillis, all.StepMillis, all.Days = p.NowMillis, p.StepMillis, p.Days
		all.Minutes = append(all.Minutes, p.Minutes...)
		all.Episodes = append(all.Episodes, p.Episodes...)
		all.Faults = append(all.Faults, p.Faults...)
		all.Connections = append(all.Connections, p.Connections...)
		if p.Next == "" {
			return all, nil
		}
		if p.Next == req.After {
			return control.History{}, fmt.Errorf("%w (the monitor repeated a page)", ErrHistoryTooLong)
		}
		req.After = p.Next
	}
	return control.History{}, ErrHistoryTooLong
}

// HistoryRecords turns the episodes, faults and connections of a history
// into the store's records (levels are left out), for history.Summarize.
func HistoryRecords(h control.History) []history.Record {
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	out := make([]history.Record, 0, len(h.Episodes)+len(h.Faults)+len(h.Connections))
	for _, e := range h.Episodes {
		out = append(out, history.Record{Kind: history.KindEpisode, Start: ms(e.StartMillis), End: ms(e.EndMillis), Open: e.Ongoing, Peak: float64(e.PeakDecidB) / 10})
	}
	for _, f := range h.Faults {
		out = append(out, history.Record{Kind: history.KindFault, Start: ms(f.StartMillis), End: ms(f.EndMillis), Open: f.Ongoing, Label: f.Fault})
	}
	for _, c := range h.Connections {
		out = append(out, history.Record{Kind: history.KindConn, Start: ms(c.StartMillis), End: ms(c.EndMillis), Open: c.Ongoing, Label: c.Kind, Name: c.Name})
	}
	return out
}

// HistorySummary summarizes the episodes of h that overlap [from, to).
func HistorySummary(h control.History, from, to time.Time) history.Summary {
	return history.Summarize(HistoryRecords(h), from, to, 0)
}
