package media

import (
	"math"
	"time"
)

// MinDBFS is the floor of every level: silence reads -120 dBFS, not -Inf.
const MinDBFS = -120.0

// fullScale is the 16-bit full scale: a sample of -32768 is 0 dBFS peak.
const fullScale = 32768.0

// Level is the sound level over one interval of PCM.
type Level struct {
	// RMSDBFS is the RMS level in dBFS (a full-scale sine reads -3.01).
	RMSDBFS float64
	// PeakDBFS is the largest sample's magnitude in dBFS.
	PeakDBFS float64
	// Noise is the VOX state after this level: true during a noise event.
	Noise bool
	// At is when the last sample of the interval was captured.
	At time.Time
}

// DBFS converts a linear amplitude relative to full scale (1.0) to dBFS,
// clamped to MinDBFS.
func DBFS(x float64) float64 {
	if x <= 0 {
		return MinDBFS
	}
	return max(20*math.Log10(x), MinDBFS)
}

// Measure returns the RMS and peak levels of pcm in dBFS. It is pure: the
// meter and the benchmarks call it.
func Measure(pcm []int16) (rmsDBFS, peakDBFS float64) {
	sumSq, peak := accumulate(pcm)
	return levels(sumSq, peak, len(pcm))
}

// accumulate returns the sum of squares and the largest magnitude.
func accumulate(pcm []int16) (sumSq float64, peak int32) {
	var acc int64 // 2^30 per sample: safe for 2^33 samples
	for _, s := range pcm {
		v := int32(s)
		acc += int64(v * v)
		if v < 0 {
			v = -v
		}
		peak = max(peak, v)
	}
	return float64(acc), peak
}

func levels(sumSq float64, peak int32, n int) (rmsDBFS, peakDBFS float64) {
	if n == 0 {
		return MinDBFS, MinDBFS
	}
	return DBFS(math.Sqrt(sumSq/float64(n)) / fullScale), DBFS(float64(peak) / fullScale)
}

// Meter cuts a stream of PCM into intervals of a fixed number of samples
// and measures each. It is not safe for concurrent use.
type Meter struct {
	window int
	n      int
	sumSq  float64
	peak   int32
}

// NewMeter returns a meter that measures every interval of PCM at the
// given sample rate.
func NewMeter(sampleRate int, interval time.Duration) *Meter {
	return &Meter{window: max(1, int(int64(sampleRate)*int64(interval)/int64(time.Second)))}
}

// Add feeds pcm, whose first sample was captured at captured, and calls
// emit for every interval it completes, with At set to the capture time of
// the interval's last sample.
func (m *Meter) Add(pcm []int16, captured time.Time, emit func(Level)) {
	for i := 0; i < len(pcm); {
		take := min(m.window-m.n, len(pcm)-i)
		sumSq, peak := accumulate(pcm[i : i+take])
		m.sumSq += sumSq
		m.peak = max(m.peak, peak)
		m.n += take
		i += take
		if m.n == m.window {
			rms, pk := levels(m.sumSq, m.peak, m.n)
			at := captured.Add(time.Duration(i-1) * time.Second / SampleRate)
			emit(Level{RMSDBFS: rms, PeakDBFS: pk, At: at})
			m.n, m.sumSq, m.peak = 0, 0, 0
		}
	}
}

// Vox is the noise detector: a pure state machine fed levels and the times
// they were measured. A noise event starts once the level has stayed at or
// above the threshold for the attack time, and ends once it has stayed
// below for the hold time. It is not safe for concurrent use.
type Vox struct {
	cfg   VoxConfig
	noise bool
	// since is when the level crossed to the side that would change the
	// state (above while quiet, below while noisy); zero when it is on the
	// side that keeps the state.
	since time.Time
}

// NewVox returns a detector in the quiet state. cfg should be validated.
func NewVox(cfg VoxConfig) *Vox { return &Vox{cfg: cfg} }

// Noise reports whether a noise event is in progress.
func (v *Vox) Noise() bool { return v.noise }

// Update feeds the RMS level measured at now and returns the state after
// it and whether this update changed it.
func (v *Vox) Update(rmsDBFS float64, now time.Time) (noise, changed bool) {
	loud := rmsDBFS >= v.cfg.ThresholdDBFS
	if loud != v.noise {
		if v.since.IsZero() {
			v.since = now
		}
		wait := v.cfg.Attack
		if v.noise {
			wait = v.cfg.Hold
		}
		if now.Sub(v.since) >= wait {
			v.noise, v.since = loud, time.Time{}
			return v.noise, true
		}
	} else {
		v.since = time.Time{}
	}
	return v.noise, false
}

// OverSound is the noise detector while the monitor's own speaker plays a
// steady sound (a soothing sound): the microphone hears the sound, so
// noise is what rises above it. For the first Learn it only measures the
// sound at the microphone (its loudest level) and reports no noise; then
// a level counts as noise at Margin dB above that, and at least at the
// configured threshold, with the VOX's attack and hold. A baby crying
// over white noise is still heard; the white noise is not. It is pure:
// fed levels and the times they were measured.
type OverSound struct {
	cfg    VoxConfig
	learn  time.Duration
	margin float64
	start  time.Time
	loud   float64 // the loudest level while learning
	vox    *Vox    // nil while learning
}

// Defaults of OverSound.
const (
	OverSoundLearn  = 10 * time.Second
	OverSoundMargin = 6.0 // dB
)

// NewOverSound returns a detector that learns the sound's level first.
func NewOverSound(cfg VoxConfig) *OverSound {
	return &OverSound{cfg: cfg, learn: OverSoundLearn, margin: OverSoundMargin, loud: MinDBFS}
}

// Threshold is the level that counts as noise now (MinDBFS-free: the
// configured threshold while learning).
func (o *OverSound) Threshold() float64 {
	if o.vox == nil {
		return o.cfg.ThresholdDBFS
	}
	return o.vox.cfg.ThresholdDBFS
}

// Update feeds the RMS level measured at now, as Vox.Update.
func (o *OverSound) Update(rmsDBFS float64, now time.Time) (noise, changed bool) {
	if o.start.IsZero() {
		o.start = now
	}
	if o.vox == nil {
		if now.Sub(o.start) < o.learn {
			o.loud = max(o.loud, rmsDBFS)
			return false, false
		}
		cfg := o.cfg
		cfg.ThresholdDBFS = max(cfg.ThresholdDBFS, o.loud+o.margin)
		o.vox = NewVox(cfg)
	}
	return o.vox.Update(rmsDBFS, now)
}
