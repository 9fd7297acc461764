package monitor

import (
	"testing"
	"time"
)

// TestCoreSoundScripts: the soothing sounds' rules (coresound.go).
func TestCoreSoundScripts(t *testing.T) {
	const m = time.Minute
	speaker := CoreConfig{Speaker: true}
	tests := []struct {
		name  string
		cfg   CoreConfig
		steps []cstep
	}{
		{"a trusted listener starts a sound with a timer: recorded, played, every listener told; it fades 10 s before its end, then stops", speaker, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false; send c1 talk_state; status c1"},
			{0, "accept 2 2 trusted", "append opened c2 P2; send c2 hello_ack trusted=true pairing=false; send c2 sound_state playing=false; send c2 talk_state; status c2"},
			{0, "sound 1 pink 15", `append sound-started pink min=15 by="L1" peer=D1; speaker play 1 pink; send c2 sound_state playing=true pink by="L1" left=15m0s; send c1 sound_state playing=true pink by="L1" left=15m0s ref=sound_start`},
			{14 * m, "tick", ""},
			{15*m - 10*time.Second, "tick", `speaker fade 1 over=10s; send c1 sound_state playing=true pink by="L1" left=10s fading; send c2 sound_state playing=true pink by="L1" left=10s fading`},
			{15*m - 5*time.Second, "tick", ""},
			{15 * m, "tick", "append sound-stopped timer after=15m0s; speaker halt 1; send c1 sound_state playing=false; send c2 sound_state playing=false"},
			{16 * m, "tick", ""},
		}},
		{"until stopped: no deadline; a stop is recorded and answered; stopping nothing is answered too", speaker, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false; send c1 talk_state; status c1"},
			{0, "sound 1 heartbeat", `append sound-started heartbeat min=0 by="L1" peer=D1; speaker play 1 heartbeat; send c1 sound_state playing=true heartbeat by="L1" left=0s ref=sound_start`},
			{600 * m, "tick", ""},
			{601 * m, "sound-stop 1", "append sound-stopped stopped after=10h1m0s; speaker halt 1; send c1 sound_state playing=false ref=sound_stop"},
			{602 * m, "sound-stop 1", "send c1 sound_state playing=false ref=sound_stop"},
		}},
		{"one sound at a time: a start replaces it; starts faster than one every 2 s are busy", speaker, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false; send c1 talk_state; status c1"},
			{0, "sound 1 white 30", `append sound-started white min=30 by="L1" peer=D1; speaker play 1 white; send c1 sound_state playing=true white by="L1" left=30m0s ref=sound_start`},
			{time.Second, "sound 1 brown 60", "err=busy"},
			{3 * time.Second, "sound 1 lullaby 60", `append sound-stopped replaced after=3s; append sound-started lullaby min=60 by="L1" peer=D1; speaker play 2 lullaby; send c1 sound_state playing=true lullaby by="L1" left=1h0m0s ref=sound_start`},
			{4 * time.Second, "shutdown", "append sound-stopped shutdown after=1s; speaker halt 2"},
		}},
		{"requests checked: unknown sound, timer; no speaker: unavailable", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "sound 1 rain", "err=bad_request"},
			{0, "sound 1 white 45", "err=bad_request"},
			{0, "sound 1 white 15", "err=unavailable"},
			{0, "sound-stop 1", "send c1 sound_state playing=false no-speaker ref=sound_stop"},
			{0, "shutdown", ""},
		}},
		{"a stranger cannot start or stop a sound: refused and closed, nothing recorded or played", CoreConfig{Speaker: true}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=true; send c1 pairing_state open=true failed=0; send c1 sound_state playing=false; send c1 talk_state; status c1"},
			{0, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{0, "sound 2 white", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
			{0, "sound-stop 2", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
			{0, "sound 1 white", `append sound-started white min=0 by="L1" peer=D1; speaker play 1 white; send c1 sound_state playing=true white by="L1" left=0s ref=sound_start`},
			{time.Minute, "sound-stop 2", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
			{time.Minute, "sound 9 white", "err=untrusted"},
		}},
		{"the speaker fails: stopped and told; a stale failure changes nothing", speaker, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false; send c1 talk_state; status c1"},
			{0, "sound 1 white", `append sound-started white min=0 by="L1" peer=D1; speaker play 1 white; send c1 sound_state playing=true white by="L1" left=0s ref=sound_start`},
			{time.Second, "sound-failed 1", "append sound-stopped failed after=1s; speaker halt 1; send c1 sound_state playing=false"},
			{2 * time.Second, "sound-failed 1", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCore(t, newTestCore(tt.cfg), tt.steps)
		})
	}
}

// TestCoreSoundDeadline: the core's next deadline is a sound's fade,
// then its end.
func TestCoreSoundDeadline(t *testing.T) {
	c := newTestCore(CoreConfig{Speaker: true, SoundFade: 3 * time.Second, SoundMinute: time.Second})
	c.Step(parseOp(t, "accept 1 1 trusted", t0))
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("a deadline with nothing to do")
	}
	c.Step(parseOp(t, "sound 1 white 15", t0))
	if at, ok := c.NextDeadline(); !ok || !at.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("deadline %v %v, want the fade at +12s", at, ok)
	}
	c.Step(Tick{At: t0.Add(12 * time.Second)})
	if at, ok := c.NextDeadline(); !ok || !at.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("deadline %v %v, want the end at +15s", at, ok)
	}
}
