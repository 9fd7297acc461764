package media

import (
	"fmt"
	"strings"
	"time"
)

// A test audio script (Config.TestAudio) tells the test tone what to do
// over time, so that end-to-end tests can break the "microphone" on cue:
//
//	tone:3s,silence:500ms,stall:2s
//
// Steps are separated by commas; each is a kind and a Go duration:
//
//   - tone:D    the test tone for D;
//   - silence:D zero samples for D, delivered in real time (the encoder
//     keeps sending packets, the level reads MinDBFS);
//   - quiet:D   the test tone 40 dB down for D (a sleeping baby's room:
//     below a VOX threshold, yet audible if played);
//   - stall:D   nothing at all for D: Read blocks, as it would on a hung
//     microphone, until the step ends or the stream is closed.
//
// The script starts at the first Read and repeats from its first step when
// it ends. The last step may leave out its duration and then lasts
// forever: "tone:3s,stall" is three seconds of tone, then a microphone
// that never delivers again. The tone resumes where it left off after a
// silence or a stall (its phase carries across steps). The empty script is
// the steady tone.

// stepKind is what a script step delivers.
type stepKind int

const (
	stepTone stepKind = iota
	stepSilence
	stepStall
	stepQuiet
)

// quietGain is the quiet step's level relative to the tone: -40 dB.
const quietGain = 0.01

var stepNames = map[string]stepKind{"tone": stepTone, "silence": stepSilence, "stall": stepStall, "quiet": stepQuiet}

// minStep is the shortest step a script may have.
const minStep = time.Millisecond

// scriptStep is one step: its kind and its length in samples (0: forever).
type scriptStep struct {
	kind    stepKind
	samples int64
}

// audioScript is a parsed test audio script. It is immutable.
type audioScript struct {
	steps []scriptStep
	// cycle is the length of one pass in samples, 0 when the last step
	// lasts forever (then the script never repeats).
	cycle int64
}

// steadyTone is the empty script: the tone, forever.
var steadyTone = audioScript{steps: []scriptStep{{kind: stepTone}}}

// parseAudioScript parses a test audio script; its errors wrap
// ErrInvalidConfig and name the step at fault.
func parseAudioScript(s string) (audioScript, error) {
	if strings.TrimSpace(s) == "" {
		return steadyTone, nil
	}
	fields := strings.Split(s, ",")
	var sc audioScript
	for i, f := range fields {
		f = strings.TrimSpace(f)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: test audio %q: step %d %q: %s", ErrInvalidConfig, s, i+1, f, fmt.Sprintf(format, args...))
		}
		name, dur, timed := strings.Cut(f, ":")
		kind, ok := stepNames[name]
		switch {
		case f == "":
			return audioScript{}, bad("empty step: separate steps with single commas")
		case !ok:
			return audioScript{}, bad("%q is not tone, quiet, silence or stall", name)
		case !timed && i < len(fields)-1:
			return audioScript{}, bad("no duration: only the last step may last forever (write %s:3s)", name)
		case !timed:
			sc.steps = append(sc.steps, scriptStep{kind: kind})
			continue
		}
		d, err := time.ParseDuration(dur)
		if err != nil {
			return audioScript{}, bad("%q is not a duration (like 3s or 500ms)", dur)
		}
		if d < minStep {
			return audioScript{}, bad("%v is too short: use at least %v", d, minStep)
		}
		n := samplesIn(d)
		sc.steps = append(sc.steps, scriptStep{kind: kind, samples: n})
		sc.cycle += n
	}
	if sc.steps[len(sc.steps)-1].samples == 0 {
		sc.cycle = 0
	}
	return sc, nil
}

// at returns the kind of the step playing pos samples after the start and
// how many samples of it remain (-1: it lasts forever).
func (sc audioScript) at(pos int64) (stepKind, int64) {
	if sc.cycle > 0 {
		pos %= sc.cycle
	}
	for _, st := range sc.steps {
		if st.samples == 0 {
			return st.kind, -1
		}
		if pos < st.samples {
			return st.kind, st.samples - pos
		}
		pos -= st.samples
	}
	panic("media: audio script position past its end") // cycle covers every finite script
}

// samplesIn returns how many samples d holds at SampleRate, without
// overflowing for long durations.
func samplesIn(d time.Duration) int64 {
	return int64(d/time.Second)*SampleRate + int64(d%time.Second)*SampleRate/int64(time.Second)
}

// durationOf is the inverse of samplesIn.
func durationOf(samples int64) time.Duration {
	return time.Duration(samples/SampleRate)*time.Second + time.Duration(samples%SampleRate)*time.Second/SampleRate
}
