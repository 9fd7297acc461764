// Package pulsetest runs a private PulseAudio server for tests: a real,
// paced sound output with no sound card. Its null sink "spk" (48 kHz,
// stereo) is the default output, and its monitor can be recorded, so a
// test can play through the real audio stack and check what came out.
//
// It needs `pulseaudio` and `pulseaudio-utils` (for pactl and parec). When
// they are missing, Start skips the test, unless CI is set: then it fails.
//
// The analysis helpers (Goertzel, Dominant, RMS) need no server.
package pulsetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Rate is the sample rate of the sink and of recordings.
const Rate = 48000

// Server is a running PulseAudio server, stopped when the test ends.
type Server struct {
	// Dir holds the server's config, runtime dir and socket.
	Dir string
	// Socket is the path of its native-protocol socket.
	Socket string

	cmd    *exec.Cmd
	stderr *logBuffer
}

// logBuffer is the server's stderr: exec's copier writes it while a
// failing Start or StartRecording reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Available reports whether the PulseAudio programs are installed.
func Available() bool {
	for _, p := range []string{"pulseaudio", "pactl", "parec"} {
		if _, err := exec.LookPath(p); err != nil {
			return false
		}
	}
	return true
}

// need skips t, or fails it under CI, when PulseAudio is missing.
func need(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("pulsetest: pulseaudio, pactl or parec is missing: apt-get install pulseaudio pulseaudio-utils")
	}
	t.Skip("pulsetest: pulseaudio not installed (apt-get install pulseaudio pulseaudio-utils)")
}

// Start runs a server for the rest of the test and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	need(t)
	dir, err := os.MkdirTemp("", "pulsetest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Dir: dir, Socket: filepath.Join(dir, "pulse.sock"), stderr: new(logBuffer)}
	for _, d := range []string{"home", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`load-module module-null-sink sink_name=spk rate=%d channels=2
set-default-sink spk
load-module module-native-protocol-unix auth-anonymous=1 socket=%s
`, Rate, s.Socket)
	conf := filepath.Join(dir, "default.pa")
	if err := os.WriteFile(conf, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1",
		"-F", conf, "--use-pid-file=no", "--log-target=stderr")
	s.cmd.Env = append(os.Environ(), s.Env()...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("pulsetest: starting pulseaudio: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-exited
		}
	})
	// Wait for it to answer, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command("pactl", "info")
		cmd.Env = append(os.Environ(), s.Env()...)
		if cmd.Run() == nil {
			return s
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("pulsetest: pulseaudio exited: %v\n%s", err, s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulsetest: pulseaudio did not answer within 10 s\n%s", s.stderr)
		}
	}
}

// Env returns the variables a client needs to use this server (HOME,
// XDG_RUNTIME_DIR, PULSE_SERVER), as KEY=VALUE for a child's environment.
func (s *Server) Env() []string {
	return []string{
		"HOME=" + filepath.Join(s.Dir, "home"),
		"XDG_RUNTIME_DIR=" + filepath.Join(s.Dir, "run"),
		"PULSE_SERVER=unix:" + s.Socket,
	}
}

// Setenv sets Env in the test process itself for the rest of the test, so
// in-process clients (miniaudio) use this server.
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Recorder records the sink's monitor (everything played) as 48 kHz mono.
type Recorder struct {
	s      *Server
	path   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	exited chan error
	done   bool
	pcm    []int16
}

// Load loads a module into the server (pactl load-module), e.g.
// "module-null-sink sink_name=talker rate=48000 channels=2" for another
// sink, or "module-sine-source source_name=mic frequency=700 rate=48000"
// for a microphone that hears a tone.
func (s *Server) Load(t testing.TB, module string) {
	t.Helper()
	cmd := exec.Command("pactl", append([]string{"load-module"}, strings.Fields(module)...)...)
	cmd.Env = append(os.Environ(), s.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pulsetest: pactl load-module %s: %v\n%s", module, err, out)
	}
}

// StartRecording starts recording the default sink (spk) and returns
// once samples are arriving. Stop the recorder to get them; the test's
// end stops it too.
func (s *Server) StartRecording(t testing.TB) *Recorder {
	t.Helper()
	return s.StartRecordingOf(t, "spk")
}

// StartRecordingOf records what is played into sink (a null sink's name)
// as StartRecording does.
func (s *Server) StartRecordingOf(t testing.TB, sink string) *Recorder {
	t.Helper()
	f, err := os.CreateTemp(s.Dir, "rec-*.raw")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{s: s, path: f.Name(), cancel: cancel, exited: make(chan error, 1)}
	r.cmd = exec.CommandContext(ctx, "parec", "--device="+sink+".monitor", "--format=s16le",
		fmt.Sprint("--rate=", Rate), "--channels=1", "--latency-msec=20")
	r.cmd.Env = append(os.Environ(), s.Env()...)
	r.cmd.Stdout = f
	r.cmd.Cancel = func() error { return r.cmd.Process.Signal(syscall.SIGINT) }
	r.cmd.WaitDelay = 5 * time.Second
	if err := r.cmd.Start(); err != nil {
		f.Close()
		cancel()
		t.Fatalf("pulsetest: starting parec: %v", err)
	}
	f.Close()
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() { r.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(r.path); err == nil && fi.Size() > 0 {
			return r
		}
		select {
		case err := <-r.exited:
			r.exited <- err
			t.Fatalf("pulsetest: parec exited: %v\n%s", err, s.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("pulsetest: parec recorded nothing within 10 s")
		}
	}
}

func (r *Recorder) stop() {
	if r.done {
		return
	}
	r.done = true
	r.cancel()
	<-r.exited
	b, _ := os.ReadFile(r.path)
	r.pcm = make([]int16, len(b)/2)
	for i := range r.pcm {
		r.pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
}

// Stop ends the recording and returns what was recorded since
// StartRecording returned (and a little before).
func (r *Recorder) Stop() []int16 {
	r.stop()
	return r.pcm
}

// Goertzel returns the power of pcm at hz (sampled at rate).
func Goertzel(pcm []int16, rate, hz float64) float64 {
	w := 2 * math.Pi * hz / rate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + c*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// Dominant returns the strongest frequency of pcm between lo and hi,
// searched in steps of step Hz.
func Dominant(pcm []int16, rate, lo, hi, step float64) float64 {
	best, bestP := lo, -1.0
	for hz := lo; hz <= hi; hz += step {
		if p := Goertzel(pcm, rate, hz); p > bestP {
			best, bestP = hz, p
		}
	}
	return best
}

// RMS returns the RMS of pcm relative to full scale (0 to 1).
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum/float64(len(pcm))) / 32768
}

// SpectrumDB returns the power of pcm at hz, in dB, averaged over
// Hann-windowed blocks of 2048 samples: a smooth estimate for noise,
// where one Goertzel over the whole signal scatters. Compare two
// frequencies to read a spectrum's slope (about 0 dB an octave for white
// noise, -3 for pink, -6 for brown).
func SpectrumDB(pcm []int16, rate, hz float64) float64 {
	const n = 2048
	w := 2 * math.Pi * hz / rate
	c := 2 * math.Cos(w)
	var total float64
	blocks := 0
	for off := 0; off+n <= len(pcm); off += n {
		var s1, s2 float64
		for i, x := range pcm[off : off+n] {
			hann := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/(n-1))
			s := float64(x)*hann + c*s1 - s2
			s2, s1 = s1, s
		}
		total += s1*s1 + s2*s2 - c*s1*s2
		blocks++
	}
	if blocks == 0 || total == 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(total/float64(blocks))
}
