package monitor

import (
	"context"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/media"
)

// stallAfter is how long the microphone may deliver no level before the
// status reports control.FaultMicrophone.
const stallAfter = time.Second

// levelWatch is the status pump's pure core. It is fed each level as it
// arrives and, every level interval, says what the status carries:
//
//   - the latest level while it is fresh (at most one and a half
//     intervals old: levels and ticks share a period but not a phase, so
//     each level is carried by one tick, now and then by two); MinDBFS
//     and no noise otherwise, and before the first level: nothing heard;
//   - control.FaultMicrophone when the monitor's microphone is at fault
//     (noMic: no real microphone, or the Hub's fault, which the pump
//     refreshes before each tick), or when no level has arrived for more
//     than stallAfter (since the watch started, before the first level):
//     a stalled microphone.
type levelWatch struct {
	interval time.Duration
	noMic    bool        // set by the pump before each status
	start    time.Time   // when the watch started
	last     media.Level // the latest level
	lastAt   time.Time   // when it arrived; zero before the first
}

func newLevelWatch(interval time.Duration, noMic bool, now time.Time) *levelWatch {
	return &levelWatch{interval: interval, noMic: noMic, start: now}
}

// level records a level that arrived at now.
func (w *levelWatch) level(l media.Level, now time.Time) { w.last, w.lastAt = l, now }

// status returns the status due at now, without the listener counts.
func (w *levelWatch) status(now time.Time) control.Status {
	st := control.Status{RMSDBFS: media.MinDBFS, PeakDBFS: media.MinDBFS}
	heard := w.start
	if !w.lastAt.IsZero() {
		heard = w.lastAt
		if now.Sub(w.lastAt) <= w.interval*3/2 {
			st.RMSDBFS, st.PeakDBFS, st.Noise = w.last.RMSDBFS, w.last.PeakDBFS, w.last.Noise
		}
	}
	if w.noMic || now.Sub(heard) > stallAfter {
		st.Faults = []string{control.FaultMicrophone}
	}
	return st
}

// startStatus starts, once per connection, the goroutine that sends the
// status to a trusted listener: every level interval, whether or not a
// level arrived (so a stalled microphone shows as a fault rather than as
// silence on the control channel), and whether or not the listener
// streams. The microphone runs while any such goroutine does.
func (m *Monitor) startStatus(p *peer) {
	p.status.Do(func() {
		interval := m.hub.Config().LevelInterval
		sendTimeout := m.cfg.Heartbeat.WithDefaults().Interval
		m.parts.Go(func(ctx context.Context) error {
			// Subscribed here, not on the applier that starts the pump:
			// the first subscriber starts the microphone.
			sub, err := m.hub.SubscribeLevels()
			if err != nil {
				m.log.Error("no sound level for this listener", "conn", p.conn.ID(), "err", err)
				return nil
			}
			defer sub.Close()
			w := newLevelWatch(interval, m.noMicrophone(), m.now())
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-p.conn.Done():
					return nil
				case <-ctx.Done():
					return nil
				case lvl, ok := <-sub.C():
					if !ok {
						return nil
					}
					w.level(lvl, m.now())
				case <-tick.C:
					w.noMic = m.noMicrophone()
					st := w.status(m.now())
					if err := m.owner.run(func() { st = m.core.Status(st) }); err != nil {
						return nil
					}
					sctx, cancel := context.WithTimeout(ctx, sendTimeout)
					err := p.conn.Send(sctx, st)
					cancel()
					if err != nil && p.conn.Err() != nil {
						return nil
					}
				}
			}
		})
	})
}
