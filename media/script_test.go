package media

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseAudioScript(t *testing.T) {
	ms := func(n int64) int64 { return n * SampleRate / 1000 }
	good := []struct {
		in    string
		steps []scriptStep
		cycle int64
	}{
		{"", []scriptStep{{stepTone, 0}}, 0},
		{"tone", []scriptStep{{stepTone, 0}}, 0},
		{"tone:3s,stall", []scriptStep{{stepTone, ms(3000)}, {stepStall, 0}}, 0},
		{"tone:1s, silence:500ms ,stall:1.5s", []scriptStep{{stepTone, ms(1000)}, {stepSilence, ms(500)}, {stepStall, ms(1500)}}, ms(3000)},
		{"silence:1ms", []scriptStep{{stepSilence, 48}}, 48},
		{"quiet:1s,tone:1s", []scriptStep{{stepQuiet, ms(1000)}, {stepTone, ms(1000)}}, ms(2000)},
		{"stall:2562047h", []scriptStep{{stepStall, 2562047 * 3600 * SampleRate}}, 2562047 * 3600 * SampleRate},
	}
	for _, tt := range good {
		sc, err := parseAudioScript(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if len(sc.steps) != len(tt.steps) || sc.cycle != tt.cycle {
			t.Errorf("%q: %+v, want steps %+v cycle %d", tt.in, sc, tt.steps, tt.cycle)
			continue
		}
		for i := range tt.steps {
			if sc.steps[i] != tt.steps[i] {
				t.Errorf("%q: step %d %+v, want %+v", tt.in, i+1, sc.steps[i], tt.steps[i])
			}
		}
	}
	bad := []struct{ in, want string }{
		{"tone:3s,,stall", `step 2 "": empty step`},
		{"tone:3s,", `step 2 "": empty step`},
		{"beep:1s", `step 1 "beep:1s": "beep" is not tone, quiet, silence or stall`},
		{"Tone:1s", `"Tone" is not tone, quiet, silence or stall`},
		{"stall,tone:1s", `step 1 "stall": no duration: only the last step may last forever`},
		{"tone:3", `step 1 "tone:3": "3" is not a duration`},
		{"tone:", `"" is not a duration`},
		{"silence:0s", `step 1 "silence:0s": 0s is too short: use at least 1ms`},
		{"tone:1s,stall:-1s", `step 2 "stall:-1s": -1s is too short`},
		{"tone:10us", `10µs is too short`},
	}
	for _, tt := range bad {
		_, err := parseAudioScript(tt.in)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an invalid configuration naming %s", tt.in, err, tt.want)
		}
		cfg := Config{TestAudio: tt.in}
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "test audio") {
			t.Errorf("Validate with TestAudio %q: %v", tt.in, err)
		}
	}
}

// chunkKind classifies a chunk by its level: the test tone (0.25 of full
// scale, -15.05 dBFS RMS) or silence.
func chunkKind(t *testing.T, pcm []int16) string {
	t.Helper()
	switch rms, _ := Measure(pcm); {
	case rms == MinDBFS:
		return "silence"
	case math.Abs(rms-(-15.05)) < 0.5:
		return "tone"
	default:
		t.Fatalf("chunk of %d samples at %.2f dBFS: neither tone nor silence", len(pcm), rms)
		return ""
	}
}

// TestToneScriptSteps plays two passes of a script in virtual time: tone
// and silence arrive chunk by chunk in real time, a stall delivers nothing
// for its length, and the tone resumes with its phase where it stopped.
func TestToneScriptSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewScriptedToneSource(440, 0.25, "tone:100ms,silence:50ms,stall:200ms")
		if err != nil {
			t.Fatal(err)
		}
		if want := `script "tone:100ms,silence:50ms,stall:200ms"`; !strings.Contains(src.String(), want) {
			t.Errorf("String() = %q, want it to name the script", src.String())
		}
		st, err := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Now()
		var tone []int16
		type want struct {
			kind           string
			captured, back time.Duration // since start
		}
		var wants []want
		for pass := range 2 {
			base := time.Duration(pass) * 350 * time.Millisecond
			for i := range 10 {
				at := base + time.Duration(i)*10*time.Millisecond
				wants = append(wants, want{"tone", at, at + 10*time.Millisecond})
			}
			for i := range 5 {
				at := base + 100*time.Millisecond + time.Duration(i)*10*time.Millisecond
				wants = append(wants, want{"silence", at, at + 10*time.Millisecond})
			}
			// The stall: the next chunk is the next pass's first, 200ms later.
		}
		for i, w := range wants {
			pcm, err := st.Read()
			if err != nil {
				t.Fatal(err)
			}
			got := want{chunkKind(t, pcm.Samples), pcm.Captured.Sub(start), time.Since(start)}
			if got != w || len(pcm.Samples) != 480 {
				t.Fatalf("chunk %d: %+v of %d samples, want %+v of 480", i, got, len(pcm.Samples), w)
			}
			if got.kind == "tone" {
				tone = append(tone, pcm.Samples...)
			}
		}
		// Phase kept: the tone chunks join into one unbroken sine.
		whole := sine(len(tone), 440, 0.25)
		for i := range tone {
			if d := int(tone[i]) - int(whole[i]); d < -1 || d > 1 {
				t.Fatalf("tone sample %d: %d, want %d: the tone restarted", i, tone[i], whole[i])
			}
		}
		if got := dominant(tone); got != 440 {
			t.Errorf("dominant %v Hz, want 440", got)
		}
	})
}

// TestToneScriptChunkBoundaries: steps need not line up with chunks. A
// chunk mixes tone and silence; one is cut short where a stall begins.
func TestToneScriptChunkBoundaries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, _ := NewScriptedToneSource(440, 0.25, "tone:15ms,silence:10ms,tone:5ms,stall:7ms")
		st, _ := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		defer st.Close()
		start := time.Now()
		want := []struct {
			samples  int
			captured time.Duration
			rms      string // of the first and the second half
		}{
			{480, 0, "tone tone"},
			{480, 10 * time.Millisecond, "tone silence"},
			{480, 20 * time.Millisecond, "silence tone"},
			{480, 37 * time.Millisecond, "tone tone"}, // after the 7ms stall
		}
		for i, w := range want {
			pcm, err := st.Read()
			if err != nil {
				t.Fatal(err)
			}
			half := len(pcm.Samples) / 2
			kinds := chunkKind(t, pcm.Samples[:half]) + " " + chunkKind(t, pcm.Samples[half:])
			if len(pcm.Samples) != w.samples || pcm.Captured.Sub(start) != w.captured || kinds != w.rms {
				t.Fatalf("chunk %d: %d samples captured at %v, %s; want %d at %v, %s",
					i, len(pcm.Samples), pcm.Captured.Sub(start), kinds, w.samples, w.captured, w.rms)
			}
		}
		// A chunk is cut short where a stall begins.
		src, _ = NewScriptedToneSource(440, 0.25, "tone:15ms,stall:5ms")
		st2, _ := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		defer st2.Close()
		start = time.Now()
		var sizes []int
		var at []time.Duration
		for range 3 {
			pcm, _ := st2.Read()
			sizes, at = append(sizes, len(pcm.Samples)), append(at, pcm.Captured.Sub(start))
		}
		if sizes[0] != 480 || sizes[1] != 240 || sizes[2] != 480 || at[1] != 10*time.Millisecond || at[2] != 20*time.Millisecond {
			t.Errorf("chunks %v captured at %v, want [480 240 480] at [0s 10ms 20ms]", sizes, at)
		}
	})
}

// TestToneStallForever: a last stall without a duration hangs Read for
// good, as a broken microphone would, until Close unblocks it at once.
func TestToneStallForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, _ := NewScriptedToneSource(440, 0.25, "tone:20ms,stall")
		st, _ := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		for range 2 {
			if _, err := st.Read(); err != nil {
				t.Fatal(err)
			}
		}
		errs := make(chan error, 1)
		go func() { _, err := st.Read(); errs <- err }()
		time.Sleep(time.Hour)
		synctest.Wait()
		select {
		case err := <-errs:
			t.Fatalf("Read returned during the stall: %v", err)
		default:
		}
		closed := time.Now()
		st.Close()
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("Read after Close: %v, want ErrClosed", err)
		}
		if d := time.Since(closed); d != 0 {
			t.Errorf("Close took %v to unblock the stalled Read", d)
		}
	})
}

// TestToneTimedStallClose: Close also ends a stall that has a length.
func TestToneTimedStallClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, _ := NewScriptedToneSource(440, 0.25, "stall:10m,tone:1s")
		st, _ := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		errs := make(chan error, 1)
		go func() { _, err := st.Read(); errs <- err }()
		time.Sleep(time.Minute)
		st.Close()
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("Read after Close: %v, want ErrClosed", err)
		}
	})
}

// TestHubScriptedStall: through the Hub, a stalled source stops the
// levels (the monitor's fault detection relies on it), and closing the
// Hub still ends the stalled capture.
func TestHubScriptedStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.TestAudio = "tone:1s,silence:400ms,stall"
		h, err := Open(ModeTest, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		lv, err := h.SubscribeLevels()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var kinds []string
		for range 7 {
			l := receive(t, lv)
			switch {
			case l.RMSDBFS == MinDBFS:
				kinds = append(kinds, "silence")
			case math.Abs(l.RMSDBFS-(-15.05)) < 0.5:
				kinds = append(kinds, "tone")
			default:
				kinds = append(kinds, "?")
			}
		}
		if got := strings.Join(kinds, " "); got != "tone tone tone tone tone silence silence" {
			t.Errorf("levels: %s", got)
		}
		if d := time.Since(start); d != 1400*time.Millisecond {
			t.Errorf("7 levels took %v, want 1.4s", d)
		}
		select {
		case l := <-lv.C():
			t.Fatalf("a level during the stall: %+v", l)
		case <-time.After(time.Minute):
		}
		if st := h.Stats(); !st.MicOn || st.SourceErrors != 0 {
			t.Errorf("during the stall: %+v", st)
		}
	})
}

// TestQuietStep: the quiet step is the tone 40 dB down.
func TestQuietStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewScriptedToneSource(440, 0.25, "quiet:20ms,tone:20ms")
		if err != nil {
			t.Fatal(err)
		}
		st, err := src.OpenAudio(AudioFormat{Chunk: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var levels []float64
		for range 4 {
			pcm, err := st.Read()
			if err != nil {
				t.Fatal(err)
			}
			rms, _ := Measure(pcm.Samples)
			levels = append(levels, rms)
		}
		for i, want := range []float64{-55, -55, -15, -15} {
			if math.Abs(levels[i]-want) > 1 {
				t.Fatalf("chunk %d at %.1f dBFS, want %.0f (levels %v)", i, levels[i], want, levels)
			}
		}
	})
}
