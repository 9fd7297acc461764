package history

import (
	"sort"
	"time"
)

// Defaults of Config.
const (
	DefaultStep           = time.Minute
	DefaultGap            = 2 * time.Minute
	DefaultMaxSpan        = 12 * time.Hour
	DefaultMaxPerDay      = 500
	JumpTolerance         = 2 * time.Second
	defaultLevelSilence   = 2 * time.Second
	defaultMinuteLateness = 2 * time.Second
)

// Config tunes a Recorder. Zero fields take the defaults.
type Config struct {
	// Step is the length of a level record: a minute.
	Step time.Duration
	// Gap merges noise closer together than this into one episode.
	Gap time.Duration
	// Attack and Hold are the noise detector's (media.VoxConfig): an
	// episode starts Attack before the detector turned on, and ends Hold
	// before it turned off, when the sound really started and stopped.
	Attack, Hold time.Duration
	// MaxSpan is the longest interval one record holds: a longer episode,
	// fault or connection is kept as pieces of at most MaxSpan, so that a
	// time range is read from at most MaxSpan before its start.
	MaxSpan time.Duration
	// MaxPerDay bounds the fault and connection records started per day
	// (a listener that reconnects in a loop); the rest are counted in
	// Dropped and not kept.
	MaxPerDay int
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Step <= 0 {
		c.Step = DefaultStep
	}
	if c.Gap <= 0 {
		c.Gap = DefaultGap
	}
	if c.MaxSpan <= 0 {
		c.MaxSpan = DefaultMaxSpan
	}
	if c.MaxPerDay <= 0 {
		c.MaxPerDay = DefaultMaxPerDay
	}
	return c
}

// Now is a reading of both clocks: the wall clock (which may jump) and
// a monotonic clock (time since any fixed origin, the same for every
// reading given to one Recorder).
type Now struct {
	Wall time.Time
	Mono time.Duration
}

// Level is one sound level, as the monitor's meter measures it.
type Level struct {
	Mono     time.Duration // when its last sample was captured (monotonic)
	RMSDBFS  float64
	PeakDBFS float64
	Noise    bool // the noise detector's state after it
}

// Shift moves every record of Boot whose start is at or after From by
// Delta: the wall clock was corrected.
type Shift struct {
	Boot  uint32
	From  time.Time
	Delta time.Duration
}

// Batch is what one flush writes: shifts first, then puts (whose times
// already include the shifts).
type Batch struct {
	Shifts []Shift
	Puts   []Record
}

// Empty reports whether the batch writes nothing.
func (b Batch) Empty() bool { return len(b.Shifts) == 0 && len(b.Puts) == 0 }

// Recorder is the history's pure core: see the package doc. It is not
// safe for concurrent use.
type Recorder struct {
	cfg  Config
	boot uint32

	// base is the corrected wall time of monotonic zero; anchored once the
	// first reading set it.
	base     time.Time
	anchored bool
	// first is the earliest start of this boot's records, for Shift.
	first time.Time

	nextID  uint32
	pending map[string]Record

	acc      minuteAcc
	lastMin  time.Time // start of the last minute emitted
	recent   []peakAt  // peaks of the last Attack, for an episode's start
	noise    bool
	stale    bool // ignore the detector's noise until it reads quiet once
	lastLvl  time.Duration
	heard    bool
	ep       *Record // the episode not yet final: noisy, or within Gap
	faults   map[string]*Record
	conns    map[string]*Record
	dayStart time.Time
	dayCount int
	shifts   []Shift

	// Dropped counts fault and connection records not kept (MaxPerDay).
	Dropped int
}

type peakAt struct {
	mono time.Duration
	peak float64
}

type minuteAcc struct {
	active bool
	start  time.Time
	n      int
	sumPow float64
	lo, hi float64
}

// NewRecorder returns a recorder for boot (DB.Boot).
func NewRecorder(cfg Config, boot uint32) *Recorder {
	return &Recorder{cfg: cfg.WithDefaults(), boot: boot, nextID: 1, pending: map[string]Record{},
		faults: map[string]*Record{}, conns: map[string]*Record{}}
}

// Boot is the boot this recorder writes.
func (r *Recorder) Boot() uint32 { return r.boot }

// at is the corrected wall time of a monotonic reading, to the ms.
func (r *Recorder) at(mono time.Duration) time.Time {
	return r.base.Add(mono).Truncate(time.Millisecond)
}

// Observe feeds a clock reading: it anchors the clock, detects a jump,
// and closes what time alone closes (a minute, an episode past its gap,
// noise whose levels stopped). Call it every second or so.
func (r *Recorder) Observe(now Now) {
	r.clock(now)
	t := r.at(now.Mono)
	if r.acc.active && !t.Before(r.acc.start.Add(r.cfg.Step+defaultMinuteLateness)) {
		r.emitMinute()
	}
	if r.noise && now.Mono-r.lastLvl > defaultLevelSilence {
		// The levels stopped (a microphone stall): the noise ended with
		// them, and the detector's noise when they resume is stale.
		r.noiseOff(r.lastLvl, 0)
		r.stale = true
	}
	if r.ep != nil && !r.noise && !t.Before(r.ep.End.Add(r.cfg.Gap)) {
		r.put(*r.ep)
		r.ep = nil
	}
}

// clock anchors the monotonic clock to the wall clock, and moves the
// anchor (and this boot's records) when the wall clock jumped.
func (r *Recorder) clock(now Now) {
	wall := now.Wall.Round(0)
	if !r.anchored {
		r.base, r.anchored = wall.Add(-now.Mono), true
		return
	}
	delta := wall.Sub(r.base.Add(now.Mono))
	if delta < JumpTolerance && delta > -JumpTolerance {
		return
	}
	delta = delta.Truncate(time.Millisecond)
	r.base = r.base.Add(delta)
	if !r.first.IsZero() {
		r.shifts = append(r.shifts, Shift{Boot: r.boot, From: r.first, Delta: delta})
		r.first = r.first.Add(delta)
	}
	moved := make(map[string]Record, len(r.pending))
	for _, p := range r.pending {
		p.Start, p.End = p.Start.Add(delta), p.End.Add(delta)
		moved[string(p.key())] = p
	}
	r.pending = moved
	if !r.lastMin.IsZero() {
		r.lastMin = r.lastMin.Add(delta)
	}
	// The minute in progress ends at the jump, moved with the rest.
	if r.acc.active {
		r.emitMinuteShifted(delta)
	}
	for _, p := range r.openRecords() {
		p.Start, p.End = p.Start.Add(delta), p.End.Add(delta)
	}
	r.dayStart = r.dayStart.Add(delta)
}

func (r *Recorder) openRecords() []*Record {
	var out []*Record
	if r.ep != nil {
		out = append(out, r.ep)
	}
	for _, f := range r.faults {
		out = append(out, f)
	}
	for _, c := range r.conns {
		out = append(out, c)
	}
	return out
}

// Level feeds one sound level; now is when it arrived.
func (r *Recorder) Level(l Level, now Now) {
	r.clock(now)
	t := r.at(l.Mono)
	m := t.Truncate(r.cfg.Step)
	if !r.lastMin.IsZero() && !m.After(r.lastMin) && !(r.acc.active && m.Equal(r.acc.start)) {
		m = time.Time{} // its minute was written already: the level counts for noise only
	}
	if !m.IsZero() {
		if r.acc.active && !m.Equal(r.acc.start) {
			r.emitMinute()
		}
		if !r.acc.active {
			r.acc = minuteAcc{active: true, start: m, lo: l.RMSDBFS, hi: l.RMSDBFS}
		}
		r.acc.n++
		r.acc.sumPow += pow(l.RMSDBFS)
		r.acc.lo, r.acc.hi = min(r.acc.lo, l.RMSDBFS), max(r.acc.hi, l.RMSDBFS)
	}

	r.lastLvl, r.heard = l.Mono, true
	r.recent = append(r.recent, peakAt{l.Mono, l.PeakDBFS})
	cut := 0
	for cut < len(r.recent) && l.Mono-r.recent[cut].mono > r.cfg.Attack {
		cut++
	}
	r.recent = r.recent[cut:]
	if r.stale {
		r.stale = l.Noise
		l.Noise = false
	}
	switch {
	case l.Noise && !r.noise:
		r.noiseOn(l.Mono)
	case !l.Noise && r.noise:
		r.noiseOff(l.Mono, r.cfg.Hold)
	case l.Noise:
		r.ep.End = t
		r.ep.Peak = max(r.ep.Peak, l.PeakDBFS)
	}
}

func (r *Recorder) noiseOn(mono time.Duration) {
	r.noise = true
	start := r.at(mono - r.cfg.Attack)
	peak := -120.0
	for _, p := range r.recent {
		peak = max(peak, p.peak)
	}
	if r.ep != nil && start.Sub(r.ep.End) < r.cfg.Gap {
		r.ep.End, r.ep.Open = r.at(mono), true
		r.ep.Peak = max(r.ep.Peak, peak)
		return
	}
	if r.ep != nil {
		r.put(*r.ep)
	}
	r.ep = &Record{Kind: KindEpisode, Boot: r.boot, ID: r.id(), Start: start, End: r.at(mono), Open: true, Peak: peak}
	r.note(start)
}

// noiseOff ends the noise at mono - back (clamped to the episode).
func (r *Recorder) noiseOff(mono, back time.Duration) {
	r.noise = false
	if r.ep == nil {
		return
	}
	end := r.at(mono - back)
	if end.Before(r.ep.Start) {
		end = r.ep.Start
	}
	r.ep.End, r.ep.Open = end, false
}

func (r *Recorder) emitMinute() { r.emitMinuteShifted(0) }

func (r *Recorder) emitMinuteShifted(delta time.Duration) {
	a := r.acc
	r.acc = minuteAcc{}
	if !a.active || a.n == 0 {
		return
	}
	start := a.start.Add(delta)
	rec := Record{Kind: KindMinute, Boot: r.boot, Start: start, End: start.Add(r.cfg.Step),
		Min: a.lo, Mean: fromPow(a.sumPow / float64(a.n)), Max: a.hi, Count: a.n}
	r.lastMin = start
	r.note(start)
	r.put(rec)
}

// Fault feeds a fault's change: on when label (control.FaultMicrophone)
// began, off when it cleared.
func (r *Recorder) Fault(label string, on bool, now Now) {
	r.clock(now)
	t := r.at(now.Mono)
	f, open := r.faults[label]
	switch {
	case on && !open:
		if !r.allow(t) {
			return
		}
		r.faults[label] = &Record{Kind: KindFault, Boot: r.boot, ID: r.id(), Start: t, End: t, Open: true, Label: clip(label, MaxLabelLen)}
		r.note(t)
	case !on && open:
		f.End, f.Open = t, false
		r.put(*f)
		delete(r.faults, label)
	}
}

// ConnOpen records that a trusted listener (label "listener") or phone
// ("phone") called name connected; id is the caller's key for it.
func (r *Recorder) ConnOpen(id, label, name string, now Now) {
	r.clock(now)
	t := r.at(now.Mono)
	if _, open := r.conns[id]; open || !r.allow(t) {
		return
	}
	r.conns[id] = &Record{Kind: KindConn, Boot: r.boot, ID: r.id(), Start: t, End: t, Open: true,
		Label: clip(label, MaxLabelLen), Name: clip(name, MaxNameLen)}
	r.note(t)
}

// ConnClose records that the connection id ended.
func (r *Recorder) ConnClose(id string, now Now) {
	r.clock(now)
	c, open := r.conns[id]
	if !open {
		return
	}
	c.End, c.Open = r.at(now.Mono), false
	r.put(*c)
	delete(r.conns, id)
}

// allow counts one more fault or connection record in the day that t
// falls in, and says whether it is kept.
func (r *Recorder) allow(t time.Time) bool {
	if r.dayStart.IsZero() || t.Sub(r.dayStart) >= 24*time.Hour || t.Before(r.dayStart) {
		r.dayStart, r.dayCount = t, 0
	}
	if r.dayCount >= r.cfg.MaxPerDay {
		r.Dropped++
		return false
	}
	r.dayCount++
	return true
}

func (r *Recorder) id() uint32 {
	id := r.nextID
	r.nextID++
	return id
}

func (r *Recorder) note(t time.Time) {
	if r.first.IsZero() || t.Before(r.first) {
		r.first = t
	}
}

func (r *Recorder) put(rec Record) { r.pending[string(rec.key())] = rec }

// Live returns, without changing anything, what a Flush at now would
// write and the minute in progress: what a reader sees beyond the file
// (DB.Read's overlay). Sorted by key.
func (r *Recorder) Live(now Now) []Record {
	t := r.base.Add(now.Mono).Truncate(time.Millisecond)
	out := make([]Record, 0, len(r.pending)+4)
	for _, p := range r.pending {
		out = append(out, p)
	}
	for _, p := range r.openRecords() {
		c := *p
		if c.Open && c.Kind != KindEpisode {
			c.End = t
		}
		out = append(out, c)
	}
	if a := r.acc; a.active && a.n > 0 {
		out = append(out, Record{Kind: KindMinute, Boot: r.boot, Start: a.start, End: a.start.Add(r.cfg.Step), Open: true,
			Min: a.lo, Mean: fromPow(a.sumPow / float64(a.n)), Max: a.hi, Count: a.n})
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].key()) < string(out[j].key()) })
	return out
}

// Flush returns what to write now: the shifts and records finished since
// the last flush, and the intervals going on, as open records ending at
// now (a later flush rewrites them). An interval longer than MaxSpan is
// cut at now and goes on in a new record. With final (the monitor
// stops), the minute in progress is written too.
func (r *Recorder) Flush(now Now, final bool) Batch {
	r.Observe(now)
	t := r.at(now.Mono)
	if final && r.acc.active {
		r.emitMinute()
	}
	for _, p := range r.openRecords() {
		if t.Sub(p.Start) < r.cfg.MaxSpan || (p.Kind == KindEpisode && !p.Open) {
			continue
		}
		piece := *p
		piece.End, piece.Open = t, false
		r.put(piece)
		p.Start, p.End, p.ID = t, t, r.id()
	}
	b := Batch{Shifts: r.shifts}
	r.shifts = nil
	for _, p := range r.pending {
		b.Puts = append(b.Puts, p)
	}
	r.pending = map[string]Record{}
	for _, p := range r.openRecords() {
		c := *p
		if c.Open && c.Kind != KindEpisode {
			c.End = t
		}
		b.Puts = append(b.Puts, c)
	}
	sort.Slice(b.Puts, func(i, j int) bool { return string(b.Puts[i].key()) < string(b.Puts[j].key()) })
	return b
}
