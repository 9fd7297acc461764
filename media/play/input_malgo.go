//go:build cgo

package play

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/cradle-monitor/cradle/media"
	"github.com/gen2brain/malgo"
)

// inputQueue bounds the chunks held for a Read that lags: 1 s.
const inputQueue = 100

// OpenInput opens a microphone by name or ID ("" for the default) at
// 48 kHz mono with a 10 ms period, in the first sound system that works
// (PulseAudio, then ALSA), and starts capturing. Errors wrap
// ErrNoAudioLibrary or ErrNoDevice.
func OpenInput(name string) (Input, error) {
	ctx, _, err := initContext()
	if err != nil {
		return nil, err
	}
	in, err := openInput(ctx, name)
	if err != nil {
		freeContext(ctx)
		return nil, err
	}
	return in, nil
}

func openInput(ctx *malgo.AllocatedContext, name string) (*malgoInput, error) {
	devs, err := ctx.Devices(malgo.Capture)
	if err != nil {
		return nil, fmt.Errorf("play: listing microphones: %w", err)
	}
	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.SampleRate = media.SampleRate
	cfg.PeriodSizeInMilliseconds = 10
	cfg.Capture.Format = malgo.FormatS16
	cfg.Capture.Channels = 1
	cfg.Pulse.StreamNameCapture = "Cradle talk"
	label := "default microphone"
	if name != "" {
		var names []string
		found := false
		for _, d := range devs {
			id := idString(d.ID)
			if skipDevices[id] {
				continue
			}
			if d.Name() == name || id == name {
				p := d.ID.Pointer()
				defer freeC(p)
				cfg.Capture.DeviceID = p
				label, found = d.Name(), true
				break
			}
			names = append(names, fmt.Sprintf("%q", d.Name()))
		}
		if !found {
			return nil, fmt.Errorf("%w (no microphone named %q; there are: %s)", ErrNoDevice, name, strings.Join(names, ", "))
		}
	} else {
		for _, d := range devs {
			if d.IsDefault != 0 {
				label = d.Name()
			}
		}
	}
	in := &malgoInput{ctx: ctx, name: label, ch: make(chan []int16, inputQueue), done: make(chan struct{})}
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: in.data})
	if err != nil {
		return nil, fmt.Errorf("%w (opening the microphone %q: %v)", ErrNoDevice, label, err)
	}
	if dev.CaptureFormat() != malgo.FormatS16 || dev.SampleRate() != media.SampleRate || dev.CaptureChannels() != 1 {
		dev.Uninit()
		return nil, fmt.Errorf("play: microphone %q opened in an unexpected format", label)
	}
	in.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return nil, fmt.Errorf("play: starting the microphone %q: %w", label, err)
	}
	return in, nil
}

// malgoInput captures through miniaudio.
type malgoInput struct {
	ctx  *malgo.AllocatedContext
	dev  *malgo.Device
	name string
	ch   chan []int16
	done chan struct{}
	once sync.Once
}

func (in *malgoInput) Name() string { return in.name }

// data is miniaudio's callback, on its thread: a copy of the chunk is
// queued; a chunk the reader has no room for is dropped.
func (in *malgoInput) data(_, input []byte, frames uint32) {
	pcm := make([]int16, frames)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(input[2*i:]))
	}
	select {
	case in.ch <- pcm:
	default:
	}
}

func (in *malgoInput) Read() ([]int16, error) {
	select {
	case <-in.done:
		return nil, ErrInputClosed
	case pcm := <-in.ch:
		return pcm, nil
	}
}

// Close stops the capture (waiting for its callback) and frees miniaudio.
func (in *malgoInput) Close() error {
	in.once.Do(func() {
		close(in.done)
		in.dev.Uninit()
		freeContext(in.ctx)
	})
	return nil
}
