package history

import (
	"fmt"
	"strings"
	"time"
)

// DefaultWakeMin is the shortest episode Summarize counts as a wake-up;
// shorter ones are short noises (a cough, a turn in the cot).
const DefaultWakeMin = time.Minute

// Summary is a night's episodes in a few numbers.
type Summary struct {
	Wakeups int           // episodes of at least the wake-up length
	Short   int           // shorter episodes
	Longest time.Duration // the longest episode (any length)
	// Noise says an episode is going on now, since NoiseSince.
	Noise      bool
	NoiseSince time.Time
	// QuietSince is when the last episode ended (zero: none, or noise now).
	QuietSince time.Time
}

// Summarize counts the episodes among recs (other kinds are ignored)
// that overlap [from, to). An episode counts as a wake-up when it lasted
// at least wakeMin (0: DefaultWakeMin), as a short noise when it ended
// sooner; one going on and still shorter is only Noise.
func Summarize(recs []Record, from, to time.Time, wakeMin time.Duration) Summary {
	if wakeMin <= 0 {
		wakeMin = DefaultWakeMin
	}
	var s Summary
	var last time.Time
	for _, r := range recs {
		if r.Kind != KindEpisode || !r.End.After(from) && !r.Start.Equal(from) || !r.Start.Before(to) {
			continue
		}
		d := r.End.Sub(r.Start)
		switch {
		case d >= wakeMin:
			s.Wakeups++
		case !r.Open:
			s.Short++
			// An episode going on and still short is neither yet: it is
			// "noise now".
		}
		s.Longest = max(s.Longest, d)
		if r.Open {
			s.Noise, s.NoiseSince = true, r.Start
		}
		if r.End.After(last) {
			last = r.End
		}
	}
	if !s.Noise {
		s.QuietSince = last
	}
	return s
}

// Text is the summary in one line, times in loc: "3 wake-ups, the
// longest 12 min, quiet since 04:10".
func (s Summary) Text(loc *time.Location) string {
	var parts []string
	switch s.Wakeups {
	case 0:
		parts = append(parts, "no wake-ups")
	case 1:
		parts = append(parts, "1 wake-up")
	default:
		parts = append(parts, fmt.Sprintf("%d wake-ups", s.Wakeups))
	}
	if s.Wakeups > 0 {
		parts = append(parts, "the longest "+FormatDuration(s.Longest))
	}
	switch s.Short {
	case 0:
	case 1:
		parts = append(parts, "1 short noise")
	default:
		parts = append(parts, fmt.Sprintf("%d short noises", s.Short))
	}
	switch {
	case s.Noise:
		parts = append(parts, "noise now (since "+s.NoiseSince.In(loc).Format("15:04")+")")
	case !s.QuietSince.IsZero():
		parts = append(parts, "quiet since "+s.QuietSince.In(loc).Format("15:04"))
	default:
		parts = append(parts, "quiet throughout")
	}
	return strings.Join(parts, ", ")
}

// FormatDuration says a length as a parent reads it: "40 s", "12 min",
// "1 h 05 min".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %02d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// Night hours: a night runs from NightStart to NightEnd the next day,
// in local time.
const (
	NightStart = 18
	NightEnd   = 10
)

// Night returns the night back nights before the latest one that has
// started at now, in now's location: [18:00, 10:00 the next day).
func Night(now time.Time, back int) (from, to time.Time) {
	y, m, d := now.Date()
	from = time.Date(y, m, d, NightStart, 0, 0, 0, now.Location())
	if now.Before(from) {
		from = from.AddDate(0, 0, -1)
	}
	from = from.AddDate(0, 0, -back)
	y, m, d = from.Date()
	to = time.Date(y, m, d+1, NightEnd, 0, 0, 0, now.Location())
	return from, to
}
