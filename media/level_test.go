package media

import (
	"math"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	square := make([]int16, 4800)
	for i := range square {
		square[i] = math.MaxInt16
		if i%2 == 1 {
			square[i] = math.MinInt16
		}
	}
	tests := []struct {
		name      string
		pcm       []int16
		rms, peak float64
	}{
		{"full-scale sine", sine(48000, 1000, 1), -3.01, 0},
		{"half-amplitude sine", sine(48000, 1000, 0.5), -9.03, -6.02},
		{"tenth sine", sine(48000, 440, 0.1), -23.01, -20},
		{"full-scale square", square, 0, 0},
		{"silence", make([]int16, 960), MinDBFS, MinDBFS},
		{"empty", nil, MinDBFS, MinDBFS},
		{"one LSB", []int16{1, -1}, -90.31, -90.31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rms, peak := Measure(tt.pcm)
			if math.Abs(rms-tt.rms) > 0.02 {
				t.Errorf("RMS = %.3f dBFS, want %.2f", rms, tt.rms)
			}
			if math.Abs(peak-tt.peak) > 0.02 {
				t.Errorf("peak = %.3f dBFS, want %.2f", peak, tt.peak)
			}
		})
	}
}

func TestDBFSClamps(t *testing.T) {
	for _, x := range []float64{0, -1, 1e-9, math.SmallestNonzeroFloat64} {
		if got := DBFS(x); got != MinDBFS {
			t.Errorf("DBFS(%g) = %v, want %v", x, got, MinDBFS)
		}
	}
	if got := DBFS(1); got != 0 {
		t.Errorf("DBFS(1) = %v, want 0", got)
	}
}

// TestMeterWindows feeds chunks that straddle the windows and checks that
// each window is measured once, over the right samples, with the capture
// time of its last sample.
func TestMeterWindows(t *testing.T) {
	m := NewMeter(SampleRate, 200*time.Millisecond) // 9600 samples
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	loud, quiet := sine(9600, 1000, 1), make([]int16, 9600)
	pcm := append(append(append([]int16{}, loud...), quiet...), loud...)

	var got []Level
	at := start
	for i := 0; i < len(pcm); i += 700 { // 700 does not divide 9600
		chunk := pcm[i:min(i+700, len(pcm))]
		m.Add(chunk, at, func(l Level) { got = append(got, l) })
		at = at.Add(time.Duration(len(chunk)) * time.Second / SampleRate)
	}
	if len(got) != 3 {
		t.Fatalf("got %d levels, want 3", len(got))
	}
	want := []float64{-3.01, MinDBFS, -3.01}
	for i, l := range got {
		if math.Abs(l.RMSDBFS-want[i]) > 0.02 {
			t.Errorf("level %d: RMS %.2f, want %.2f", i, l.RMSDBFS, want[i])
		}
		end := start.Add(time.Duration((i+1)*9600-1) * time.Second / SampleRate)
		if d := l.At.Sub(end); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("level %d: At %v, want %v", i, l.At.Sub(start), end.Sub(start))
		}
	}
}

// TestVox runs scripted levels through the detector.
func TestVox(t *testing.T) {
	cfg := VoxConfig{ThresholdDBFS: -30, Attack: time.Second, Hold: 2 * time.Second}
	type step struct {
		at      time.Duration
		dbfs    float64
		noise   bool
		changed bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"quiet stays quiet", []step{
			{0, -60, false, false}, {time.Second, -40, false, false}, {5 * time.Second, -31, false, false},
		}},
		{"a short burst is not noise", []step{
			{0, -10, false, false}, {500 * time.Millisecond, -10, false, false}, {800 * time.Millisecond, -50, false, false},
			{1200 * time.Millisecond, -10, false, false}, {2 * time.Second, -10, false, false},
		}},
		{"noise after the attack time, at the threshold", []step{
			{0, -30, false, false}, {999 * time.Millisecond, -20, false, false}, {time.Second, -25, true, true},
			{1200 * time.Millisecond, -10, true, false},
		}},
		{"a dip shorter than the hold keeps the event", []step{
			{0, -20, false, false}, {time.Second, -20, true, true},
			{2 * time.Second, -50, true, false}, {3500 * time.Millisecond, -50, true, false},
			{3800 * time.Millisecond, -20, true, false}, // back up: hold restarts
			{4 * time.Second, -50, true, false}, {5900 * time.Millisecond, -50, true, false},
			{6 * time.Second, -50, false, true},
			{7 * time.Second, -50, false, false},
		}},
		{"a second event needs a new attack", []step{
			{0, -20, false, false}, {time.Second, -20, true, true},
			{2 * time.Second, -50, true, false}, {4 * time.Second, -50, false, true},
			{5 * time.Second, -20, false, false}, {5500 * time.Millisecond, -20, false, false}, {6 * time.Second, -20, true, true},
		}},
	}
	t0 := time.Date(2024, 1, 1, 21, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVox(cfg)
			for i, s := range tt.steps {
				noise, changed := v.Update(s.dbfs, t0.Add(s.at))
				if noise != s.noise || changed != s.changed || v.Noise() != s.noise {
					t.Fatalf("step %d (%v, %v dBFS): noise=%v changed=%v, want %v %v", i, s.at, s.dbfs, noise, changed, s.noise, s.changed)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.AudioFrame != 10*time.Millisecond || c.AudioBitrate != 32000 || c.ToneHz != 440 || c.Width != 640 ||
		c.FPS != 15 || c.LevelInterval != 200*time.Millisecond || c.Vox.ThresholdDBFS != -30 || c.Vox.Attack != time.Second {
		t.Errorf("defaults: %+v", c)
	}
	bad := []Config{
		{AudioFrame: 15 * time.Millisecond},
		{AudioBitrate: 1000},
		{Width: 641},
		{FPS: 100},
		{LevelInterval: time.Millisecond},
		{Vox: VoxConfig{ThresholdDBFS: 3}},
		{AudioQueue: -1},
		{ToneAmplitude: 2},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
}

// TestOverSound: while the speaker plays a steady sound louder than the
// VOX threshold, the sound is learnt and is not noise; a cry 10 dB over
// it is, after the attack, and ends after the hold.
func TestOverSound(t *testing.T) {
	cfg := VoxConfig{ThresholdDBFS: -50, Attack: time.Second, Hold: 2 * time.Second}
	o := NewOverSound(cfg)
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	step := 200 * time.Millisecond
	var noiseAt, quietAt time.Duration
	for d := time.Duration(0); d < 40*time.Second; d += step {
		level := -40.0 + float64(d/step%3) // white noise at the microphone, ±1 dB
		if d >= 20*time.Second && d < 25*time.Second {
			level = -30 // a cry over it
		}
		noise, changed := o.Update(level, at(d))
		switch {
		case changed && noise:
			noiseAt = d
		case changed && !noise:
			quietAt = d
		case noise && (d < 20*time.Second || d > 28*time.Second):
			t.Fatalf("noise at %v (threshold %.1f)", d, o.Threshold())
		}
	}
	if noiseAt != 21*time.Second || quietAt != 27*time.Second {
		t.Errorf("noise from %v to %v, want 21s to 27s (attack 1 s, hold 2 s)", noiseAt, quietAt)
	}
	if th := o.Threshold(); th != -38+OverSoundMargin {
		t.Errorf("threshold %.1f, want the sound's loudest -38 + %v", th, OverSoundMargin)
	}
}
