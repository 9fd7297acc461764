package conformance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// History limits Run checks (docs/PROTOCOL.md section 5c).
const (
	// MaxHistoryRecords is the most records one history page may hold.
	MaxHistoryRecords = 2000
	// MaxHistoryPages bounds the pages of the longest range: as many as
	// Cradle's listener reads for one range before it gives up.
	MaxHistoryPages = 200
)

// Names of the history checks.
const (
	historyStrangerName = "trust gate: history_request from an unpaired listener gets error untrusted, then close untrusted (2), and no history"
	historyPagesName    = "history: the longest range (92 days) comes in pages of at most 2000 records, each frame within 64 KiB, in start order, the last without next"
	historyBadName      = "history: a range over 92 days, ending before it starts or from before 1970, and a cursor that is not one, get error bad_request and the connection stays"
)

// checkHistoryStranger sends history_request as a stranger: the monitor
// must refuse it with untrusted and close, and send no history. With the
// pairing window closed, the monitor closes a stranger with
// pairing_closed right after hello_ack, whichever comes first.
func (r *runner) checkHistoryStranger() error {
	c, ack, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	now := time.Now().UnixMilli()
	if err := c.send(control.HistoryRequest{FromMillis: now - 12*3600*1000, ToMillis: now}); err != nil && ack.PairingOpen {
		return err
	}
	msgs, code, err := c.closing(r.opts.Wait + transport.CloseLinger)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, ok := m.(control.History); ok {
			return errors.New("the monitor sent its history to a stranger")
		}
	}
	if !ack.PairingOpen && code == control.CodePairingClosed {
		return nil // closed before the request was read: nothing answered either
	}
	if code != control.CodeUntrusted {
		return fmt.Errorf("closed with %v (%d), want untrusted (2)", code, code.QUIC())
	}
	if len(msgs) == 0 {
		return errors.New("closed with untrusted but no error frame came before the close")
	}
	em, ok := msgs[len(msgs)-1].(control.ErrorMsg)
	if !ok || em.Code != control.CodeUntrusted.String() || em.Ref != control.TypeHistoryRequest {
		return fmt.Errorf("last frame before the close is %s, want error untrusted (ref history_request)", describe(msgs[len(msgs)-1]))
	}
	return nil
}

// trustedSession returns a trusted connection, or skipped when Run has
// no trusted identity.
func (r *runner) trustedSession() (*wire, error) {
	id := r.opts.Trusted
	if id == nil {
		id = r.paired
	}
	if id == nil {
		return nil, skipped("no trusted identity given and no pairing done")
	}
	c, ack, err := r.session(id)
	if err != nil {
		return nil, err
	}
	if !ack.Trusted {
		c.close()
		return nil, errors.New("hello_ack says untrusted")
	}
	return c, nil
}

// historyPage sends req and reads its answer: a history page and the
// size of its frame's payload, or the error the monitor answered.
func (r *runner) historyPage(c *wire, req control.HistoryRequest) (control.History, int, error) {
	if err := c.send(req); err != nil {
		return control.History{}, 0, err
	}
	deadline := time.Now().Add(r.opts.Wait)
	for {
		m, n, err := c.nextSized(time.Until(deadline))
		if err != nil {
			return control.History{}, 0, fmt.Errorf("no history page: %w", err)
		}
		switch m := m.(type) {
		case control.Ping:
			_ = c.send(control.Pong{Seq: m.Seq, Echo: m.Sent})
		case control.History:
			return m, n, nil
		case control.ErrorMsg:
			return control.History{}, n, refused{m}
		default:
			if control.IsNotice(m.MessageType()) {
				continue // a notice, at any time
			}
			return control.History{}, n, fmt.Errorf("answered %s, want history", describe(m))
		}
	}
}

// refused: the monitor answered a history_request with an error.
type refused struct{ control.ErrorMsg }

func (r refused) Error() string { return "answered " + describe(r.ErrorMsg) }

// checkHistoryPages reads the longest range a request may name, page by
// page, and checks each page's bounds and order.
func (r *runner) checkHistoryPages() error {
	c, err := r.trustedSession()
	if err != nil {
		return err
	}
	defer c.close()
	to := time.Now().UnixMilli()
	req := control.HistoryRequest{FromMillis: to - control.MaxHistoryRangeMillis, ToMillis: to}
	lastStart := int64(-1) // the latest start of the pages so far
	records, largest := 0, 0
	for page := 1; ; page++ {
		if page > MaxHistoryPages {
			return fmt.Errorf("still a next page after %d pages", MaxHistoryPages)
		}
		h, size, err := r.historyPage(c, req)
		var no refused
		if page == 1 && errors.As(err, &no) && no.Code == control.CodeBadRequest.String() && strings.Contains(no.Message, "no history") {
			return skipped("the monitor keeps no history: " + no.Message)
		}
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		if err := checkPage(h, req, size, &lastStart); err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		records += len(h.Minutes) + len(h.Episodes) + len(h.Faults) + len(h.Connections)
		largest = max(largest, size)
		if h.Next == "" {
			if err := c.alive(r.opts.Wait, 21); err != nil {
				return err
			}
			return measured(fmt.Sprintf("%d records in %d pages, the largest %d bytes", records, page, largest))
		}
		if h.Next == req.After {
			return fmt.Errorf("page %d: next repeats the cursor it was asked with", page)
		}
		req.After = h.Next
	}
}

// checkPage checks one history page of req: its size, its record count,
// that every record overlaps the range, and the start-time order within
// each list and after the pages before it (lastStart).
func checkPage(h control.History, req control.HistoryRequest, size int, lastStart *int64) error {
	n := len(h.Minutes) + len(h.Episodes) + len(h.Faults) + len(h.Connections)
	switch {
	case size > control.MaxFrame:
		return fmt.Errorf("a frame of %d bytes, over 64 KiB", size)
	case n > MaxHistoryRecords:
		return fmt.Errorf("%d records, over %d", n, MaxHistoryRecords)
	case h.StepMillis <= 0 || h.Days <= 0:
		return fmt.Errorf("step_ms %d, days %d: both must be positive", h.StepMillis, h.Days)
	}
	type span struct {
		what       string
		start, end int64
	}
	lists := make([][]span, 4)
	for _, m := range h.Minutes {
		lists[0] = append(lists[0], span{"minute", m[0], m[0] + h.StepMillis})
	}
	for _, e := range h.Episodes {
		lists[1] = append(lists[1], span{"episode", e.StartMillis, e.EndMillis})
	}
	for _, f := range h.Faults {
		lists[2] = append(lists[2], span{"fault", f.StartMillis, f.EndMillis})
	}
	for _, c := range h.Connections {
		lists[3] = append(lists[3], span{"connection", c.StartMillis, c.EndMillis})
	}
	first, last := int64(-1), int64(-1)
	for _, l := range lists {
		for i, s := range l {
			switch {
			case s.end < s.start:
				return fmt.Errorf("a %s ends (%d) before it starts (%d)", s.what, s.end, s.start)
			case s.start >= req.ToMillis || s.end <= req.FromMillis:
				return fmt.Errorf("a %s [%d, %d) outside the range [%d, %d)", s.what, s.start, s.end, req.FromMillis, req.ToMillis)
			case i > 0 && s.start < l[i-1].start:
				return fmt.Errorf("the %ss are not in start order (%d after %d)", s.what, s.start, l[i-1].start)
			}
			if first < 0 || s.start < first {
				first = s.start
			}
			last = max(last, s.start)
		}
	}
	if first >= 0 && first < *lastStart {
		return fmt.Errorf("a record starts at %d, before one of an earlier page (%d)", first, *lastStart)
	}
	*lastStart = max(*lastStart, last)
	return nil
}

// checkHistoryBad asks for ranges the monitor must refuse with
// bad_request, on one connection that must stay up.
func (r *runner) checkHistoryBad() error {
	c, err := r.trustedSession()
	if err != nil {
		return err
	}
	defer c.close()
	now := time.Now().UnixMilli()
	for i, req := range []control.HistoryRequest{
		{FromMillis: 0, ToMillis: now},
		{FromMillis: now - control.MaxHistoryRangeMillis - 1, ToMillis: now},
		{FromMillis: now, ToMillis: now - 1},
		{FromMillis: -3600000, ToMillis: 0},
		{FromMillis: now - 3600000, ToMillis: now, After: "not a cursor!"},
	} {
		if err := c.send(req); err != nil {
			return err
		}
		if err := c.expectError(r.opts.Wait, control.CodeBadRequest, control.TypeHistoryRequest); err != nil {
			return fmt.Errorf("from_ms %d, to_ms %d, after %q: %w", req.FromMillis, req.ToMillis, req.After, err)
		}
		if err := c.alive(r.opts.Wait, uint64(30+i)); err != nil {
			return fmt.Errorf("after bad_request: %w", err)
		}
	}
	return nil
}
