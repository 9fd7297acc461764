package media

import (
	"errors"
	"sync/atomic"
	"time"
)

// errMicAppeared ends auto mode's tone stream when a microphone appears.
var errMicAppeared = errors.New("media: a microphone was plugged in: switching to it")

// autoAudio is auto mode's sound when no microphone was found at the
// start: the test tone (and, in the monitor, the microphone fault) until a
// capture device is listed, looked for every micRetryMax; then that
// microphone for good. A microphone that vanishes later is a fault like
// any other (silence, reopened every second), not a return to the tone:
// a parent must not hear a tone where the nursery should be.
type autoAudio struct {
	mic     AudioSource
	present func() bool // whether a capture device is listed now
	tone    *ToneSource
	micUsed atomic.Bool
}

func (a *autoAudio) String() string {
	if a.micUsed.Load() {
		return a.mic.String()
	}
	return a.tone.String()
}

// synthetic reports whether it still plays the tone.
func (a *autoAudio) synthetic() bool { return !a.micUsed.Load() }

func (a *autoAudio) OpenAudio(f AudioFormat) (AudioStream, error) {
	if a.micUsed.Load() {
		return a.mic.OpenAudio(f)
	}
	if a.present() {
		if st, err := a.mic.OpenAudio(f); err == nil {
			a.micUsed.Store(true)
			return st, nil
		}
	}
	st, err := a.tone.OpenAudio(f)
	if err != nil {
		return nil, err
	}
	return &untilMic{AudioStream: st, present: a.present, next: time.Now().Add(micRetryMax)}, nil
}

// untilMic is the tone until a capture device is listed: then its Read
// fails with errMicAppeared, and the Hub reopens the source.
type untilMic struct {
	AudioStream
	present func() bool
	next    time.Time
}

func (u *untilMic) Read() (PCM, error) {
	if now := time.Now(); !now.Before(u.next) {
		u.next = now.Add(micRetryMax)
		if u.present() {
			return PCM{}, errMicAppeared
		}
	}
	return u.AudioStream.Read()
}
