// Package historytest builds sound histories for tests and benchmarks:
// realistic days of records, fed through the real Recorder.
package historytest

import (
	"time"

	"github.com/cradle-monitor/cradle/store/history"
)

// Options shape the days Fill writes. Zero fields take the defaults.
type Options struct {
	// LevelEvery is how often a level is fed (default 10 s: the records
	// are the same as with the monitor's 200 ms, only faster to build).
	LevelEvery time.Duration
	// Flush is how often the batch is written (default 1 h).
	Flush time.Duration
	// Prune, when set, is called every hour of the days (as the monitor
	// prunes).
	Prune func(now time.Time) error
}

// A day, from midnight: five wake-ups at night (2 to 15 min), a nap, a
// listener connected in the evening and a phone at night, one
// microphone fault of 2 min.
var wakeups = [][2]time.Duration{
	{20*time.Hour + 40*time.Minute, 20*time.Hour + 43*time.Minute},
	{23*time.Hour + 10*time.Minute, 23*time.Hour + 22*time.Minute},
	{2*time.Hour + 5*time.Minute, 2*time.Hour + 20*time.Minute},
	{4*time.Hour + 0*time.Minute, 4*time.Hour + 9*time.Minute},
	{6*time.Hour + 30*time.Minute, 6*time.Hour + 32*time.Minute},
	{13*time.Hour + 30*time.Minute, 13*time.Hour + 34*time.Minute},
}

// Fill writes days of history into db starting at from (wall clock right
// all along), as one boot, and returns the Recorder's last reading.
func Fill(db *history.DB, from time.Time, days int, o Options) error {
	if o.LevelEvery <= 0 {
		o.LevelEvery = 10 * time.Second
	}
	if o.Flush <= 0 {
		o.Flush = time.Hour
	}
	r := history.NewRecorder(history.Config{Attack: time.Second, Hold: 3 * time.Second}, db.Boot())
	end := time.Duration(days) * 24 * time.Hour
	now := func(m time.Duration) history.Now { return history.Now{Wall: from.Add(m), Mono: m} }
	nextFlush := o.Flush
	for m := time.Duration(0); m < end; m += o.LevelEvery {
		tod := m % (24 * time.Hour)
		loud := false
		for _, w := range wakeups {
			if tod >= w[0] && tod < w[1] {
				loud = true
			}
		}
		switch tod {
		case 19 * time.Hour:
			r.ConnOpen("kitchen", "listener", "Kitchen laptop", now(m))
		case 21 * time.Hour:
			r.ConnClose("kitchen", now(m))
			r.ConnOpen("phone", "phone", "Bedside phone", now(m))
		case 7 * time.Hour:
			r.ConnClose("phone", now(m))
		case 3 * time.Hour:
			r.Fault("microphone", true, now(m))
		case 3*time.Hour + 2*time.Minute:
			r.Fault("microphone", false, now(m))
		}
		if tod >= 3*time.Hour && tod < 3*time.Hour+2*time.Minute {
			r.Observe(now(m))
			continue
		}
		lvl := -62.0 + float64(m/o.LevelEvery%7)
		if loud {
			lvl = -18 + float64(m/o.LevelEvery%5)
		}
		r.Level(history.Level{Mono: m, RMSDBFS: lvl, PeakDBFS: lvl + 6, Noise: loud}, now(m))
		if o.Prune != nil && m%time.Hour == 0 {
			if err := o.Prune(from.Add(m)); err != nil {
				return err
			}
		}
		if m >= nextFlush {
			nextFlush += o.Flush
			if err := db.Apply(r.Flush(now(m), false)); err != nil {
				return err
			}
		}
	}
	return db.Apply(r.Flush(now(end), true))
}
