package e2e

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestListenRecordsTheTone: `cradled --media test`, pair, `cradle listen
// --record out.ogg --duration 3s`; the recording decodes (opusdec) to
// about 3 s of audio whose dominant frequency is the tone's (±5 Hz), with
// no gap over 100 ms.
func TestListenRecordsTheTone(t *testing.T) {
	opusdec, err := exec.LookPath("opusdec")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("opusdec missing: make test installs opus-tools")
		}
		t.Skip("opusdec missing (apt-get install opus-tools)")
	}
	dir := t.TempDir()
	mon := startMonitor(t, nil, filepath.Join(dir, "monitor"), "127.0.0.1:0", "--media", "test")
	lis := []string{"--state-dir", filepath.Join(dir, "listener")}
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", append(lis, "pair", mon.addr, "--code", mon.code(t))...)
	ogg := filepath.Join(dir, "out.ogg")
	out := mustRun(t, nil, "cradle", append(lis, "listen", "Nursery", "--output", "none", "--record", ogg, "--duration", "3s")...)
	for _, want := range []string{"online", "stream connected", "first audio", `level -\d+\.\d dBFS`, "stopped"} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("cradle listen output lacks %q:\n%s", want, out)
		}
	}

	raw, err := os.ReadFile(ogg)
	if err != nil {
		t.Fatal(err)
	}
	if gap := maxOggGap(t, raw); gap > 100*time.Millisecond {
		t.Errorf("gap of %v in the recording, want none over 100ms", gap)
	}
	wav := filepath.Join(dir, "out.wav")
	if b, err := exec.Command(opusdec, "--quiet", "--rate", "48000", ogg, wav).CombinedOutput(); err != nil {
		t.Fatalf("opusdec: %v\n%s", err, b)
	}
	pcm := readWAV(t, wav)
	secs := float64(len(pcm)) / 48000
	if secs < 2.5 || secs > 3.2 {
		t.Errorf("recording lasts %.2fs, want about 3s", secs)
	}
	f := dominant(pcm[len(pcm)/10:], 48000, 300, 600)
	if math.Abs(f-440) > 5 {
		t.Errorf("dominant frequency %.1f Hz, want 440±5", f)
	}
	t.Logf("recorded %.2fs, dominant %.1f Hz", secs, f)
}

// maxOggGap parses the Ogg pages of an Ogg/Opus file and returns the
// largest jump of the granule position beyond the audio the page holds.
func maxOggGap(t *testing.T, b []byte) time.Duration {
	t.Helper()
	var prev int64 = -1
	var gap int64
	pages := 0
	for len(b) >= 27 {
		if string(b[:4]) != "OggS" {
			t.Fatalf("no Ogg page at offset (left %d bytes)", len(b))
		}
		granule := int64(binary.LittleEndian.Uint64(b[6:14]))
		nseg := int(b[26])
		lacing := b[27 : 27+nseg]
		body := b[27+nseg:]
		// Sum the audio of the page's packets from their TOC bytes.
		var samples int64
		off, size := 0, 0
		for _, l := range lacing {
			size += int(l)
			if l < 255 {
				if size > 0 && off < len(body) {
					samples += opusSamples(body[off:off+size], pages)
				}
				off += size
				size = 0
			}
		}
		total := 0
		for _, l := range lacing {
			total += int(l)
		}
		if pages >= 2 && prev >= 0 && granule >= 0 {
			if g := granule - prev - samples; g > gap {
				gap = g
			}
		}
		if pages >= 2 {
			prev = granule
		}
		pages++
		b = body[total:]
	}
	if pages < 10 {
		t.Fatalf("only %d Ogg pages", pages)
	}
	return time.Duration(gap) * time.Second / 48000
}

// opusSamples is a packet's length in 48 kHz samples, from its TOC byte
// (RFC 6716 section 3.1); header pages (OpusHead, OpusTags) count zero.
func opusSamples(p []byte, page int) int64 {
	if page < 2 || len(p) == 0 {
		return 0
	}
	cfg := p[0] >> 3
	var frame int64
	switch {
	case cfg < 12: // SILK 10, 20, 40, 60 ms
		frame = []int64{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid 10, 20 ms
		frame = []int64{480, 960}[cfg%2]
	default: // CELT 2.5, 5, 10, 20 ms
		frame = []int64{120, 240, 480, 960}[cfg%4]
	}
	switch p[0] & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	default:
		if len(p) < 2 {
			return 0
		}
		return int64(p[1]&0x3f) * frame
	}
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Find the data chunk.
	i := 12
	for i+8 <= len(b) {
		id, n := string(b[i:i+4]), int(binary.LittleEndian.Uint32(b[i+4:i+8]))
		if id == "data" {
			d := b[i+8 : min(len(b), i+8+n)]
			pcm := make([]int16, len(d)/2)
			for k := range pcm {
				pcm[k] = int16(binary.LittleEndian.Uint16(d[2*k:]))
			}
			return pcm
		}
		i += 8 + n
	}
	t.Fatal("no data chunk in the WAV file")
	return nil
}

// dominant returns the frequency in [lo, hi] Hz with the most energy,
// by a Goertzel scan in 0.5 Hz steps.
func dominant(pcm []int16, rate, lo, hi float64) float64 {
	best, bestF := -1.0, lo
	for f := lo; f <= hi; f += 0.5 {
		w := 2 * math.Pi * f / rate
		c := 2 * math.Cos(w)
		var s1, s2 float64
		for _, x := range pcm {
			s := float64(x) + c*s1 - s2
			s2, s1 = s1, s
		}
		if p := s1*s1 + s2*s2 - c*s1*s2; p > best {
			best, bestF = p, f
		}
	}
	return bestF
}
