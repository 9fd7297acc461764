package play

import (
	"time"

	"github.com/cradle-monitor/cradle/media"
)

// The VOX gate's defaults, as on a DECT parent unit: quick to open, slow
// to close.
const (
	DefaultVoxThresholdDBFS = -40.0
	DefaultVoxAttack        = 50 * time.Millisecond
	DefaultVoxHold          = 5 * time.Second
)

// VoxGate mutes the nursery until it is loud: it opens once the RMS level
// of each chunk fed to it has stayed at or above the threshold for Attack,
// and closes once the level has stayed below for Hold. The levels come
// from media.Measure and the timing from media.Vox, the monitor's own
// noise detector. It is pure (time is passed in) and not safe for
// concurrent use.
type VoxGate struct {
	vox *media.Vox
}

// NewVoxGate returns a closed gate. Zero fields of cfg take the defaults
// above (a threshold of exactly 0 dBFS cannot be asked for).
func NewVoxGate(cfg media.VoxConfig) (*VoxGate, error) {
	if cfg.ThresholdDBFS == 0 {
		cfg.ThresholdDBFS = DefaultVoxThresholdDBFS
	}
	if cfg.Attack == 0 {
		cfg.Attack = DefaultVoxAttack
	}
	if cfg.Hold == 0 {
		cfg.Hold = DefaultVoxHold
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &VoxGate{vox: media.NewVox(cfg)}, nil
}

// Update measures pcm (about 10 ms of sound, whose end is at now) and
// returns whether the gate is open for it.
func (g *VoxGate) Update(pcm []int16, now time.Time) (open bool) {
	rms, _ := media.Measure(pcm)
	open, _ = g.vox.Update(rms, now)
	return open
}

// Open reports whether the gate is open.
func (g *VoxGate) Open() bool { return g.vox.Noise() }
