//go:build cgo

package play

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"github.com/gen2brain/malgo"
)

// countingOutput wraps an Output and closes reached once n samples have
// been handed to the device.
type countingOutput struct {
	Output
	n       int
	once    sync.Once
	reached chan struct{}
	got     int // only touched on the device thread
}

func (c *countingOutput) Start(fill func([]int16)) error {
	return c.Output.Start(func(dst []int16) {
		fill(dst)
		c.got += len(dst)
		if c.got >= c.n {
			c.once.Do(func() { close(c.reached) })
		}
	})
}

func startPulse(t *testing.T) *pulsetest.Server {
	s := pulsetest.Start(t)
	s.Setenv(t) // miniaudio runs in this process
	return s
}

func waitOrFail(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10 s", what)
	}
}

// TestDeviceAlarm plays the alarm through miniaudio into PulseAudio's null
// sink and finds both tones in the recording.
func TestDeviceAlarm(t *testing.T) {
	srv := startPulse(t)
	dev, err := OpenDevice("")
	if err != nil {
		t.Fatalf("OpenDevice: %v", err)
	}
	out := &countingOutput{Output: dev, n: 48000 * 3 / 2, reached: make(chan struct{})}
	rec := srv.StartRecording(t)
	p, err := NewPlayer(out, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("playing to %q", p.OutputName())
	p.SetAlarm(true)
	waitOrFail(t, out.reached, "1.5 s of alarm played")
	p.Close()
	pcm := rec.Stop()
	if len(pcm) < 48000 {
		t.Fatalf("recorded %d samples, want over 1 s", len(pcm))
	}
	ref := pulsetest.Goertzel(pcm, 48000, 1250)
	for _, hz := range []float64{AlarmHzLow, AlarmHzHigh} {
		if p := pulsetest.Goertzel(pcm, 48000, hz); p < 100*ref {
			t.Errorf("%v Hz: power %g, only %.0f× that at 1250 Hz", hz, p, p/ref)
		}
	}
	t.Logf("recorded %d samples, RMS %.3f", len(pcm), pulsetest.RMS(pcm))
}

// TestDeviceTone plays a stream of 440 Hz frames, paced as the network
// would deliver them, and finds 440 Hz in the recording.
func TestDeviceTone(t *testing.T) {
	srv := startPulse(t)
	dev, err := OpenDevice("")
	if err != nil {
		t.Fatalf("OpenDevice: %v", err)
	}
	last := make(chan struct{})
	var once sync.Once
	const frames = 100
	rec := srv.StartRecording(t)
	p, err := NewPlayer(dev, Config{OnPlayed: func(ts uint32, _ time.Time) {
		if ts == (frames-1)*480 {
			once.Do(func() { close(last) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	for i := range frames {
		p.Write(frame10(i, 0.3))
		<-tick.C
	}
	tick.Stop()
	waitOrFail(t, last, "the last frame played")
	st := p.Stats()
	p.Close()
	pcm := rec.Stop()
	if got := pulsetest.Dominant(pcm, 48000, 100, 4000, 5); got != 440 {
		t.Errorf("recorded dominant %v Hz, want 440", got)
	}
	if rms := pulsetest.RMS(pcm); rms < 0.05 {
		t.Errorf("recorded RMS %.3f: too quiet for a 0.3 tone", rms)
	}
	t.Logf("stats %+v", st)
}

func TestDeviceListAndNames(t *testing.T) {
	startPulse(t)
	devs, err := ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("no devices listed with the null sink running")
	}
	t.Logf("devices: %+v", devs)
	dev, err := OpenDevice(devs[0].Name)
	if err != nil {
		t.Fatalf("OpenDevice(%q): %v", devs[0].Name, err)
	}
	if m, ok := dev.(*malgoOutput); !ok || m.channels != 2 {
		t.Errorf("the null sink is stereo; the output plays %d channels", m.channels)
	}
	if dev.Name() != devs[0].Name {
		t.Errorf("Name = %q, want %q", dev.Name(), devs[0].Name)
	}
	if err := dev.Close(); err != nil {
		t.Error(err)
	}
	if err := dev.Close(); err != nil {
		t.Error("second Close:", err)
	}
	if d, err := OpenDevice(devs[0].ID); err != nil {
		t.Errorf("OpenDevice(ID %q): %v", devs[0].ID, err)
	} else {
		d.Close()
	}
	if _, err := OpenDevice("no such speaker"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("OpenDevice(unknown) = %v, want ErrNoDevice", err)
	}
}

// TestDeviceMissingIsAnError: with no PulseAudio server and no sound card,
// opening the default output fails with an error for a parent instead of
// playing into nothing.
func TestDeviceMissingIsAnError(t *testing.T) {
	if b, err := os.ReadFile("/proc/asound/cards"); err == nil && !strings.Contains(string(b), "no soundcards") && len(strings.TrimSpace(string(b))) > 0 {
		t.Skip("this machine has a sound card")
	}
	t.Setenv("PULSE_SERVER", "unix:"+t.TempDir()+"/no-server")
	out, err := OpenDevice("")
	if err == nil {
		out.Close()
		t.Fatal("OpenDevice succeeded with no server and no sound card")
	}
	if !errors.Is(err, ErrNoDevice) && !errors.Is(err, ErrNoAudioLibrary) {
		t.Errorf("error %v, want ErrNoDevice or ErrNoAudioLibrary", err)
	}
	t.Log(err)
}

// TestOutputsWithoutPulseServer: with no PulseAudio server, the outputs
// listed lack ALSA's "pulse" device ("PulseAudio Sound Server"), which
// cannot be opened then, and OpenDevice refuses that name as unknown.
func TestOutputsWithoutPulseServer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PULSE_SERVER", "unix:"+dir+"/nobody.sock")
	t.Setenv("XDG_RUNTIME_DIR", dir)
	ctx, noPulse, err := initContext()
	if err != nil {
		t.Skipf("no sound system at all: %v", err)
	}
	raw, _ := ctx.Devices(malgo.Playback)
	freeContext(ctx)
	if !noPulse {
		t.Fatal("PulseAudio answered with PULSE_SERVER pointing at nothing")
	}
	listedRaw := false
	for _, d := range raw {
		listedRaw = listedRaw || idString(d.ID) == alsaPulse
	}
	if !listedRaw {
		t.Log(`ALSA does not list "pulse" here (libasound2-plugins missing): the check below proves little`)
	}
	devs, err := ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.ID == alsaPulse || strings.Contains(d.Name, "PulseAudio") {
			t.Errorf("listed %+v with no PulseAudio server", d)
		}
	}
	if o, err := OpenDevice("PulseAudio Sound Server"); err == nil {
		o.Close()
		t.Error(`OpenDevice("PulseAudio Sound Server") opened with no server`)
	} else if !errors.Is(err, ErrNoDevice) {
		t.Errorf("OpenDevice: %v, want ErrNoDevice", err)
	}
}

// TestListedOutputsOpen: with a PulseAudio server, every output listed
// opens by its name and by its ID.
func TestListedOutputsOpen(t *testing.T) {
	startPulse(t)
	devs, err := ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("no output listed with a PulseAudio server running")
	}
	for _, d := range devs {
		for _, name := range []string{d.Name, d.ID} {
			o, err := OpenDevice(name)
			if err != nil {
				t.Errorf("listed %+v, but OpenDevice(%q): %v", d, name, err)
				continue
			}
			o.Close()
		}
	}
	t.Logf("listed %+v", devs)
}
