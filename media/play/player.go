package play

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/media"
)

// Config configures a Player. Zero values take the defaults.
type Config struct {
	// Volume is the linear gain for the nursery, 0 to 2 (default 1; use
	// Mute or SetVolume(0) for silence).
	Volume float64
	// Mute mutes the nursery; the alarm and the chime still sound.
	Mute bool
	// VOX gates the nursery sound (the alarm and chime are never gated):
	// it opens once the nursery is over VoxThresholdDBFS (default -40
	// dBFS) for VoxAttack (default 50 ms) and closes once it has been
	// under for VoxHold (default 5 s).
	VOX              bool
	VoxThresholdDBFS float64
	VoxAttack        time.Duration
	VoxHold          time.Duration
	// JitterMin and JitterMax bound the jitter buffer's target (defaults
	// 10 ms and 120 ms).
	JitterMin, JitterMax time.Duration
	// Now is the clock (nil: time.Now). The player is the I/O shell; its
	// cores take time as arguments.
	Now func() time.Time
	// OnPlayed, if set, is called when the first sample of a frame is
	// handed to the device, with the frame's RTP timestamp and the time.
	// It runs on the audio thread under the player's lock: it must be
	// cheap and must not call the player.
	OnPlayed func(ts uint32, at time.Time)
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("play: invalid configuration")

// Validate fills defaults for zero values and checks the rest.
func (c *Config) Validate() error {
	if c.Volume == 0 {
		c.Volume = 1
	}
	if c.Volume < 0 || c.Volume > 2 {
		return fmt.Errorf("%w: volume %v: use 0 to 2", ErrInvalidConfig, c.Volume)
	}
	if c.JitterMin < 0 || c.JitterMax < 0 || (c.JitterMax > 0 && c.JitterMax < c.JitterMin) {
		return fmt.Errorf("%w: jitter buffer bounds %v to %v", ErrInvalidConfig, c.JitterMin, c.JitterMax)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// PlayerStats is a snapshot of a Player.
type PlayerStats struct {
	Jitter JitterStats
	// FramesWritten counts Write calls; FramesPlayed frames whose first
	// sample reached the device; Periods the device's callbacks.
	FramesWritten, FramesPlayed, Periods uint64
	VoxOpen, AlarmOn, Muted              bool
	Volume                               float64
}

// Player plays the nursery through an Output, mixed with the alarm and the
// noise chime. Its methods are safe for concurrent use.
type Player struct {
	out  Output
	now  func() time.Time
	cfg  Config
	once sync.Once

	mu      sync.Mutex // held briefly by every method and the device callback
	jb      *Jitter
	vox     *VoxGate
	alarm   AlarmSound
	chime   ChimeSound
	volume  float64
	mute    bool
	alarmOn bool
	written uint64
	played  uint64
	periods uint64
	pullAt  time.Time
	// scratch for the callback, grown only when a period is longer
	nursery, sound []int16
}

// NewPlayer starts out and plays into it until Close. It takes ownership
// of out: Close closes it, and so does a failure here.
func NewPlayer(out Output, cfg Config) (*Player, error) {
	if err := cfg.Validate(); err != nil {
		_ = out.Close()
		return nil, err
	}
	vox, err := NewVoxGate(media.VoxConfig{ThresholdDBFS: cfg.VoxThresholdDBFS, Attack: cfg.VoxAttack, Hold: cfg.VoxHold})
	if err != nil {
		_ = out.Close()
		return nil, err
	}
	p := &Player{out: out, now: cfg.Now, cfg: cfg, vox: vox, volume: cfg.Volume, mute: cfg.Mute,
		nursery: make([]int16, 960), sound: make([]int16, 960)}
	p.alarm.Stop()
	p.jb = NewJitter(JitterConfig{Min: cfg.JitterMin, Max: cfg.JitterMax, OnFrameStart: p.framePlayed})
	if err := out.Start(p.fill); err != nil {
		_ = out.Close()
		return nil, err
	}
	return p, nil
}

// framePlayed runs inside fill, under p.mu.
func (p *Player) framePlayed(ts uint32) {
	p.played++
	if p.cfg.OnPlayed != nil {
		p.cfg.OnPlayed(ts, p.pullAt)
	}
}

// fill is the device callback: nursery × volume (gated by VOX and mute) +
// alarm + chime, saturated to int16.
func (p *Player) fill(dst []int16) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.periods++
	p.pullAt = now
	if len(dst) > len(p.nursery) {
		p.nursery, p.sound = make([]int16, len(dst)), make([]int16, len(dst))
	}
	nursery, sound := p.nursery[:len(dst)], p.sound[:len(dst)]
	p.jb.Pull(nursery, now)
	open := p.vox.Update(nursery, now) || !p.cfg.VOX
	gain := p.volume
	if p.mute || !open {
		gain = 0
	}
	g := int32(gain * 4096) // Q12
	for i, s := range nursery {
		dst[i] = sat(int32(s) * g >> 12)
	}
	if p.alarm.Sounding() {
		p.alarm.Fill(sound)
		mixInto(dst, sound)
	}
	if p.chime.Sounding() {
		p.chime.Fill(sound)
		mixInto(dst, sound)
	}
}

func sat(v int32) int16 {
	return int16(min(max(v, -32768), 32767))
}

func mixInto(dst, src []int16) {
	for i, s := range src {
		dst[i] = sat(int32(dst[i]) + int32(s))
	}
}

// Write queues a decoded frame, as it arrives from the network; its
// arrival time is cfg.Now(). The PCM is copied.
func (p *Player) Write(f Frame) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written++
	p.jb.Push(f, now)
}

// SetAlarm starts or stops the alarm, mixed over the nursery. It repeats
// while on; off, it stops at the end of the current tone.
func (p *Player) SetAlarm(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.alarmOn = on
	if on {
		p.alarm.Start()
	} else {
		p.alarm.Stop()
	}
}

// Chime plays the noise chime once.
func (p *Player) Chime() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chime.Ring()
}

// SetVolume sets the nursery's gain, clamped to 0..2.
func (p *Player) SetVolume(v float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.volume = min(max(v, 0), 2)
}

// SetMute mutes or unmutes the nursery.
func (p *Player) SetMute(mute bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mute = mute
}

// Stats returns a snapshot.
func (p *Player) Stats() PlayerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PlayerStats{
		Jitter:        p.jb.Stats(),
		FramesWritten: p.written,
		FramesPlayed:  p.played,
		Periods:       p.periods,
		VoxOpen:       p.vox.Open(),
		AlarmOn:       p.alarmOn,
		Muted:         p.mute,
		Volume:        p.volume,
	}
}

// OutputName names the device played to.
func (p *Player) OutputName() string { return p.out.Name() }

// Close stops the output and waits until its callback has returned. A
// second Close does nothing.
func (p *Player) Close() error {
	var err error
	p.once.Do(func() { err = p.out.Close() })
	return err
}
