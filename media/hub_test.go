package media

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// needEncoders skips tests of the encoded streams in a build without cgo
// (CGO_ENABLED=0 go test), where TestHubWithoutEncoders runs instead.
func needEncoders(t *testing.T) {
	if defaultEncoders.audio == nil {
		t.Skip("no encoders without cgo")
	}
}

func TestHubWithoutEncoders(t *testing.T) {
	if defaultEncoders.audio != nil {
		return // the cgo build: the other tests cover it
	}
	h := newTestHub(t, testConfig())
	defer h.Close()
	if _, err := h.SubscribeAudio(); !errors.Is(err, ErrNoEncoder) {
		t.Errorf("SubscribeAudio: %v", err)
	}
	if _, err := h.SubscribeVideo(); !errors.Is(err, ErrNoEncoder) {
		t.Errorf("SubscribeVideo: %v", err)
	}
}

// testConfig is small and fast: tiny video, default audio.
func testConfig() Config {
	return Config{Width: 160, Height: 120, FPS: 15, VideoBitrate: 100_000}
}

func newTestHub(t *testing.T, cfg Config) *Hub {
	t.Helper()
	h, err := NewHub(Sources{Audio: NewToneSource(440, 0.25), Video: NewPatternSource()}, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// receive waits for the next item; in a synctest bubble the deadline is
// virtual, so it only fires if the Hub is stuck.
func receive[T any](t *testing.T, s *Subscription[T]) T {
	t.Helper()
	select {
	case v, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received for 5s")
	}
	panic("unreachable")
}

// TestHubSharesOneCapture: four audio subscribers share one microphone and
// one encoder; one leaving does not disturb the others, a late joiner
// restarts nothing, and the last one leaving turns everything off.
func TestHubSharesOneCapture(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t, testConfig())
		defer h.Close()
		var subs []*Subscription[Sample]
		for range 4 {
			s, err := h.SubscribeAudio()
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, s)
		}
		for _, s := range subs {
			receive(t, s)
		}
		st := h.Stats()
		if st.MicStarts != 1 || st.AudioEncoderStarts != 1 || !st.MicOn || !st.AudioEncoding || st.AudioSubscribers != 4 {
			t.Fatalf("after 4 subscribers: %+v", st)
		}

		subs[0].Close()
		subs[0].Close() // idempotent
		if _, ok := <-subs[0].C(); ok {
			// A queued frame may remain; the channel must close after it.
			for range subs[0].C() {
			}
		}
		for _, s := range subs[1:] {
			receive(t, s)
			receive(t, s)
		}

		late, err := h.SubscribeAudio()
		if err != nil {
			t.Fatal(err)
		}
		receive(t, late)
		st = h.Stats()
		if st.MicStarts != 1 || st.AudioEncoderStarts != 1 || st.MicStops != 0 {
			t.Fatalf("a late joiner restarted the capture: %+v", st)
		}

		for _, s := range append(subs[1:], late) {
			s.Close()
		}
		st = h.Stats()
		if st.MicOn || st.AudioEncoding || st.MicStops != 1 || st.AudioEncoderStops != 1 || st.AudioSubscribers != 0 {
			t.Fatalf("after the last subscriber left: %+v", st)
		}
		// Nothing runs any more: the bubble has no goroutine left but ours.
		synctest.Wait()
	})
}

// TestHubLevelsWithoutEncoder: levels need the microphone but not the
// encoder; the encoder follows the audio subscribers.
func TestHubLevelsWithoutEncoder(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t, testConfig())
		defer h.Close()
		lv, err := h.SubscribeLevels()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		l := receive(t, lv)
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Errorf("first level after %v, want 200ms", d)
		}
		// The tone is 0.25 of full scale: -15.05 dBFS RMS, -12.04 peak.
		if l.RMSDBFS < -15.2 || l.RMSDBFS > -14.9 || l.PeakDBFS < -12.1 || l.PeakDBFS > -12.0 {
			t.Errorf("level %+v, want RMS -15.05, peak -12.04", l)
		}
		if st := h.Stats(); !st.MicOn || st.AudioEncoderStarts != 0 {
			t.Fatalf("levels only: %+v", st)
		}

		au, _ := h.SubscribeAudio()
		receive(t, au)
		au.Close()
		time.Sleep(50 * time.Millisecond) // a few chunks: the goroutine drops the encoder
		if st := h.Stats(); !st.MicOn || st.MicStarts != 1 || st.AudioEncoderStarts != 1 || st.AudioEncoderStops != 1 {
			t.Fatalf("audio left, levels stay: %+v", st)
		}
		receive(t, lv)

		lv.Close()
		if st := h.Stats(); st.MicOn || st.MicStops != 1 {
			t.Fatalf("nobody left: %+v", st)
		}
	})
}

// TestHubNoise: the VOX marks levels once the tone has been loud for the
// attack time.
func TestHubNoise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Vox = VoxConfig{ThresholdDBFS: -20, Attack: 600 * time.Millisecond}
		h := newTestHub(t, cfg)
		defer h.Close()
		lv, _ := h.SubscribeLevels()
		var noisy []bool
		for range 6 {
			noisy = append(noisy, receive(t, lv).Noise)
		}
		// Levels at 0.2, 0.4 ... 1.2 s; loud since 0.2 s, noise from 0.8 s.
		want := []bool{false, false, false, true, true, true}
		for i := range want {
			if noisy[i] != want[i] {
				t.Fatalf("noise flags %v, want %v", noisy, want)
			}
		}
		if st := h.Stats(); st.NoiseEvents != 1 {
			t.Errorf("noise events %d, want 1", st.NoiseEvents)
		}
	})
}

// TestHubNoiseGate: while the monitor's own speaker plays, the levels
// still come, loud, but none is noise, and no noise event is counted; an
// event in progress ends at once; after the gate opens the VOX needs its
// attack time again.
func TestHubNoiseGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Vox = VoxConfig{ThresholdDBFS: -20, Attack: 600 * time.Millisecond}
		h := newTestHub(t, cfg)
		defer h.Close()
		lv, _ := h.SubscribeLevels()
		h.SetNoiseGate(true)
		for i := range 8 {
			l := receive(t, lv)
			if l.Noise {
				t.Fatalf("level %d is noise while gated", i)
			}
			if l.RMSDBFS < -20 {
				t.Fatalf("level %d: %.1f dBFS: the level must still be measured", i, l.RMSDBFS)
			}
		}
		if st := h.Stats(); st.NoiseEvents != 0 {
			t.Fatalf("noise events %d while gated, want 0", st.NoiseEvents)
		}
		h.SetNoiseGate(false)
		var noisy []bool
		for range 6 {
			noisy = append(noisy, receive(t, lv).Noise)
		}
		// Loud from the first level after the gate: noise after the attack.
		if noisy[0] || !noisy[5] {
			t.Fatalf("after the gate: noise flags %v, want quiet first, noise after the attack", noisy)
		}
		h.SetNoiseGate(true)
		if l := receive(t, lv); l.Noise {
			t.Fatal("an event in progress must end when the gate closes")
		}
	})
}

// TestHubOpusFrames checks what can be checked without a decoder: each
// packet's TOC byte says one 10 ms frame, mono, and the durations add up
// to the (virtual) wall time; capture times step by 10 ms.
func TestHubOpusFrames(t *testing.T) {
	needEncoders(t)
	for _, frame := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		t.Run(frame.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.AudioFrame = frame
				h := newTestHub(t, cfg)
				defer h.Close()
				s, err := h.SubscribeAudio()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				first := receive(t, s)
				var total time.Duration
				prev := first
				bytes := 0
				for i := range 100 {
					smp := receive(t, s)
					d, stereo, err := opusPacketDuration(smp.Data)
					if err != nil || stereo {
						t.Fatalf("packet %d (% x): %v, stereo %v", i, smp.Data[:min(4, len(smp.Data))], err, stereo)
					}
					if d != frame || smp.Duration != frame {
						t.Fatalf("packet %d: TOC says %v, Duration %v, want %v", i, d, smp.Duration, frame)
					}
					if got := smp.Captured.Sub(prev.Captured); got != frame {
						t.Fatalf("packet %d captured %v after the previous", i, got)
					}
					total += d
					bytes += len(smp.Data)
					prev = smp
				}
				if wall := prev.Captured.Sub(first.Captured); total != wall {
					t.Errorf("durations add up to %v, wall time %v", total, wall)
				}
				// The packet leaves the Hub one frame after its first sample.
				if lag := time.Since(prev.Captured); lag != frame {
					t.Errorf("capture to packet: %v, want %v", lag, frame)
				}
				if rate := float64(bytes*8) / total.Seconds(); rate < 16000 || rate > 48000 {
					t.Errorf("bit rate %.0f b/s, want about 32000", rate)
				}
			})
		})
	}
}

// opusPacketDuration decodes an Opus TOC byte (RFC 6716 section 3.1).
func opusPacketDuration(p []byte) (d time.Duration, stereo bool, err error) {
	if len(p) == 0 {
		return 0, false, errors.New("empty packet")
	}
	toc := p[0]
	config := toc >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	n := 1
	switch toc & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, false, errors.New("code 3 packet without a frame count")
		}
		n = int(p[1] & 0x3f)
	}
	return time.Duration(n) * frame, toc&4 != 0, nil
}

// TestHubSlowAudioSubscriber: a subscriber that never reads keeps only
// the newest frames and does not hold up the others.
func TestHubSlowAudioSubscriber(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.AudioQueue = 4
		h := newTestHub(t, cfg)
		defer h.Close()
		slow, _ := h.SubscribeAudio()
		fast, _ := h.SubscribeAudio()
		var last Sample
		for range 50 {
			last = receive(t, fast)
		}
		if got := len(slow.C()); got != 4 {
			t.Fatalf("slow queue holds %d, want 4", got)
		}
		if slow.Dropped() < 40 || fast.Dropped() != 0 {
			t.Errorf("dropped: slow %d, fast %d", slow.Dropped(), fast.Dropped())
		}
		var kept []Sample
		for range 4 {
			kept = append(kept, <-slow.C())
		}
		if !kept[3].Captured.Equal(last.Captured) {
			t.Errorf("slow subscriber's newest frame is %v old", last.Captured.Sub(kept[3].Captured))
		}
		slow.Close()
		fast.Close()
	})
}

// TestHubVideo: the camera runs only for video subscribers, every
// subscriber starts on a key frame, a late joiner restarts nothing, and a
// slow one skips to a key frame.
func TestHubVideo(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.VideoQueue = 2
		h := newTestHub(t, cfg)
		defer h.Close()
		lv, _ := h.SubscribeLevels()
		defer lv.Close()
		if st := h.Stats(); st.CameraOn {
			t.Fatal("camera on without a video subscriber")
		}
		a, err := h.SubscribeVideo()
		if err != nil {
			t.Fatal(err)
		}
		f := receive(t, a)
		if !f.KeyFrame || len(f.Data) < 10 || f.Data[0]&1 != 0 { // VP8: P bit 0 on key frames
			t.Fatalf("first frame: key %v, %d bytes", f.KeyFrame, len(f.Data))
		}
		for range 5 {
			f = receive(t, a)
			if f.KeyFrame || f.Duration != time.Second/15 {
				t.Fatalf("steady frame: key %v, duration %v", f.KeyFrame, f.Duration)
			}
		}
		b, _ := h.SubscribeVideo()
		if g := receive(t, b); !g.KeyFrame {
			t.Fatal("late joiner's first frame is not a key frame")
		}
		if st := h.Stats(); st.CameraStarts != 1 || st.VideoEncoderStarts != 1 {
			t.Fatalf("late joiner restarted the camera: %+v", st)
		}

		// a stops reading: its queue fills and it drops frames, but asks
		// for no key frame while it is stuck.
		keys := h.Stats().KeyFrames
		for range 10 {
			receive(t, b)
		}
		if a.Dropped() == 0 || h.Stats().KeyFrames != keys {
			t.Fatalf("stuck video subscriber: dropped %d, key frames %d -> %d", a.Dropped(), keys, h.Stats().KeyFrames)
		}
		// a reads again: everything it gets is decodable, that is, after
		// each gap comes a key frame, and it gets one soon.
		var got []Sample
		for range len(a.C()) + 10 {
			got = append(got, receive(t, a))
		}
		resumed := false
		for i := 1; i < len(got); i++ {
			if got[i].Captured.Sub(got[i-1].Captured) > time.Second/15 {
				if !got[i].KeyFrame {
					t.Fatalf("frame %d follows a gap of %v but is not a key frame", i, got[i].Captured.Sub(got[i-1].Captured))
				}
				resumed = true
			}
		}
		if !resumed {
			t.Error("the slow subscriber never resumed on a key frame")
		}

		a.Close()
		b.Close()
		if st := h.Stats(); st.CameraOn || st.VideoEncoding || st.CameraStops != 1 || st.VideoEncoderStops != 1 || !st.MicOn {
			t.Fatalf("after the video subscribers left: %+v", st)
		}
	})
}

func TestHubRequestKeyFrame(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t, testConfig())
		defer h.Close()
		h.RequestKeyFrame() // camera off: nothing happens
		v, _ := h.SubscribeVideo()
		defer v.Close()
		receive(t, v)
		receive(t, v)
		asked := time.Now()
		h.RequestKeyFrame()
		// Forced key frames are at least minKeyFrameGap apart.
		for {
			f := receive(t, v)
			if f.KeyFrame {
				if d := f.Captured.Sub(asked); d > minKeyFrameGap {
					t.Errorf("key frame %v after the request", d)
				}
				break
			}
		}
	})
}

func TestHubClose(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t, testConfig())
		lv, _ := h.SubscribeLevels()
		au, _ := h.SubscribeAudio()
		vi, _ := h.SubscribeVideo()
		receive(t, vi)
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		h.Close()
		for _, err := range []error{drainErr(lv), drainErr(au), drainErr(vi)} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("subscription after Hub.Close: %v, want ErrClosed", err)
			}
		}
		if st := h.Stats(); st.MicOn || st.CameraOn {
			t.Errorf("devices on after Close: %+v", st)
		}
		if _, err := h.SubscribeAudio(); !errors.Is(err, ErrClosed) {
			t.Errorf("SubscribeAudio after Close: %v", err)
		}
		lv.Close() // after Hub.Close: harmless
	})
}

func drainErr[T any](s *Subscription[T]) error {
	for range s.C() {
	}
	return s.Err()
}

// TestHubConcurrentSubscribers churns subscribers from many goroutines
// (run with -race) and checks that everything stops at the end.
func TestHubConcurrentSubscribers(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t, testConfig())
		defer h.Close()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for range 5 {
					switch i % 3 {
					case 0:
						s, err := h.SubscribeLevels()
						if err != nil {
							t.Error(err)
							return
						}
						receive(t, s)
						s.Close()
					case 1:
						s, err := h.SubscribeAudio()
						if err != nil {
							t.Error(err)
							return
						}
						receive(t, s)
						s.Close()
					case 2:
						s, err := h.SubscribeVideo()
						if err != nil {
							t.Error(err)
							return
						}
						receive(t, s)
						s.Close()
					}
				}
			})
		}
		wg.Wait()
		st := h.Stats()
		if st.MicOn || st.CameraOn || st.MicStarts != st.MicStops || st.AudioEncoderStarts != st.AudioEncoderStops {
			t.Fatalf("after churn: %+v", st)
		}
	})
}

// flakySource fails its stream after a few reads, and its first reopen.
type flakySource struct {
	mu    sync.Mutex
	opens int
	inner AudioSource
}

func (f *flakySource) String() string { return "flaky" }

func (f *flakySource) OpenAudio(af AudioFormat) (AudioStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	if f.opens == 2 {
		return nil, errors.New("device busy")
	}
	st, err := f.inner.OpenAudio(af)
	return &failAfter{AudioStream: st, n: 10}, err
}

type failAfter struct {
	AudioStream
	n int
}

func (f *failAfter) Read() (PCM, error) {
	if f.n == 0 {
		return PCM{}, io.ErrUnexpectedEOF
	}
	f.n--
	return f.AudioStream.Read()
}

// TestHubReopensFailedSource: a microphone that fails is reopened, with a
// growing pause, and subscribers carry on.
func TestHubReopensFailedSource(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		src := &flakySource{inner: NewToneSource(440, 0.25)}
		h, err := NewHub(Sources{Audio: src}, testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		s, _ := h.SubscribeAudio()
		defer s.Close()
		for range 30 {
			receive(t, s)
		}
		st := h.Stats()
		if st.SourceErrors < 2 || st.MicStarts != 1 || src.opens < 3 {
			t.Fatalf("stats %+v, opens %d", st, src.opens)
		}
		if _, err := h.SubscribeVideo(); !errors.Is(err, ErrNoVideo) {
			t.Errorf("SubscribeVideo without a camera: %v", err)
		}
	})
}

// failingEncoder fails on the third frame.
type failingEncoder struct{ n int }

func (e *failingEncoder) Encode([]int16) ([]byte, error) {
	e.n++
	if e.n == 3 {
		return nil, errors.New("boom")
	}
	return []byte{0x08}, nil
}
func (e *failingEncoder) Close() error { return nil }

// TestHubEncoderFailure ends the audio subscriptions with the error and
// turns the microphone off when nobody else uses it.
func TestHubEncoderFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t, testConfig())
		defer h.Close()
		h.enc.audio = func(Config) (audioEncoder, error) { return &failingEncoder{}, nil }
		s, _ := h.SubscribeAudio()
		receive(t, s)
		receive(t, s)
		if err := drainErr(s); err == nil || err.Error() != "media: encoding audio: boom" {
			t.Fatalf("Err = %v", err)
		}
		synctest.Wait() // the reaper
		if st := h.Stats(); st.MicOn || st.EncoderErrors != 1 {
			t.Fatalf("after the failure: %+v", st)
		}
		s.Close()
	})
}

func TestOpenModes(t *testing.T) {
	for _, s := range []string{"auto", "devices", "test"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseMode("Auto"); !errors.Is(err, ErrBadMode) {
		t.Errorf("ParseMode(Auto): %v", err)
	}
	if _, err := Open("loud", Config{}, nil); !errors.Is(err, ErrBadMode) {
		t.Errorf("Open(loud): %v", err)
	}
	h, err := Open(ModeTest, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.src.Audio.(*ToneSource); !ok {
		t.Errorf("test mode audio: %v", h.src.Audio)
	}
	h.Close()

	if _, err := findMicrophone(""); err == nil {
		t.Skip("this machine has a microphone")
	}
	src, err := OpenSources(ModeAuto, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch src.Audio.(type) {
	case *ToneSource, *autoAudio:
	default:
		t.Errorf("auto without a microphone: %v", src.Audio)
	}
	// Devices mode without a microphone waits for one (on Linux with cgo:
	// TestNoMicrophoneALSA); a build without drivers refuses it.
	if defaultEncoders.audio == nil {
		if _, err := OpenSources(ModeDevices, Config{}, nil); !errors.Is(err, ErrNoMicrophone) {
			t.Errorf("devices without device drivers: %v", err)
		}
	}
}

// TestHubNoiseOverSound: with the speaker's steady sound on, the Hub's
// noise is what rises above it: the tone as the sound (above the
// threshold) is never noise; the room quiet while learning, then the
// tone, is.
func TestHubNoiseOverSound(t *testing.T) {
	for _, tc := range []struct {
		script string
		noise  bool
	}{{"tone:20s", false}, {"quiet:11s,tone:5s", true}} {
		t.Run(tc.script, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src, err := NewScriptedToneSource(440, 0.25, tc.script)
				if err != nil {
					t.Fatal(err)
				}
				cfg := testConfig()
				cfg.Vox = VoxConfig{ThresholdDBFS: -30, Attack: 600 * time.Millisecond}
				h, err := NewHub(Sources{Audio: src, Video: NewPatternSource()}, cfg, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				h.SetNoiseOverSound(true)
				lv, _ := h.SubscribeLevels()
				noise := false
				for range 16 * 5 { // 16 s of levels (200 ms)
					noise = noise || receive(t, lv).Noise
				}
				if noise != tc.noise {
					t.Fatalf("noise %v, want %v", noise, tc.noise)
				}
			})
		})
	}
}
