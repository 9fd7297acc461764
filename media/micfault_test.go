package media

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestMicWatch drives the pure core through a capture that delivers,
// stalls, has its stream closed, fails to reopen and comes back.
func TestMicWatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := micWatch{stallAfter: time.Second}
	type want struct{ stalled, changed, fault bool }
	check := func(ms int, wt want) {
		t.Helper()
		stalled, changed := w.check(at(ms))
		if got := (want{stalled, changed, w.fault}); got != wt {
			t.Fatalf("check at %d ms: %+v, want %+v", ms, got, wt)
		}
	}
	w.start(at(0))
	w.open(at(0))
	check(500, want{})
	w.chunk(at(600))
	check(1500, want{})                   // 900 ms since the last chunk
	check(1600, want{true, true, true})   // silent for 1 s: fault, close the stream
	check(1700, want{false, false, true}) // closed: nothing more to close
	w.lost()                              // the Read ended
	check(5000, want{false, false, true}) // reopen keeps failing: no stream to close
	w.open(at(5000))                      // it opened
	check(5900, want{false, false, true}) // not yet stalled: 900 ms since it opened
	check(6000, want{true, false, true})  // opened and delivered nothing for 1 s
	w.open(at(7000))                      // opened again
	if !w.chunk(at(7010)) || w.fault {    // audio: the fault clears
		t.Fatal("the first chunk did not clear the fault")
	}
	if w.chunk(at(7020)) {
		t.Fatal("a second chunk reported a change")
	}
	check(7500, want{})

	// A fault outlives the capture: the next start keeps it until audio.
	check(9000, want{true, true, true})
	w.start(at(20000))
	check(20100, want{false, false, true})
	w.open(at(20100))
	w.chunk(at(20110))
	check(20200, want{})
}

// fakeMic is a capture device a test can unplug and plug back. Gone, its
// open fails and its open streams either hang (Read blocks until Close, as
// a vanished ALSA device does) or fail (Read returns an error).
type fakeMic struct {
	tone *ToneSource

	mu      sync.Mutex
	present bool
	hang    bool
	gone    chan struct{} // closed when unplugged; replaced when plugged
	opens   int
}

func newFakeMic(present bool) *fakeMic {
	return &fakeMic{tone: NewToneSource(440, 0.25), present: present, gone: make(chan struct{})}
}

func (f *fakeMic) String() string { return "fake microphone" }

func (f *fakeMic) OpenAudio(af AudioFormat) (AudioStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	if !f.present {
		return nil, fmt.Errorf("%w: unplugged", ErrNoMicrophone)
	}
	st, err := f.tone.OpenAudio(af)
	return &fakeMicStream{AudioStream: st, mic: f, gone: f.gone, hang: f.hang}, err
}

func (f *fakeMic) unplug(hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.present, f.hang = false, hang
	close(f.gone)
}

func (f *fakeMic) plug() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.present, f.gone = true, make(chan struct{})
}

type fakeMicStream struct {
	AudioStream
	mic  *fakeMic
	gone chan struct{}
	hang bool
	once sync.Once
	done chan struct{}
}

var errUnplugged = errors.New("fake microphone: device unplugged")

func (s *fakeMicStream) Read() (PCM, error) {
	s.once.Do(func() { s.done = make(chan struct{}) })
	select {
	case <-s.gone:
		s.mic.mu.Lock()
		hang := s.mic.hang
		s.mic.mu.Unlock()
		if hang {
			<-s.done
			return PCM{}, ErrClosed
		}
		return PCM{}, errUnplugged
	default:
	}
	return s.AudioStream.Read()
}

func (s *fakeMicStream) Close() error {
	s.once.Do(func() { s.done = make(chan struct{}) })
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return s.AudioStream.Close()
}

// waitFault waits for the Hub's microphone fault to become want and
// returns how long that took; the deadline is virtual in a bubble.
func waitFault(t *testing.T, h *Hub, want bool, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(limit)
	for {
		fault, changed := h.MicrophoneFault()
		if fault == want {
			return time.Since(start)
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the microphone fault is not %v after %v", want, limit)
		}
	}
}

// TestHubMicrophoneVanishes unplugs a microphone under a Hub with a level
// and an audio subscriber, and plugs it back: the fault rises within 2 s,
// the subscribers get nothing meanwhile, and within 10 s of the return
// the same subscriptions carry audio again and the fault clears. Measured
// in virtual time: the Hub's watchdog and retry pauses are the whole
// delay.
func TestHubMicrophoneVanishes(t *testing.T) {
	needEncoders(t)
	for _, tc := range []struct {
		name string
		hang bool
	}{{"reads hang", true}, {"reads fail", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mic := newFakeMic(true)
				h, err := NewHub(Sources{Audio: mic}, testConfig(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				lv, _ := h.SubscribeLevels()
				defer lv.Close()
				au, err := h.SubscribeAudio()
				if err != nil {
					t.Fatal(err)
				}
				defer au.Close()
				for range 10 {
					receive(t, au)
				}
				if fault, _ := h.MicrophoneFault(); fault {
					t.Fatal("fault while capturing")
				}

				mic.unplug(tc.hang)
				raised := waitFault(t, h, true, 2*time.Second)
				t.Logf("fault raised %v after the microphone vanished", raised)
				// Drain what was captured before the vanish, then nothing.
				for len(au.C()) > 0 {
					<-au.C()
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if n := len(au.C()); n > 0 {
					t.Fatalf("%d packets while the microphone was gone", n)
				}
				if fault, _ := h.MicrophoneFault(); !fault {
					t.Fatal("the fault cleared while the microphone was gone")
				}

				mic.plug()
				back := time.Now()
				cleared := waitFault(t, h, false, 10*time.Second)
				receive(t, au)
				heard := time.Since(back)
				t.Logf("fault cleared %v, audio again %v after the microphone came back", cleared, heard)
				if heard > 10*time.Second {
					t.Fatalf("audio came back after %v", heard)
				}
				for range 10 {
					receive(t, au)
				}
				st := h.Stats()
				if st.MicStarts != 1 || st.MicFaults != 1 || st.MicFault || st.AudioEncoderStarts != 1 {
					t.Fatalf("stats %+v", st)
				}
			})
		})
	}
}

// TestHubMicrophoneNotThereYet: a microphone missing when the capture
// starts does not refuse the subscribers: the fault rises, and the device
// is used once plugged in.
func TestHubMicrophoneNotThereYet(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		mic := newFakeMic(false)
		h, err := NewHub(Sources{Audio: mic}, testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		au, err := h.SubscribeAudio()
		if err != nil {
			t.Fatalf("SubscribeAudio without the microphone: %v", err)
		}
		defer au.Close()
		raised := waitFault(t, h, true, 2*time.Second)
		t.Logf("fault raised %v after the capture started", raised)
		time.Sleep(10 * time.Second)
		mic.plug()
		waitFault(t, h, false, 10*time.Second)
		receive(t, au)
		if st := h.Stats(); st.MicStarts != 1 || st.MicFault {
			t.Fatalf("stats %+v", st)
		}
		// The retries keep to about a second apart.
		if mic.opens < 8 || mic.opens > 16 {
			t.Fatalf("%d opens in about 10 s", mic.opens)
		}
	})
}

// TestHubToneStallIsNotReopened: a test script's stall raises the fault
// like a hung microphone, but the tone is not reopened (the stall is
// meant), and the fault clears when the tone resumes.
func TestHubToneStallIsNotReopened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewScriptedToneSource(440, 0.25, "tone:1s,stall:3s,tone")
		if err != nil {
			t.Fatal(err)
		}
		h, err := NewHub(Sources{Audio: src}, testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		lv, _ := h.SubscribeLevels()
		defer lv.Close()
		receive(t, lv)
		waitFault(t, h, true, 3*time.Second)
		waitFault(t, h, false, 5*time.Second)
		if st := h.Stats(); st.SourceErrors != 0 || st.MicFaults != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestHubAutoToneUntilMicrophone: auto mode without a microphone at the
// start plays the tone (synthetic: the monitor's fault) until one is
// plugged in, then uses it on the same subscription within about 1.25 s;
// pulled out after that, it is a fault with nothing sent, not the tone
// again.
func TestHubAutoToneUntilMicrophone(t *testing.T) {
	needEncoders(t)
	synctest.Test(t, func(t *testing.T) {
		mic := newFakeMic(false)
		present := func() bool { mic.mu.Lock(); defer mic.mu.Unlock(); return mic.present }
		src := &autoAudio{mic: mic, present: present, tone: NewToneSource(440, 0.25)}
		h, err := NewHub(Sources{Audio: src}, testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		au, err := h.SubscribeAudio()
		if err != nil {
			t.Fatal(err)
		}
		defer au.Close()
		for range 300 { // 3 s of the tone
			receive(t, au)
		}
		if fault, _ := h.MicrophoneFault(); fault || !h.SyntheticAudio() || mic.opens != 0 {
			t.Fatalf("on the tone: fault %v, synthetic %v, %d opens of the absent microphone", fault, h.SyntheticAudio(), mic.opens)
		}

		_, changed := h.MicrophoneFault()
		mic.plug()
		plugged := time.Now()
		select {
		case <-changed:
		case <-time.After(2 * time.Second):
			t.Fatal("no change signalled after the microphone was plugged in")
		}
		if h.SyntheticAudio() || mic.opens != 1 {
			t.Fatalf("after the plug: synthetic %v, %d opens", h.SyntheticAudio(), mic.opens)
		}
		t.Logf("the microphone replaced the tone %v after it was plugged in", time.Since(plugged))
		if time.Since(plugged) > 1500*time.Millisecond {
			t.Fatalf("the microphone replaced the tone after %v", time.Since(plugged))
		}
		receive(t, au)

		mic.unplug(false)
		waitFault(t, h, true, 2*time.Second)
		for len(au.C()) > 0 {
			<-au.C()
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := len(au.C()); n > 0 || h.SyntheticAudio() {
			t.Fatalf("microphone pulled out: %d packets, synthetic %v; want silence and the fault", n, h.SyntheticAudio())
		}
	})
}
