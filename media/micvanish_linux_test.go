//go:build linux && cgo

package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
	_ "github.com/cradle-monitor/cradle/media/quiet" // ALSA's messages off the child's output
)

// Microphones that are not there, through the real ALSA path, each in a
// child process (libasound reads its configuration once, from
// ALSA_CONFIG_PATH):
//
//   - TestNoMicrophoneALSA: an ALSA configuration with no capture device
//     at all (only "null"). Auto falls back to the test tone; devices
//     mode waits for a microphone, and its Hub raises the fault.
//   - TestMicrophoneVanishesALSA: the microphone is ALSA's pulse plugin
//     on a private PulseAudio server's source "micsink.monitor": the
//     monitor of a null sink into which pacat plays a 1 kHz tone with a
//     10 ms latency, so the source delivers in real time. (PulseAudio's
//     sine source would be simpler, but it delivers two seconds at once.)
//     The child unloads the sink's module, as if the USB microphone were
//     pulled out (the ALSA stream stops delivering, and opening it fails
//     with "No such entity": the child first unloads the server's other
//     null sink, whose monitor PulseAudio would move the stream to), then
//     loads it again and restarts pacat. It
//     measures how long the Hub takes to raise the fault, and to carry
//     audio again on the same subscription after the return.

const (
	noMicChild     = "nomicrophone"
	vanishChild    = "vanishing-microphone"
	vanishSourceHz = 1000
)

func init() {
	subprocesses[noMicChild] = func() int { return runChild(noMicChild, checkNoMicrophone) }
	subprocesses[vanishChild] = func() int { return runChild(vanishChild, checkVanishingMicrophone) }
}

func runChild(name string, check func(*slog.Logger) error) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := check(log); err != nil {
		fmt.Fprintf(os.Stderr, "%s child: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s child: ok\n", name)
	return 0
}

// runInChild runs the named check in a child with the ALSA configuration
// conf added to ALSA's own (or, with only, instead of it).
func runInChild(t *testing.T, name, conf string, only bool, env ...string) string {
	t.Helper()
	if _, err := os.Stat(alsaConf); err != nil {
		t.Fatalf("ALSA is not installed (%v): apt-get install libasound2", err)
	}
	rc := filepath.Join(t.TempDir(), "asoundrc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	path := alsaConf + ":" + rc
	if only {
		path = rc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), subprocessEnv+"="+name, "ALSA_CONFIG_PATH="+path)
	out, err := cmd.CombinedOutput()
	t.Logf("child output:\n%s", out)
	if err != nil {
		t.Fatalf("%s child: %v", name, err)
	}
	if !strings.Contains(string(out), name+" child: ok") {
		t.Fatal("the child did not finish its checks")
	}
	return string(out)
}

func TestNoMicrophoneALSA(t *testing.T) {
	runInChild(t, noMicChild, "pcm.null { type null }\n", true)
}

func checkNoMicrophone(log *slog.Logger) error {
	if _, err := findMicrophone(""); !errors.Is(err, ErrNoMicrophone) {
		return fmt.Errorf("findMicrophone: %v, want ErrNoMicrophone", err)
	}
	src, err := OpenSources(ModeAuto, Config{}, log)
	if err != nil {
		return err
	}
	if a, ok := src.Audio.(*autoAudio); !ok || !a.synthetic() || a.present() {
		return fmt.Errorf("auto without a microphone: %v, want the test tone until a microphone is listed", src.Audio)
	}
	src, err = OpenSources(ModeDevices, Config{}, log)
	if err != nil {
		return fmt.Errorf("devices without a microphone: %v, want a source that waits", err)
	}
	h, err := NewHub(src, Config{}, log)
	if err != nil {
		return err
	}
	defer h.Close()
	if h.SyntheticAudio() {
		return errors.New("devices mode has the test tone")
	}
	lv, err := h.SubscribeLevels()
	if err != nil {
		return fmt.Errorf("SubscribeLevels without a microphone: %v", err)
	}
	defer lv.Close()
	start := time.Now()
	if err := awaitFault(h, true, 2*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fault after %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// awaitFault waits up to limit for the Hub's microphone fault to be want.
func awaitFault(h *Hub, want bool, limit time.Duration) error {
	deadline := time.After(limit)
	for {
		fault, changed := h.MicrophoneFault()
		if fault == want {
			return nil
		}
		select {
		case <-changed:
		case <-deadline:
			return fmt.Errorf("the microphone fault is not %v after %v", want, limit)
		}
	}
}

func TestMicrophoneVanishesALSA(t *testing.T) {
	if m, _ := filepath.Glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"); len(m) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("ALSA's pulse plugin is missing: apt-get install libasound2-plugins")
		}
		t.Skip("ALSA's pulse plugin is missing (apt-get install libasound2-plugins)")
	}
	srv := pulsetest.Start(t)
	conf := `pcm.testmic {
	type pulse
	device "micsink.monitor"
	hint { show on description "test mic" }
}
`
	out := runInChild(t, vanishChild, conf, false, srv.Env()...)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "figures:") {
			t.Log(l)
		}
	}
}

// pactl runs pactl on the test's PulseAudio server (the child inherited
// its environment).
func pactl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pactl", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pactl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// testMic is the PulseAudio source the child's microphone reads: a null
// sink's monitor and the pacat that plays a tone into it.
type testMic struct {
	module string
	pacat  *exec.Cmd
	exited chan error
}

// plugMic loads the null sink "micsink" and starts playing the tone.
func plugMic() (*testMic, error) {
	module, err := pactl("load-module", "module-null-sink", "sink_name=micsink", "rate=48000", "channels=1")
	if err != nil {
		return nil, err
	}
	m := &testMic{module: module, exited: make(chan error, 1)}
	m.pacat = exec.Command("pacat", "--playback", "--device=micsink", "--latency-msec=10", "--raw",
		"--format=s16le", "--rate=48000", "--channels=1")
	m.pacat.Stdin = &loopReader{pcm: sineBytes()}
	if err := m.pacat.Start(); err != nil {
		return nil, err
	}
	go func() { m.exited <- m.pacat.Wait() }()
	return m, nil
}

// unplug unloads the sink (pacat's stream dies with it) and waits for
// pacat.
func (m *testMic) unplug() error {
	_, err := pactl("unload-module", m.module)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.pacat.Process.Kill()
		<-m.exited
	}
	return err
}

// sineBytes is a second of the 1 kHz tone at half amplitude, as s16le: a
// whole number of cycles, so it loops without a click.
func sineBytes() []byte {
	pcm := sine(SampleRate, vanishSourceHz, 0.5)
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// loopReader repeats pcm for ever.
type loopReader struct {
	pcm []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.pcm[r.off:])
	r.off = (r.off + n) % len(r.pcm)
	return n, nil
}

func checkVanishingMicrophone(log *slog.Logger) error {
	// The server's own null sink goes: PulseAudio would move the
	// recording stream to its monitor when micsink is unloaded (the core
	// rescues streams), and the microphone would never vanish.
	if _, err := pactl("unload-module", "module-null-sink"); err != nil {
		return err
	}
	mic, err := plugMic()
	if err != nil {
		return err
	}
	src, err := OpenSources(ModeDevices, Config{Microphone: "testmic"}, log)
	if err != nil {
		return err
	}
	if !strings.Contains(src.Audio.String(), "testmic") {
		return fmt.Errorf("picked %s, want testmic", src.Audio)
	}
	h, err := NewHub(src, Config{}, log)
	if err != nil {
		return err
	}
	defer h.Close()
	lv, err := h.SubscribeLevels()
	if err != nil {
		return err
	}
	defer lv.Close()
	au, err := h.SubscribeAudio()
	if err != nil {
		return err
	}
	defer au.Close()

	// packets counts the audio packets until d has passed.
	packets := func(d time.Duration) (int, error) {
		n, deadline := 0, time.After(d)
		for {
			select {
			case _, ok := <-au.C():
				if !ok {
					return n, fmt.Errorf("the audio subscription ended: %v", au.Err())
				}
				n++
			case <-lv.C():
			case <-deadline:
				return n, nil
			}
		}
	}
	// firstPacket waits up to limit for an audio packet.
	firstPacket := func(limit time.Duration) error {
		deadline := time.After(limit)
		for {
			select {
			case _, ok := <-au.C():
				if !ok {
					return fmt.Errorf("the audio subscription ended: %v", au.Err())
				}
				return nil
			case <-lv.C():
			case <-deadline:
				return fmt.Errorf("no audio within %v", limit)
			}
		}
	}
	// toneHeard waits up to limit for a level with the tone in it.
	toneHeard := func(limit time.Duration) error {
		deadline := time.After(limit)
		for {
			select {
			case <-au.C():
			case l := <-lv.C():
				if l.RMSDBFS > -20 {
					return nil
				}
			case <-deadline:
				return fmt.Errorf("no tone within %v", limit)
			}
		}
	}
	// The null sink may take a second or two to deliver its first audio
	// (the Hub may reopen it once meanwhile): wait for the tone.
	if err := toneHeard(10 * time.Second); err != nil {
		return err
	}
	if err := awaitFault(h, false, time.Second); err != nil {
		return err
	}
	if n, err := packets(time.Second); err != nil || n < 80 {
		return fmt.Errorf("before: %d packets in a second (%v)", n, err)
	}
	faults := h.Stats().MicFaults

	// Pull it out.
	if err := mic.unplug(); err != nil {
		return err
	}
	gone := time.Now()
	if err := awaitFault(h, true, 2*time.Second); err != nil {
		return err
	}
	faultAfter := time.Since(gone)
	// What was on its way drains; then nothing while it is gone.
	if _, err := packets(500 * time.Millisecond); err != nil {
		return err
	}
	if n, err := packets(3 * time.Second); err != nil || n > 0 {
		return fmt.Errorf("%d packets while the microphone was gone (%v)", n, err)
	}

	// Plug it back.
	if mic, err = plugMic(); err != nil {
		return err
	}
	defer mic.unplug()
	back := time.Now()
	if err := firstPacket(10 * time.Second); err != nil {
		return fmt.Errorf("after the microphone came back: %w", err)
	}
	audioAfter := time.Since(back)
	if err := awaitFault(h, false, 10*time.Second-audioAfter); err != nil {
		return err
	}
	clearedAfter := time.Since(back)
	if err := toneHeard(10*time.Second - clearedAfter); err != nil {
		return fmt.Errorf("after the microphone came back: %w", err)
	}
	toneAfter := time.Since(back)
	if n, err := packets(2 * time.Second); err != nil || n < 150 {
		return fmt.Errorf("after: %d packets in 2 s (%v)", n, err)
	}
	if st := h.Stats(); st.MicStarts != 1 || st.MicFaults != faults+1 || st.AudioEncoderStarts != 1 {
		return fmt.Errorf("hub stats %+v", st)
	}
	fmt.Fprintf(os.Stderr, "figures: fault %v after the source vanished; audio %v, fault cleared %v, tone heard %v after it came back\n",
		faultAfter.Round(time.Millisecond), audioAfter.Round(time.Millisecond), clearedAfter.Round(time.Millisecond), toneAfter.Round(time.Millisecond))
	return nil
}
