//go:build linux && cgo

package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real microphone path, through mediadevices, miniaudio and ALSA, with
// ALSA's file plugin as the microphone: a "testmic" PCM whose capture side
// reads a raw file holding a 1 kHz tone at half amplitude. The driver lists
// devices when the program starts, so the check runs in a child process
// started with ALSA_CONFIG_PATH pointing at the extra configuration. The
// file plugin is not paced in real time: the child reads faster than a
// microphone would, which changes nothing that is checked here.

const (
	micChild     = "microphone"
	micToneHz    = 1000
	micAmplitude = 0.5
	alsaConf     = "/usr/share/alsa/alsa.conf"
)

func init() { subprocesses[micChild] = runMicrophoneChild }

func TestMicrophoneALSA(t *testing.T) {
	if _, err := os.Stat(alsaConf); err != nil {
		t.Fatalf("ALSA is not installed (%v): apt-get install libasound2", err)
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "tone.raw")
	pcm := sine(5*SampleRate, micToneHz, micAmplitude)
	buf := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
	}
	if err := os.WriteFile(raw, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "asoundrc")
	conf := fmt.Sprintf(`pcm.testmic {
	type file
	slave.pcm "null"
	file "/dev/null"
	infile %q
	format "raw"
	hint { show on description "test mic" }
}
`, raw)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), subprocessEnv+"="+micChild, "ALSA_CONFIG_PATH="+alsaConf+":"+rc)
	out, err := cmd.CombinedOutput()
	t.Logf("child output:\n%s", out)
	if err != nil {
		t.Fatalf("microphone child: %v", err)
	}
	if !strings.Contains(string(out), "microphone child: ok") {
		t.Fatal("the child did not finish its checks")
	}
}

// runMicrophoneChild runs in the child: it finds the test microphone,
// reads it directly, then through a Hub.
func runMicrophoneChild() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := checkMicrophone(log); err != nil {
		fmt.Fprintln(os.Stderr, "microphone child:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "microphone child: ok")
	return 0
}

func checkMicrophone(log *slog.Logger) error {
	src, err := OpenSources(ModeDevices, Config{Microphone: "testmic"}, log)
	if err != nil {
		return err
	}
	if !strings.Contains(src.Audio.String(), "testmic") {
		return fmt.Errorf("picked %s, want testmic", src.Audio)
	}

	// Directly: frequency and level of half a second of captured PCM.
	st, err := src.Audio.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	var got []int16
	for len(got) < SampleRate {
		p, err := st.Read()
		if err != nil {
			st.Close()
			return fmt.Errorf("read: %w", err)
		}
		got = append(got, p.Samples...)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if _, err := st.Read(); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("read after close: %v", err)
	}
	tail := got[SampleRate/2:]
	if hz := dominant(tail); math.Abs(hz-micToneHz) > 5 {
		return fmt.Errorf("dominant frequency %v Hz, want %v", hz, micToneHz)
	}
	rms, peak := Measure(tail)
	if math.Abs(rms-DBFS(micAmplitude/math.Sqrt2)) > 0.2 || math.Abs(peak-DBFS(micAmplitude)) > 0.2 {
		return fmt.Errorf("level %.2f dBFS RMS, %.2f peak; want -9.03 and -6.02", rms, peak)
	}
	fmt.Fprintf(os.Stderr, "direct: %d samples, dominant %v Hz, %.2f dBFS RMS, %.2f dBFS peak\n", len(got), dominant(tail), rms, peak)

	// Through a Hub: levels and Opus packets from the device.
	h, err := NewHub(src, Config{}, log)
	if err != nil {
		return err
	}
	defer h.Close()
	lv, err := h.SubscribeLevels()
	if err != nil {
		return err
	}
	au, err := h.SubscribeAudio()
	if err != nil {
		return err
	}
	deadline := time.After(20 * time.Second)
	var levels, packets int
	for levels < 5 || packets < 50 {
		select {
		case l := <-lv.C():
			levels++
			if levels > 2 && math.Abs(l.RMSDBFS-DBFS(micAmplitude/math.Sqrt2)) > 0.5 {
				return fmt.Errorf("hub level %+v", l)
			}
		case s := <-au.C():
			packets++
			if d, _, err := opusPacketDuration(s.Data); err != nil || d != 10*time.Millisecond {
				return fmt.Errorf("packet %d: %v %v", packets, d, err)
			}
		case <-deadline:
			return fmt.Errorf("after 20s: %d levels, %d packets", levels, packets)
		}
	}
	lv.Close()
	au.Close()
	if st := h.Stats(); st.MicOn || st.MicStarts != 1 || st.MicStops != 1 || st.AudioEncoderStarts != 1 {
		return fmt.Errorf("hub stats %+v", st)
	}
	fmt.Fprintf(os.Stderr, "hub: %d levels, %d packets\n", levels, packets)
	return nil
}
