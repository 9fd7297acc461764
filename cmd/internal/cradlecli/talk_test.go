package cradlecli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/mediatest"
	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	"github.com/cradle-monitor/cradle/media/soothe"
)

// has700 reports whether some 100 ms of pcm are dominated by the voice's
// 700 Hz at an audible level.
func has700(pcm []int16) bool {
	const w = media.SampleRate / 10
	for off := 0; off+w <= len(pcm); off += w / 2 {
		p := pcm[off : off+w]
		if pulsetest.RMS(p) > 0.005 && math.Abs(pulsetest.Dominant(p, media.SampleRate, 300, 1200, 5)-700) <= 5 {
			return true
		}
	}
	return false
}

// toneInput is a microphone hearing a 700 Hz tone at half scale, in
// 10 ms chunks paced in real time (play.Input).
type toneInput struct {
	n    int
	tick *time.Ticker
	done chan struct{}
	once sync.Once
}

func (in *toneInput) Name() string { return "700 Hz (test)" }

func (in *toneInput) Read() ([]int16, error) {
	select {
	case <-in.done:
		return nil, play.ErrInputClosed
	case <-in.tick.C:
	}
	pcm := make([]int16, media.SampleRate/100)
	for i := range pcm {
		pcm[i] = int16(16000 * math.Sin(2*math.Pi*700*float64(in.n+i)/media.SampleRate))
	}
	in.n += len(pcm)
	return pcm, nil
}

func (in *toneInput) Close() error {
	in.once.Do(func() { in.tick.Stop(); close(in.done) })
	return nil
}

// TestTalkCommand: cradle talk with a 700 Hz tone on the talker's
// microphone (a PulseAudio source: a null sink's monitor into which a
// sine plays; it starts delivering a second or two late, the null
// sink's latency), against a monitor whose speaker
// is a PulseAudio null sink heard by its microphone: the speaker plays
// the chime, then 700 Hz; another listener (cradle listen) plays the
// nursery with the voice in it; the talker's own output, which plays the
// nursery too, does not carry the voice back; a third listener's talk
// meanwhile is refused (exit 5) naming the talker; Enter stops it.
func TestTalkCommand(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	for _, mod := range []string{
		"module-null-sink sink_name=nursery rate=48000 channels=2",
		"module-null-sink sink_name=talker rate=48000 channels=2",
		"module-null-sink sink_name=other rate=48000 channels=2",
		"module-null-sink sink_name=mouth rate=48000 channels=1",
		"module-sine sink=mouth frequency=700",
	} {
		srv.Load(t, mod)
	}
	spk, err := play.OpenDevice("nursery")
	if err != nil {
		t.Fatal(err)
	}
	room := mediatest.NewEcho(spk)
	m, err := monitor.Open(monitor.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", SpeakerOutput: room, Sources: &media.Sources{Audio: room}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := m.Addr().String()
	pair := func(name string) string {
		t.Helper()
		dir := t.TempDir()
		if _, err := m.OpenPairing(0); err != nil {
			t.Fatal(err)
		}
		if _, errs, code := runCLI("--state-dir", dir, "--name", name, "pair", addr, "--code", string(m.SetupCode())); code != 0 {
			t.Fatalf("pair %s: exit %d: %s", name, code, errs)
		}
		return dir
	}
	kitchen, bedroom, hall := pair("kitchen"), pair("bedroom"), pair("hall")

	recNursery := srv.StartRecordingOf(t, "nursery")
	recTalker := srv.StartRecordingOf(t, "talker")
	recOther := srv.StartRecordingOf(t, "other")

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if _, errs, code := runCLI("--state-dir", bedroom, "listen", addr, "--output", "other", "--duration", "11s"); code != 0 {
			t.Errorf("bedroom listen: exit %d: %s", code, errs)
		}
	})
	time.Sleep(1500 * time.Millisecond) // bedroom listens

	stdin, enter := io.Pipe()
	var out, errb bytes.Buffer
	talked := make(chan int, 1)
	wg.Go(func() {
		talked <- Main(context.Background(), []string{"--state-dir", kitchen, "talk", addr, "--output", "talker", "--input", "mouth.monitor"}, stdin, &out, &errb)
	})
	time.Sleep(1500 * time.Millisecond)
	_, errs, code := runCLI("--state-dir", hall, "talk", addr, "--output", "none", "--input", "mouth.monitor")
	if code != ExitBusy || !strings.Contains(errs, "kitchen is talking to the nursery") {
		t.Errorf("a second talker: exit %d: %s", code, errs)
	}
	time.Sleep(4 * time.Second) // the voice flows
	enter.Write([]byte("\n"))
	select {
	case code := <-talked:
		if code != 0 || !strings.Contains(out.String(), "talking to ") || !strings.Contains(out.String(), "stopped talking after") {
			t.Errorf("talk: exit %d: %s %s", code, out.String(), errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cradle talk did not stop on Enter")
	}
	time.Sleep(time.Second)
	nursery, talker := recNursery.Stop(), recTalker.Stop()
	wg.Wait()
	other := recOther.Stop()

	start := -1
	for i, v := range nursery {
		if v > 100 || v < -100 {
			start = i
			break
		}
	}
	note := int(soothe.ChimeNote * media.SampleRate / time.Second)
	if start < 0 || len(nursery) < start+2*note+media.SampleRate/2 {
		t.Fatalf("the monitor's speaker played too little: from %d of %d samples", start, len(nursery))
	}
	if d := pulsetest.Dominant(nursery[start:start+note], media.SampleRate, 300, 1200, 5); math.Abs(d-soothe.ChimeLow) > 10 {
		t.Errorf("the speaker began with %v Hz, want the chime's %v", d, soothe.ChimeLow)
	}
	if !has700(nursery[start+2*note:]) {
		t.Error("the monitor's speaker did not play the voice (700 Hz)")
	}
	if !has700(other) {
		t.Error("the other listener did not hear the voice in the nursery")
	}
	if has700(talker) {
		t.Error("the talker heard their own voice come back")
	}
	for name, pcm := range map[string][]int16{"nursery": nursery, "talker": talker, "other": other} {
		const w = media.SampleRate / 2
		var desc []string
		for off := 0; off+w <= len(pcm); off += w {
			p := pcm[off : off+w]
			desc = append(desc, fmt.Sprintf("%.0f@%.4f", pulsetest.Dominant(p, media.SampleRate, 300, 1200, 5), pulsetest.RMS(p)))
		}
		t.Logf("%s: %s", name, strings.Join(desc, " "))
	}
}

// TestTalkNoSpeaker: against a monitor without a speaker, cradle talk
// says so and fails, instead of talking into nothing.
func TestTalkNoSpeaker(t *testing.T) {
	openInput = func(string) (play.Input, error) {
		return &toneInput{tick: time.NewTicker(10 * time.Millisecond), done: make(chan struct{})}, nil
	}
	defer func() { openInput = play.OpenInput }()
	m, err := monitor.Open(monitor.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.OpenPairing(0)
	dir, addr := t.TempDir(), m.Addr().String()
	if _, errs, code := runCLI("--state-dir", dir, "pair", addr, "--code", string(m.SetupCode())); code != 0 {
		t.Fatalf("pair: exit %d: %s", code, errs)
	}
	_, errs, code := runCLI("--state-dir", dir, "talk", addr, "--output", "none")
	if code == 0 || !strings.Contains(errs, "has no speaker to talk through: plug a USB speaker into the monitor") {
		t.Fatalf("no speaker: exit %d: %s", code, errs)
	}
}
