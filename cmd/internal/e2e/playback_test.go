package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media/play"
	"github.com/cradle-monitor/cradle/media/play/pulsetest"
)

// These tests play through a real, paced output: a PulseAudio server
// with a null sink that the test starts itself, whose monitor is
// recorded. miniaudio in `cradle listen` finds it through PULSE_SERVER.

const window = 50 * time.Millisecond

// sound is what a recording holds in one window.
type sound int

const (
	silent    sound = iota // nothing above -50 dBFS
	tone                   // the monitor's 440 Hz tone
	alarmTone              // the alarm's 1000/1500 Hz
	other
)

func (s sound) String() string { return [...]string{"silent", "tone", "alarm", "other"}[s] }

// classify splits a 48 kHz recording into 50 ms windows.
func classify(pcm []int16) []sound {
	n := int(pulsetest.Rate * window / time.Second)
	var out []sound
	for i := 0; i+n <= len(pcm); i += n {
		w := pcm[i : i+n]
		if pulsetest.RMS(w) < 0.003 { // -50 dBFS
			out = append(out, silent)
			continue
		}
		p440 := pulsetest.Goertzel(w, pulsetest.Rate, 440)
		pAlarm := max(pulsetest.Goertzel(w, pulsetest.Rate, play.AlarmHzLow), pulsetest.Goertzel(w, pulsetest.Rate, play.AlarmHzHigh))
		switch {
		case pAlarm > 4*p440:
			out = append(out, alarmTone)
		case p440 > 4*pAlarm:
			out = append(out, tone)
		default:
			out = append(out, other)
		}
	}
	return out
}

// first returns the index of the first window at or after from holding s, or -1.
func first(ws []sound, from int, s sound) int {
	for i := max(from, 0); i < len(ws); i++ {
		if ws[i] == s {
			return i
		}
	}
	return -1
}

// count counts the windows in [from, to) holding s.
func count(ws []sound, from, to int, s sound) int {
	n := 0
	for i := max(from, 0); i < min(to, len(ws)); i++ {
		if ws[i] == s {
			n++
		}
	}
	return n
}

// alarmAfterTone finds where the tone that plays at window from ends (the
// first window of alarm or silence after it) and the alarm's first window
// after that; it returns the delay between them and the alarm's window.
func alarmAfterTone(t *testing.T, ws []sound, from int) (time.Duration, int) {
	t.Helper()
	if from < 0 || from >= len(ws) || ws[from] != tone {
		t.Fatalf("no tone playing at window %d:%s", from, summary(ws))
	}
	end := from
	for end < len(ws) && ws[end] != alarmTone && ws[end] != silent {
		end++
	}
	onset := first(ws, end, alarmTone)
	if onset < 0 {
		t.Fatalf("no alarm sound after the tone stopped at window %d:%s", end, summary(ws))
	}
	return time.Duration(onset-end) * window, onset
}

func summary(ws []sound) string {
	out := ""
	for i, s := range ws {
		if i%20 == 0 {
			out += fmt.Sprintf("\n%5.1fs ", float64(i)*window.Seconds())
		}
		out += s.String()[:1]
	}
	return out
}

// pairedMonitor starts cradled with extra flags and pairs a listener state
// directory with it.
func pairedMonitor(t *testing.T, extra ...string) (*monitor, []string) {
	t.Helper()
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0", append([]string{"--media", "test"}, extra...)...)
	lis := []string{"--state-dir", filepath.Join(dir, "listener")}
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	return mon, lis
}

var (
	outputRE    = regexp.MustCompile(`output: .*, playing`)
	connectedRE = regexp.MustCompile(`stream connected`)
)

// TestListenPlaysAndAlarms: `cradle listen` plays the monitor's 440 Hz
// tone; SIGSTOP the monitor and the alarm sound is in the output within
// 3.5 s (audio lost after 0.4 s, then link lost from the heartbeat, also
// within 3.5 s); SIGCONT and the tone returns while the alarm stops.
func TestListenPlaysAndAlarms(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	mon, lis := pairedMonitor(t)
	rec := srv.StartRecording(t)
	recStart := time.Now()
	w := start(t, nil, "cradle", append(lis, "listen", "Nursery")...)
	w.waitLine(0, outputRE, 10*time.Second)
	w.waitLine(0, connectedRE, 10*time.Second)
	time.Sleep(2 * time.Second)
	stopped := time.Now()
	mon.signal(syscall.SIGSTOP)
	_, line := w.waitLine(0, regexp.MustCompile(`ALARM Nursery: LINK LOST`), 5*time.Second)
	if d := time.Since(stopped); d > 3500*time.Millisecond {
		t.Errorf("link lost reported %v after the monitor froze, want within 3.5s (%s)", d, line)
	}
	time.Sleep(time.Second)
	resumed := time.Now()
	mon.signal(syscall.SIGCONT)
	w.waitLine(0, regexp.MustCompile(`alarm cleared`), 10*time.Second)
	time.Sleep(2 * time.Second)
	ws := classify(rec.Stop())
	at := func(t time.Time) int { return int(t.Sub(recStart) / window) }

	if n := count(ws, at(stopped)-30, at(stopped)-2, tone); n < 25 {
		t.Fatalf("the tone was not playing before the monitor froze (%d of 28 windows):%s", n, summary(ws))
	}
	delay, onset := alarmAfterTone(t, ws, at(stopped)-2)
	t.Logf("alarm sound %v after the tone stopped", delay)
	if delay > 3500*time.Millisecond {
		t.Fatalf("alarm sound %v after the tone stopped, want within 3.5s:%s", delay, summary(ws))
	}
	if n := count(ws, onset, at(resumed), alarmTone); n < (at(resumed)-onset)/3 {
		t.Fatalf("the alarm did not keep sounding while the monitor was frozen (%d windows):%s", n, summary(ws))
	}
	end := len(ws)
	if n := count(ws, end-20, end, tone); n < 17 {
		t.Fatalf("the tone did not come back after SIGCONT (%d of the last 20 windows):%s", n, summary(ws))
	}
	if n := count(ws, end-20, end, alarmTone); n > 0 {
		t.Fatalf("the alarm still sounds after the monitor came back:%s", summary(ws))
	}
}

// TestListenAudioLostAlarm: the monitor's microphone stalls while the link
// stays up: the alarm sounds within 500 ms of the last sound played.
func TestListenAudioLostAlarm(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	_, lis := pairedMonitor(t, "--test-audio", "tone:3s,stall", "--history-days", "0") // the script starts with the first listener
	rec := srv.StartRecording(t)
	w := start(t, nil, "cradle", append(lis, "listen", "Nursery")...)
	w.waitLine(0, connectedRE, 10*time.Second)
	w.waitLine(0, regexp.MustCompile(`ALARM Nursery: AUDIO LOST`), 10*time.Second)
	time.Sleep(time.Second)
	ws := classify(rec.Stop())
	delay, _ := alarmAfterTone(t, ws, first(ws, 0, tone))
	t.Logf("audio-lost alarm sound %v after the last tone window", delay)
	if delay > 500*time.Millisecond {
		t.Fatalf("alarm %v after the sound stopped, want within 500ms:%s", delay, summary(ws))
	}
	for _, l := range w.snapshot(0) {
		if regexp.MustCompile(`offline|LINK LOST`).MatchString(l) {
			t.Fatalf("the link was reported lost during an audio stall: %q", l)
		}
	}
}

// TestListenVOX: with --vox, a quiet room (the tone 40 dB down, below the
// threshold) plays nothing, and the loud tone is played within the attack
// time of its start.
func TestListenVOX(t *testing.T) {
	srv := pulsetest.Start(t)
	srv.Setenv(t)
	_, lis := pairedMonitor(t, "--test-audio", "quiet:2s,tone:1500ms", "--history-days", "0") // the script starts with the first listener
	rec := srv.StartRecording(t)
	w := start(t, nil, "cradle", append(lis, "listen", "Nursery", "--vox")...)
	w.waitLine(0, regexp.MustCompile(`output: .*VOX`), 10*time.Second)
	w.waitLine(0, connectedRE, 10*time.Second)
	time.Sleep(7 * time.Second) // two cycles
	pcm := rec.Stop()
	ws := classify(pcm)
	// Find each start of the loud tone by its level (VOX must play it);
	// between two loud periods the quiet tone must not be played. The
	// hold (5 s) keeps the gate open after a loud period, so look at the
	// quiet time before the first loud one only.
	loud := first(ws, 0, tone)
	if loud < 0 {
		t.Fatalf("the loud tone was never played:%s", summary(ws))
	}
	if loud < 10 {
		t.Fatalf("sound from the start: the quiet room was played:%s", summary(ws))
	}
	// Before the first loud window nothing at all was played: the quiet
	// tone (-55 dBFS) would read as a 440 Hz window above the floor if VOX
	// let it through. Check with a lower floor than classify's.
	n := int(pulsetest.Rate * window / time.Second)
	for i := 2; i < loud-1; i++ {
		if rms := pulsetest.RMS(pcm[i*n : (i+1)*n]); rms > 0.0003 {
			t.Fatalf("window %d (before the loud tone) has sound at RMS %.5f: VOX played the quiet room:%s", i, rms, summary(ws))
		}
	}
	// The loud tone plays for its 1.5 s, then the hold keeps the quiet
	// room audible for 5 s (DECT-style hold): the windows after it are
	// not silent.
	if c := count(ws, loud, loud+30, tone); c < 25 {
		t.Fatalf("the loud tone was cut short (%d of 30 windows):%s", c, summary(ws))
	}
}
