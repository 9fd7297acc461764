package cradlecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/store/history"
)

// maxSince is the longest --since: the longest range a history_request
// may name.
const maxSince = time.Duration(control.MaxHistoryRangeMillis) * time.Millisecond

// clockSkewNote: a monitor whose clock differs from this computer's by
// more than this is mentioned (a Pi reads 1970 until NTP answers).
const clockSkewNote = 2 * time.Minute

// history is `cradle history MONITOR [--since D] [--json]`: the night at
// a glance, read from the monitor's sound history (docs/PROTOCOL.md,
// section 5c).
func (e *env) history(args []string) (runner, error) {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	since := fs.Duration("since", 12*time.Hour, "how far back to look (a Go duration: 12h, 90m, 168h; at most 2208h, 92 days)")
	asJSON := fs.Bool("json", false, "print one JSON object (see README.md, \"What happened last night\")")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	target, err := parseTarget(fs, args)
	if err != nil {
		return nil, err
	}
	if target == "" || fs.NArg() > 1 || fs.NArg() == 1 && fs.Arg(0) != target {
		return nil, usageError("history needs one MONITOR (name, id or host:port)")
	}
	if *since <= 0 || *since > maxSince {
		return nil, usageError(fmt.Sprintf("--since takes a duration above 0 and at most %v (92 days), e.g. 12h", maxSince))
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		sess, m, err := e.request(ctx, l, target, *timeout)
		if err != nil {
			return err
		}
		defer sess.Close()
		now := time.Now()
		from := now.Add(-*since)
		h, err := listener.FetchHistory(ctx, sess, from, now)
		if err != nil {
			return historyError(m.Name, err)
		}
		rep := historyReport{Monitor: m.Name, Since: *since, From: from, To: now, H: h}
		if *asJSON {
			return rep.writeJSON(e.stdout, time.Local)
		}
		if note := clockNote(now, h.NowMillis, time.Local); note != "" {
			fmt.Fprintf(e.stderr, "cradle history: %s\n", note)
		}
		return rep.writeText(e.stdout, time.Local)
	}, nil
}

// historyError says what a failed history request means for a parent.
func historyError(name string, err error) error {
	var ce *control.Error
	switch {
	case errors.As(err, &ce) && ce.Code == control.CodeBadRequest && ce.Message != "":
		return fmt.Errorf("%s refused: %s", name, ce.Message)
	case errors.Is(err, control.ErrUnknownMessage), errors.Is(err, control.ErrProtocol):
		return fmt.Errorf("%s does not keep a sound history (its software is older than this listener's): update it (%w)", name, err)
	case errors.Is(err, listener.ErrHistoryTooLong):
		return fmt.Errorf("%s sent more history than this listener reads at once (%d pages): try a shorter --since (%w)", name, listener.MaxHistoryPages, err)
	}
	return err
}

// clockNote says, when the monitor's clock (nowMillis, as it answered)
// is more than clockSkewNote off this computer's (now), that its history
// is timed by it; "" when the clocks agree.
func clockNote(now time.Time, nowMillis int64, loc *time.Location) string {
	skew := time.UnixMilli(nowMillis).Sub(now)
	if skew <= clockSkewNote && skew >= -clockSkewNote {
		return ""
	}
	d, words := skew, "ahead of"
	if skew < 0 {
		d, words = -skew, "behind"
	}
	if d >= 48*time.Hour {
		words = fmt.Sprintf("%d days %s", d/(24*time.Hour), words)
	} else {
		words = history.FormatDuration(d) + " " + words
	}
	return fmt.Sprintf("the monitor's clock reads %s, %s this computer's: its history is timed by its own clock (has it reached a time server?)",
		time.UnixMilli(nowMillis).In(loc).Format(time.DateTime), words)
}

// historyReport is what cradle history prints: the history of [From, To)
// read from the monitor called Monitor.
type historyReport struct {
	Monitor  string
	Since    time.Duration
	From, To time.Time
	H        control.History
}

// historyJSON is cradle history --json: one object. Times are Unix
// milliseconds by the monitor's clock, levels in dBFS (the wire's tenths
// divided by 10), lengths in milliseconds. The lists are never null.
type historyJSON struct {
	Monitor     string           `json:"monitor"`
	FromMillis  int64            `json:"from_ms"`
	ToMillis    int64            `json:"to_ms"`
	NowMillis   int64            `json:"now_ms"` // the monitor's clock when it answered
	StepMillis  int64            `json:"step_ms"`
	Days        int              `json:"days"` // how many days the monitor keeps
	Summary     summaryJSON      `json:"summary"`
	Episodes    []episodeJSON    `json:"episodes"`
	Faults      []faultJSON      `json:"faults"`
	Connections []connectionJSON `json:"connections"`
	Minutes     []minuteJSON     `json:"minutes"`
}

// summaryJSON is history.Summary; NoiseSinceMillis is left out without
// noise going on, QuietSinceMillis without an ended episode (or with
// noise going on).
type summaryJSON struct {
	Wakeups          int    `json:"wakeups"`
	Short            int    `json:"short"`
	LongestMillis    int64  `json:"longest_ms"`
	Noise            bool   `json:"noise"`
	NoiseSinceMillis int64  `json:"noise_since_ms,omitempty"`
	QuietSinceMillis int64  `json:"quiet_since_ms,omitempty"`
	Text             string `json:"text"`
}

type episodeJSON struct {
	StartMillis  int64   `json:"start_ms"`
	EndMillis    int64   `json:"end_ms"`
	LengthMillis int64   `json:"length_ms"`
	PeakDBFS     float64 `json:"peak_dbfs"`
	Ongoing      bool    `json:"ongoing"`
}

type faultJSON struct {
	Fault        string `json:"fault"`
	StartMillis  int64  `json:"start_ms"`
	EndMillis    int64  `json:"end_ms"`
	LengthMillis int64  `json:"length_ms"`
	Ongoing      bool   `json:"ongoing"`
}

type connectionJSON struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	StartMillis int64  `json:"start_ms"`
	EndMillis   int64  `json:"end_ms"`
	Ongoing     bool   `json:"ongoing"`
}

type minuteJSON struct {
	StartMillis int64   `json:"start_ms"`
	MinDBFS     float64 `json:"min_dbfs"`
	MeanDBFS    float64 `json:"mean_dbfs"`
	MaxDBFS     float64 `json:"max_dbfs"`
}

func (r historyReport) summary() history.Summary {
	return listener.HistorySummary(r.H, r.From, r.To)
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (r historyReport) json(loc *time.Location) historyJSON {
	s := r.summary()
	out := historyJSON{
		Monitor: r.Monitor, FromMillis: r.From.UnixMilli(), ToMillis: r.To.UnixMilli(),
		NowMillis: r.H.NowMillis, StepMillis: r.H.StepMillis, Days: r.H.Days,
		Summary: summaryJSON{
			Wakeups: s.Wakeups, Short: s.Short, LongestMillis: s.Longest.Milliseconds(), Noise: s.Noise,
			NoiseSinceMillis: msOrZero(s.NoiseSince), QuietSinceMillis: msOrZero(s.QuietSince), Text: s.Text(loc),
		},
		Episodes:    make([]episodeJSON, 0, len(r.H.Episodes)),
		Faults:      make([]faultJSON, 0, len(r.H.Faults)),
		Connections: make([]connectionJSON, 0, len(r.H.Connections)),
		Minutes:     make([]minuteJSON, 0, len(r.H.Minutes)),
	}
	for _, p := range r.H.Episodes {
		out.Episodes = append(out.Episodes, episodeJSON{p.StartMillis, p.EndMillis, p.EndMillis - p.StartMillis, dbfs(p.PeakDecidB), p.Ongoing})
	}
	for _, f := range r.H.Faults {
		out.Faults = append(out.Faults, faultJSON{f.Fault, f.StartMillis, f.EndMillis, f.EndMillis - f.StartMillis, f.Ongoing})
	}
	for _, c := range r.H.Connections {
		out.Connections = append(out.Connections, connectionJSON{c.Name, c.Kind, c.StartMillis, c.EndMillis, c.Ongoing})
	}
	for _, m := range r.H.Minutes {
		out.Minutes = append(out.Minutes, minuteJSON{m[0], dbfs(m[1]), dbfs(m[2]), dbfs(m[3])})
	}
	return out
}

func (r historyReport) writeJSON(w io.Writer, loc *time.Location) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.json(loc))
}

// dbfs is a level on the wire (tenths of a dB) in dB.
func dbfs(ddb int64) float64 { return float64(ddb) / 10 }

// sinceWords says a --since the way it was likely typed: "12h", "90m",
// "1h30m".
func sinceWords(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return d.String()
	}
	return s
}

// clock formats a time of the history in loc: HH:MM when it is within a
// day of the range's end, else with its date (a connection that began
// days before the range, a --since of several days).
func (r historyReport) clock(ms int64, loc *time.Location) string {
	t := time.UnixMilli(ms).In(loc)
	if d := r.To.Sub(t); d < 23*time.Hour && d > -23*time.Hour {
		return t.Format("15:04")
	}
	return t.Format("Jan 02 15:04")
}

// writeText prints the summary line, then the noise, the faults and the
// connections as tables, or a line saying there were none.
func (r historyReport) writeText(w io.Writer, loc *time.Location) error {
	in := "in the last " + sinceWords(r.Since)
	fmt.Fprintf(w, "%s, the last %s: %s\n", r.Monitor, sinceWords(r.Since), r.summary().Text(loc))
	until := func(end int64, ongoing bool) string {
		if ongoing {
			return "now"
		}
		return r.clock(end, loc)
	}
	length := func(start, end int64) string {
		return history.FormatDuration(time.Duration(end-start) * time.Millisecond)
	}

	fmt.Fprintln(w)
	if len(r.H.Episodes) == 0 {
		fmt.Fprintf(w, "No noise %s.\n", in)
	} else {
		fmt.Fprintf(w, "Noise (%d):\n", len(r.H.Episodes))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FROM\tTO\tLENGTH\tPEAK")
		for _, p := range r.H.Episodes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%.1f dBFS\n", r.clock(p.StartMillis, loc), until(p.EndMillis, p.Ongoing), length(p.StartMillis, p.EndMillis), dbfs(p.PeakDecidB))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	if len(r.H.Faults) == 0 {
		fmt.Fprintf(w, "No microphone faults %s: the monitor could hear throughout.\n", in)
	} else {
		fmt.Fprintf(w, "Faults, when the monitor could not hear (%d):\n", len(r.H.Faults))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  WHAT\tFROM\tTO\tLENGTH")
		for _, f := range r.H.Faults {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Fault, r.clock(f.StartMillis, loc), until(f.EndMillis, f.Ongoing), length(f.StartMillis, f.EndMillis))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	if len(r.H.Connections) == 0 {
		fmt.Fprintf(w, "No listener connected %s.\n", in)
		return nil
	}
	fmt.Fprintf(w, "Listeners connected (%d):\n", len(r.H.Connections))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WHO\tFROM\tTO")
	for _, c := range r.H.Connections {
		who := c.Name
		if who == "" {
			who = "(no name)"
		}
		if c.Kind != "" {
			who += " (" + c.Kind + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", who, r.clock(c.StartMillis, loc), until(c.EndMillis, c.Ongoing))
	}
	return tw.Flush()
}
