//go:build cgo

package play

/*
#include <stdlib.h>
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/cradle-monitor/cradle/media"
	_ "github.com/cradle-monitor/cradle/media/quiet" // ALSA's error messages off stderr
	"github.com/gen2brain/malgo"
)

// backends are tried in order: PulseAudio (the desktop's and the test's
// server) then ALSA. Never JACK (it starts servers) nor the null backend
// (it would play into nothing without an error).
var backends = []malgo.Backend{malgo.BackendPulseaudio, malgo.BackendAlsa}

// discardLog keeps miniaudio's messages off the binaries' output.
func discardLog(string) {}

// skipDevices are ALSA plugins and pseudo-devices that enumeration lists
// but that are no speaker: "null" would play into nothing without an
// error, "jack" would start a JACK server.
var skipDevices = map[string]bool{
	"null": true, "jack": true, "oss": true, "lavrate": true, "samplerate": true,
	"speexrate": true, "speex": true, "upmix": true, "vdownmix": true,
}

// idString is a device ID as text: the backend's own name for it (a
// PulseAudio sink name, an ALSA device name) when printable, else hex.
func idString(id malgo.DeviceID) string {
	b := id[:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	for _, c := range b {
		if c < ' ' || c > '~' {
			return id.String()
		}
	}
	return string(b)
}

// alsaPulse is ALSA's device that plays through PulseAudio (its
// description is "PulseAudio Sound Server"): listed even when no
// PulseAudio server runs, and then it cannot be opened.
const alsaPulse = "pulse"

// outputs lists the playback devices worth offering: those a parent can
// open. noPulse says that no PulseAudio server answered.
func outputs(ctx *malgo.AllocatedContext, noPulse bool) ([]malgo.DeviceInfo, error) {
	devs, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return nil, fmt.Errorf("play: listing sound outputs: %w", err)
	}
	kept := devs[:0]
	for _, d := range devs {
		id := idString(d.ID)
		if !skipDevices[id] && !(noPulse && id == alsaPulse) {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// backendNames name the backends in errors.
var backendNames = map[malgo.Backend]string{malgo.BackendPulseaudio: "PulseAudio", malgo.BackendAlsa: "ALSA"}

// initContext returns a context of the first sound system that works:
// PulseAudio when its server answers, else ALSA. noPulse says that no
// PulseAudio server answered: ALSA's "pulse" device is then no output
// either.
func initContext() (ctx *malgo.AllocatedContext, noPulse bool, err error) {
	var errs []string
	for _, b := range backends {
		ctx, err := malgo.InitContext([]malgo.Backend{b}, malgo.ContextConfig{}, discardLog)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", backendNames[b], err))
			noPulse = noPulse || b == malgo.BackendPulseaudio
			continue
		}
		return ctx, noPulse, nil
	}
	return nil, noPulse, fmt.Errorf("%w (%s)", ErrNoAudioLibrary, strings.Join(errs, "; "))
}

// deviceConfig is how every output is opened: 48 kHz, 16 bits, a 10 ms
// period, the device's own channel count (mono is copied to each).
func deviceConfig() malgo.DeviceConfig {
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.SampleRate = media.SampleRate
	cfg.PeriodSizeInMilliseconds = 10
	cfg.Playback.Format = malgo.FormatS16
	cfg.Playback.Channels = 0
	cfg.Pulse.StreamNamePlayback = "Cradle"
	return cfg
}

func freeContext(ctx *malgo.AllocatedContext) {
	_ = ctx.Uninit()
	ctx.Free()
}

// ListDevices lists the output devices of the first sound system that
// works (PulseAudio, then ALSA).
func ListDevices() ([]DeviceInfo, error) {
	ctx, noPulse, err := initContext()
	if err != nil {
		return nil, err
	}
	defer freeContext(ctx)
	devs, err := outputs(ctx, noPulse)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, 0, len(devs))
	for _, d := range devs {
		out = append(out, DeviceInfo{Name: d.Name(), ID: idString(d.ID), Default: d.IsDefault != 0})
	}
	return out, nil
}

// OpenDevice opens an output device by name or ID ("" for the default) at
// 48 kHz with a 10 ms period, in the first sound system that works
// (PulseAudio, then ALSA). Playback starts with Output.Start.
func OpenDevice(name string) (Output, error) {
	ctx, noPulse, err := initContext()
	if err != nil {
		return nil, err
	}
	o, err := openDevice(ctx, noPulse, name)
	if err != nil {
		freeContext(ctx)
		return nil, err
	}
	return o, nil
}

func openDevice(ctx *malgo.AllocatedContext, noPulse bool, name string) (*malgoOutput, error) {
	devs, err := outputs(ctx, noPulse)
	if err != nil {
		return nil, err
	}
	cfg := deviceConfig()
	label := "default"
	if name == "" {
		if len(devs) == 0 {
			return nil, fmt.Errorf("%w (found no sound output at all)", ErrNoDevice)
		}
		for _, d := range devs {
			if d.IsDefault != 0 {
				label = d.Name()
			}
		}
	} else {
		var names []string
		found := false
		for _, d := range devs {
			if d.Name() == name || idString(d.ID) == name {
				p := d.ID.Pointer() // C memory: cgo forbids Go pointers in the config
				defer freeC(p)
				cfg.Playback.DeviceID = p
				label, found = d.Name(), true
				break
			}
			names = append(names, fmt.Sprintf("%q", d.Name()))
		}
		if !found {
			return nil, fmt.Errorf("%w (no output named %q; there are: %s)", ErrNoDevice, name, strings.Join(names, ", "))
		}
	}
	o := &malgoOutput{ctx: ctx, name: label, mono: make([]int16, 4*480)}
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: o.data})
	if err != nil {
		return nil, fmt.Errorf("%w (opening %q: %v)", ErrNoDevice, label, err)
	}
	if dev.PlaybackFormat() != malgo.FormatS16 || dev.SampleRate() != media.SampleRate || dev.PlaybackChannels() == 0 {
		dev.Uninit()
		return nil, fmt.Errorf("play: sound output %q opened in an unexpected format", label)
	}
	o.dev, o.channels = dev, int(dev.PlaybackChannels())
	return o, nil
}

// malgoOutput plays through miniaudio.
type malgoOutput struct {
	ctx      *malgo.AllocatedContext
	dev      *malgo.Device
	name     string
	channels int

	mu      sync.Mutex
	started bool
	closed  bool
	// fill and mono are set before the device starts and then only used
	// on its thread.
	fill func([]int16)
	mono []int16 // grown only if a period is longer
}

func (o *malgoOutput) Name() string { return o.name }

func (o *malgoOutput) Start(fill func([]int16)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return errors.New("play: output closed")
	case o.started:
		return errors.New("play: output already started")
	}
	o.fill, o.started = fill, true
	if err := o.dev.Start(); err != nil {
		return fmt.Errorf("play: starting sound output %q: %w", o.name, err)
	}
	return nil
}

// data is miniaudio's callback, on its thread: it asks the player for
// mono samples and copies each into every channel.
func (o *malgoOutput) data(out, _ []byte, frames uint32) {
	n := int(frames)
	if n > len(o.mono) {
		o.mono = make([]int16, n)
	}
	mono := o.mono[:n]
	o.fill(mono)
	ch := o.channels
	for i, s := range mono {
		for c := range ch {
			binary.LittleEndian.PutUint16(out[2*(i*ch+c):], uint16(s))
		}
	}
}

// Close stops the device (waiting for its callback) and frees miniaudio.
func (o *malgoOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.dev.Uninit() // stops the device and waits for the callback
	freeContext(o.ctx)
	return nil
}

// freeC frees memory malgo allocated with C.CBytes.
func freeC(p unsafe.Pointer) { C.free(p) }
