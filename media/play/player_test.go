package play

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// manualOutput is an Output the test drives: step calls the player's fill
// as the device would, with the fake clock advanced by 10 ms.
type manualOutput struct {
	fill     func([]int16)
	clock    *fakeClock
	closed   int
	startErr error
}

func (o *manualOutput) Start(fill func([]int16)) error { o.fill = fill; return o.startErr }
func (o *manualOutput) Name() string                   { return "manual" }
func (o *manualOutput) Close() error                   { o.closed++; return nil }

// step plays n periods of 10 ms and returns what the device got.
func (o *manualOutput) step(n int) []int16 {
	var out []int16
	buf := make([]int16, 480)
	for range n {
		o.clock.advance(10 * ms)
		o.fill(buf)
		out = append(out, buf...)
	}
	return out
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestPlayer returns a player on a manual output; feed writes frame i
// (a 440 Hz tone at amplitude) then plays one period, as a steady network
// and device would.
func newTestPlayer(t *testing.T, cfg Config) (*Player, *manualOutput) {
	t.Helper()
	clk := &fakeClock{now: t0}
	cfg.Now = clk.Now
	out := &manualOutput{clock: clk}
	p, err := NewPlayer(out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, out
}

type feeder struct {
	p   *Player
	out *manualOutput
	i   int
}

// play writes n frames of a 440 Hz tone at amplitude, one per period, and
// returns what was played meanwhile.
func (f *feeder) play(n int, amplitude float64) []int16 {
	var got []int16
	for range n {
		f.p.Write(frame10(f.i, amplitude))
		f.i++
		got = append(got, f.out.step(1)...)
	}
	return got
}

func TestPlayerPlaysNurseryAtVolume(t *testing.T) {
	for _, tt := range []struct {
		volume   float64
		wantPeak int
	}{
		{1, fullScaleOf(0.3)},
		{0.5, fullScaleOf(0.15)},
		{2, fullScaleOf(0.6)},
	} {
		p, out := newTestPlayer(t, Config{Volume: tt.volume})
		f := &feeder{p: p, out: out}
		got := f.play(50, 0.3)
		if got := dominantHz(got[4800:]); got != 440 {
			t.Errorf("volume %v: dominant %v Hz, want 440", tt.volume, got)
		}
		if p := peak(got); p < tt.wantPeak-tt.wantPeak/50 || p > tt.wantPeak+tt.wantPeak/50 {
			t.Errorf("volume %v: peak %d, want about %d", tt.volume, p, tt.wantPeak)
		}
		st := p.Stats()
		if st.FramesWritten != 50 || st.FramesPlayed < 49 || st.Periods != 50 {
			t.Errorf("volume %v: stats %+v", tt.volume, st)
		}
	}
}

func TestPlayerSaturates(t *testing.T) {
	p, out := newTestPlayer(t, Config{Volume: 2})
	f := &feeder{p: p, out: out}
	p.SetAlarm(true)
	got := f.play(50, 0.9)
	if peak(got) != 32767 && peak(got) != 32768 {
		t.Errorf("peak %d: a loud mix must clip at full scale, not wrap", peak(got))
	}
	for i := 1; i < len(got); i++ {
		if d := int(got[i]) - int(got[i-1]); d > 40000 || d < -40000 {
			t.Fatalf("sample %d jumps by %d: the mix wrapped around", i, d)
		}
	}
}

func TestPlayerMute(t *testing.T) {
	p, out := newTestPlayer(t, Config{Mute: true})
	f := &feeder{p: p, out: out}
	if got := f.play(30, 0.3); peak(got) != 0 {
		t.Errorf("muted nursery played, peak %d", peak(got))
	}
	p.SetAlarm(true)
	got := f.play(30, 0.3)
	if power(got, AlarmHzLow) < 100*power(got, 440) {
		t.Error("the alarm must sound over a muted nursery, alone")
	}
	p.SetAlarm(false)
	f.play(30, 0.3) // the alarm finishes its tone
	p.SetMute(false)
	if got := f.play(30, 0.3); dominantHz(got) != 440 {
		t.Error("unmuted nursery not played")
	}
	if st := p.Stats(); st.AlarmOn || st.Muted {
		t.Errorf("stats %+v", p.Stats())
	}
}

func TestPlayerVOX(t *testing.T) {
	p, out := newTestPlayer(t, Config{VOX: true, VoxHold: 200 * ms})
	f := &feeder{p: p, out: out}
	if got := f.play(50, 0.001); peak(got) != 0 {
		t.Errorf("VOX passed a quiet nursery (peak %d)", peak(got))
	}
	if p.Stats().VoxOpen {
		t.Error("VOX open on a quiet nursery")
	}
	p.SetAlarm(true)
	if got := f.play(30, 0.001); power(got, AlarmHzLow) == 0 {
		t.Error("VOX gated the alarm")
	}
	p.SetAlarm(false)
	f.play(30, 0.001)
	got := f.play(50, 0.3)
	if peak(got[:2400]) != 0 { // closed for the attack
		t.Error("VOX opened before the attack time")
	}
	if dominantHz(got[4800:]) != 440 || !p.Stats().VoxOpen {
		t.Error("VOX did not open on a loud nursery")
	}
	got = f.play(40, 0.001)
	if peak(got[:4800]) == 0 {
		t.Error("VOX closed at once instead of holding")
	}
	if peak(got[len(got)-4800:]) != 0 || p.Stats().VoxOpen {
		t.Error("VOX did not close after the hold")
	}
}

func TestPlayerAlarmMixedOverNursery(t *testing.T) {
	p, out := newTestPlayer(t, Config{})
	f := &feeder{p: p, out: out}
	f.play(10, 0.3)
	p.SetAlarm(true)
	got := f.play(150, 0.3) // 1.5 s: two alarm periods
	for _, hz := range []float64{440, AlarmHzLow, AlarmHzHigh} {
		if power(got, hz) < 100*power(got, 1250) {
			t.Errorf("no %v Hz in the mix", hz)
		}
	}
	if !p.Stats().AlarmOn {
		t.Error("stats: alarm off")
	}
	p.SetAlarm(false)
	got = f.play(50, 0.3)
	if power(got[len(got)/2:], AlarmHzLow) > power(got[len(got)/2:], 440)/1000 || power(got[len(got)/2:], AlarmHzHigh) > power(got[len(got)/2:], 440)/1000 {
		t.Error("the alarm goes on 250 ms after SetAlarm(false)")
	}
}

func TestPlayerChime(t *testing.T) {
	p, out := newTestPlayer(t, Config{Mute: true})
	f := &feeder{p: p, out: out}
	p.Chime()
	got := f.play(60, 0.3)
	if power(got, ChimeHzLow) == 0 || power(got, ChimeHzHigh) == 0 {
		t.Error("no chime")
	}
	if peak(got[len(got)/2:]) != 0 {
		t.Error("the chime lasts over 300 ms")
	}
}

func TestPlayerOnPlayed(t *testing.T) {
	var tss []uint32
	var ats []time.Time
	p, out := newTestPlayer(t, Config{OnPlayed: func(ts uint32, at time.Time) { tss, ats = append(tss, ts), append(ats, at) }})
	f := &feeder{p: p, out: out}
	f.play(5, 0.3)
	if len(tss) != 5 {
		t.Fatalf("OnPlayed called %d times, want 5", len(tss))
	}
	for i, ts := range tss {
		if ts != uint32(i*480) || !ats[i].Equal(t0.Add(time.Duration(i+1)*10*ms)) {
			t.Errorf("call %d: ts %d at %v", i, ts, ats[i].Sub(t0))
		}
	}
}

func TestPlayerConfigAndClose(t *testing.T) {
	if _, err := NewPlayer(&manualOutput{}, Config{Volume: 3}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("volume 3: %v, want ErrInvalidConfig", err)
	}
	bad := &manualOutput{startErr: ErrNoDevice}
	if _, err := NewPlayer(bad, Config{}); !errors.Is(err, ErrNoDevice) || bad.closed != 1 {
		t.Errorf("start failure: %v, output closed %d times", err, bad.closed)
	}
	p, out := newTestPlayer(t, Config{})
	if p.OutputName() != "manual" {
		t.Errorf("OutputName = %q", p.OutputName())
	}
	p.SetVolume(5)
	if v := p.Stats().Volume; v != 2 {
		t.Errorf("SetVolume(5) gave %v, want 2", v)
	}
	p.Close()
	p.Close()
	if out.closed != 1 {
		t.Errorf("output closed %d times, want once", out.closed)
	}
}

// TestPlayerTestSink runs the player on the paced TestSink in real time.
func TestPlayerTestSink(t *testing.T) {
	sink := NewTestSink(10 * ms)
	played := make(chan uint32, 100)
	p, err := NewPlayer(sink, Config{OnPlayed: func(ts uint32, _ time.Time) {
		select {
		case played <- ts:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tick := time.NewTicker(10 * ms)
	defer tick.Stop()
	for i := range 50 {
		p.Write(frame10(i, 0.3))
		<-tick.C
	}
	deadline := time.After(5 * time.Second)
	for ts := uint32(0); ts != 49*480; {
		select {
		case ts = <-played:
		case <-deadline:
			t.Fatalf("frame 49 not played within 5 s; stats %+v", p.Stats())
		}
	}
	p.Close()
	if got := dominantHz(sink.Played()); got != 440 {
		t.Errorf("test sink got %v Hz, want 440", got)
	}
	select {
	case <-sink.Wait(1):
	default:
		t.Error("Wait(1) not ready after playing")
	}
}
