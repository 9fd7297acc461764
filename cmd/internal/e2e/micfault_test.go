package e2e

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// TestMicrophonePulledOutAndBack: the real cradled with --media devices
// on a real ALSA microphone that vanishes and comes back, and the real
// `cradle listen --output none --record` connected across the outage.
// The microphone is ALSA's pulse plugin ("testmic", through
// ALSA_CONFIG_PATH) on a private PulseAudio server's null sink monitor
// into which pacat plays a 1 kHz tone; unloading the sink's module is the
// microphone pulled out, loading it again (and restarting pacat) is the
// microphone plugged back. The listener alarms (audio lost) within 2 s
// and prints the microphone fault; within 10 s of the return its alarm
// clears by itself, on the same session, and its recording ends with the
// tone. cradled is not restarted.
func TestMicrophonePulledOutAndBack(t *testing.T) {
	opusdec, err := exec.LookPath("opusdec")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("opusdec missing: make test installs opus-tools")
		}
		t.Skip("opusdec missing (apt-get install opus-tools)")
	}
	if m, _ := filepath.Glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"); len(m) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("ALSA's pulse plugin is missing: make test installs libasound2-plugins")
		}
		t.Skip("ALSA's pulse plugin is missing (apt-get install libasound2-plugins)")
	}
	srv := pulsetest.Start(t)
	srv.Setenv(t) // for pactl and pacat here
	// PulseAudio would move the capture stream to the other null sink's
	// monitor when micsink goes: only micsink may exist.
	pactl(t, "unload-module", "module-null-sink")
	mic := plugTestMic(t)

	dir := t.TempDir()
	rc := filepath.Join(dir, "asoundrc")
	conf := "pcm.testmic {\n\ttype pulse\n\tdevice \"micsink.monitor\"\n\thint { show on description \"test mic\" }\n}\n"
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(c *exec.Cmd) {
		c.Env = append(append(os.Environ(), srv.Env()...), "ALSA_CONFIG_PATH=/usr/share/alsa/alsa.conf:"+rc)
	}
	state := filepath.Join(dir, "monitor")
	p := startWith(t, env, nil, "cradled", "--state-dir", state, "--listen", "127.0.0.1:0", "--log-level", "debug",
		"--hw", "sim", "--long-press", "4s", "--mdns=false", "--pair-when-new=false", "--page-listen", "off",
		"--media", "devices", "--microphone", "testmic")
	_, line := p.waitLine(0, servingRE, 20*time.Second)
	mon := &monitor{proc: p, state: state, addr: servingRE.FindStringSubmatch(line)[1]}
	if _, l := p.waitLine(0, regexp.MustCompile(`^Sound: `), 5*time.Second); !strings.Contains(l, "testmic") {
		t.Errorf("cradled's sound line: %q", l)
	}

	lis := []string{"--state-dir", filepath.Join(dir, "listener")}
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	ogg := filepath.Join(dir, "out.ogg")
	l := start(t, nil, "cradle", append(lis, "listen", "Nursery", "--output", "none", "--record", ogg, "--duration", "14s")...)
	from, _ := l.waitLine(0, regexp.MustCompile(`first audio`), 10*time.Second)
	// The null sink may take a second or two to deliver: wait for the tone
	// and no fault.
	from, _ = l.waitLine(from, regexp.MustCompile(`level -(1\d|[0-9])\.\d dBFS \(peak [^)]*\)( NOISE)?$`), 10*time.Second)
	time.Sleep(time.Second)

	mic.unplug(t)
	out := time.Now()
	from, _ = l.waitLine(from, regexp.MustCompile(`!!! ALARM Nursery: AUDIO LOST`), 2*time.Second)
	alarmAfter := time.Since(out)
	// cradle listen prints the level (and its faults) at most once a
	// second: the monitor's status has the fault within 1.25 s (the
	// in-process tests time it), the printed line up to a second later.
	from, _ = l.waitLine(from, regexp.MustCompile(`FAULT: microphone`), 3*time.Second-alarmAfter)
	faultAfter := time.Since(out)
	time.Sleep(2 * time.Second)

	plugTestMic(t) // plugged back (the cleanup stops its pacat)
	back := time.Now()
	l.waitLine(from, regexp.MustCompile(`alarm cleared: Nursery can be heard again`), 10*time.Second)
	clearedAfter := time.Since(back)
	t.Logf("pulled out: alarm after %v, fault after %v; plugged back: alarm cleared after %v",
		alarmAfter.Round(time.Millisecond), faultAfter.Round(time.Millisecond), clearedAfter.Round(time.Millisecond))

	l.waitLine(from, regexp.MustCompile(`stopped: `), 20*time.Second)
	text := strings.Join(l.snapshot(0), "\n")
	if strings.Contains(text, "stream interrupted") || strings.Count(text, "first audio") != 1 {
		t.Errorf("the listener's stream restarted:\n%s", text)
	}
	if strings.Count(p.stderrText(), "monitor ready") != 1 {
		t.Errorf("cradled restarted")
	}
	wav := filepath.Join(dir, "out.wav")
	if b, err := exec.Command(opusdec, "--quiet", "--rate", "48000", ogg, wav).CombinedOutput(); err != nil {
		t.Fatalf("opusdec: %v\n%s", err, b)
	}
	pcm := readWAV(t, wav)
	tail := pcm[max(0, len(pcm)-48000):]
	if f := dominant(tail, 48000, 300, 3000); math.Abs(f-1000) > 5 {
		t.Errorf("the recording's last second: dominant %.1f Hz, want the 1 kHz tone", f)
	}
}

func pactl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pactl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pactl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// testMic is the null sink "micsink" and the pacat that plays a 1 kHz
// tone into it.
type testMic struct {
	module string
	pacat  *exec.Cmd
	exited chan error
}

func plugTestMic(t *testing.T) *testMic {
	t.Helper()
	m := &testMic{exited: make(chan error, 1)}
	m.module = pactl(t, "load-module", "module-null-sink", "sink_name=micsink", "rate=48000", "channels=1")
	pcm := make([]byte, 2*48000) // a second: a whole number of cycles
	for i := range 48000 {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(math.Round(16384*math.Sin(2*math.Pi*1000*float64(i)/48000)))))
	}
	m.pacat = exec.Command("pacat", "--playback", "--device=micsink", "--latency-msec=10", "--raw",
		"--format=s16le", "--rate=48000", "--channels=1")
	m.pacat.Stdin = &loop{b: pcm}
	if err := m.pacat.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.exited <- m.pacat.Wait() }()
	t.Cleanup(func() { m.stop(0) })
	return m
}

// unplug unloads the sink; pacat's stream dies with it.
func (m *testMic) unplug(t *testing.T) {
	t.Helper()
	pactl(t, "unload-module", m.module)
	m.stop(3 * time.Second)
}

// stop waits up to grace for pacat to exit, then kills it. Twice is fine.
func (m *testMic) stop(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-m.exited:
		m.exited <- err
		return
	case <-t.C:
	}
	_ = m.pacat.Process.Kill()
	err := <-m.exited
	m.exited <- err
}

// loop repeats b for ever.
type loop struct {
	b   []byte
	off int
}

func (r *loop) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}
