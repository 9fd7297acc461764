package alarm

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/presence"
)

// steps between calls in a random run: around every limit, and zero.
var stepSizes = [16]time.Duration{
	0, 1, ms, 10 * ms, 10 * ms, 10 * ms, 50 * ms, 50 * ms,
	399 * ms, 400 * ms, 450 * ms, sec, 5 * sec, 10 * sec, 5 * min, 6 * min,
}

// model is what a random run remembers of its calls, to check the machine
// against.
type model struct {
	listening bool
	link      presence.State
	mic       bool
	noise     bool
	lastAudio time.Time // zero: never
	watchFrom time.Time // latest of Online (transition), StreamUp, Listening(true) (transition), Audio
	ackAt     time.Time // last Ack that silenced
	lastChime time.Time
}

// checkRun decodes ops (one byte each: the low nibble is the call, the
// high nibble the time since the previous call) and checks the machine's
// invariants after every call.
func checkRun(t *testing.T, ops []byte) {
	t.Helper()
	m := New(Config{})
	var md model
	now := t0
	for i, b := range ops {
		now = now.Add(stepSizes[b>>4])
		before := m.State()
		var effs []Effect
		name := ""
		switch b & 15 {
		case 0:
			name, effs = "online", m.Online(now)
			if md.link != presence.Online {
				md.watchFrom = now
			}
			md.link = presence.Online
		case 1:
			name, effs = "offline", m.Offline(now)
			md.link = presence.Offline
		case 2:
			name, effs = "listen on", m.Listening(true, now)
			if !md.listening {
				md.watchFrom = now
			}
			md.listening = true
		case 3:
			name, effs = "listen off", m.Listening(false, now)
			md.listening = false
		case 4:
			name, effs = "stream", m.StreamUp(now)
			md.watchFrom = now
		case 5, 12, 13:
			name, effs = "audio", m.Audio(now)
			md.lastAudio, md.watchFrom = now, now
		case 6:
			name, effs = "fault on", m.Faults(true, now)
			md.mic = true
		case 7:
			name, effs = "fault off", m.Faults(false, now)
			md.mic = false
		case 8:
			name, effs = "noise on", m.Noise(true, now)
		case 9:
			name, effs = "noise off", m.Noise(false, now)
		case 10:
			name, effs = "ack", m.Ack(now)
		default:
			name, effs = "tick", m.Tick(now)
		}
		after := m.State()
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("op %d (%s at %s), state %s -> %s: "+format,
				append([]any{i, name, rel(now), fmtState(before), fmtState(after)}, args...)...)
		}

		// Effects: one AlarmChanged exactly when the State changed, then
		// a Chime only on a rising noise edge while listening, rate limited.
		var changed, chimed bool
		for j, e := range effs {
			switch e := e.(type) {
			case AlarmChanged:
				if changed || j != 0 {
					fail("AlarmChanged not alone and first: %s", fmtEffects(effs))
				}
				if e.State != after {
					fail("AlarmChanged %s is not State()", fmtState(e.State))
				}
				changed = true
			case Chime:
				if chimed || name != "noise on" || md.noise || !md.listening || !e.At.Equal(now) {
					fail("unexpected chime: %s", fmtEffects(effs))
				}
				if !md.lastChime.IsZero() && now.Sub(md.lastChime) < DefaultChimeInterval {
					fail("chime %v after the last", now.Sub(md.lastChime))
				}
				chimed, md.lastChime = true, now
			}
		}
		if changed != (after != before) {
			fail("changed=%v but effects %q", after != before, fmtEffects(effs))
		}
		if name == "audio" && !changed && effs != nil {
			fail("Audio returned %#v, want nil", effs)
		}
		switch name {
		case "noise on":
			md.noise = true
		case "noise off":
			md.noise = false
		}

		// The State is consistent.
		if after.Active != (after.Reason != None) {
			fail("Active iff Reason != None")
		}
		if after.Active && (after.Sounding == after.Acknowledged || after.Since.IsZero() || after.Since.After(now)) {
			fail("an active alarm sounds or is acked, since a past time")
		}
		if !after.Active && after != (State{}) {
			fail("an inactive State is the zero State")
		}

		// The reasons follow the inputs.
		if !md.listening && after.Active {
			fail("active while not listening")
		}
		if md.listening && md.link == presence.Offline && after.Reason != LinkLost {
			fail("offline while listening, want link lost")
		}
		if after.Reason == LinkLost && md.link != presence.Offline {
			fail("link lost while not offline")
		}
		if md.listening && md.mic && after.Reason < MicrophoneFault {
			fail("microphone fault while listening, want an alarm")
		}
		if after.Reason == MicrophoneFault && !md.mic {
			fail("microphone fault without a fault")
		}
		if after.Reason == AudioLost && md.link != presence.Online {
			fail("audio lost while not online")
		}
		if after.Reason == AudioLost && before.Reason != AudioLost && !md.lastAudio.IsZero() && now.Sub(md.lastAudio) < DefaultAudioGap {
			fail("audio lost %v after a packet", now.Sub(md.lastAudio))
		}
		if md.listening && md.link == presence.Online && now.Sub(md.watchFrom) >= DefaultStreamGrace && after.Reason < AudioLost {
			fail("no audio for %v while watching, want audio lost", now.Sub(md.watchFrom))
		}

		// Sounding.
		if before.Sounding && !after.Sounding && name != "ack" && after.Active {
			fail("stopped sounding without ack or clear")
		}
		if before.Active && after.Active && before.Reason != after.Reason && !after.Sounding && name != "ack" {
			fail("a new reason must sound") // unless acked as it was raised
		}
		if name == "ack" && before.Active && !after.Active {
			fail("ack cleared the alarm")
		}
		if name == "ack" && after.Active && !after.Acknowledged {
			fail("ack did not silence")
		}
		if before.Acknowledged && after.Sounding && after.Reason == before.Reason && now.Sub(md.ackAt) < DefaultReminder {
			fail("re-sounded %v after the ack", now.Sub(md.ackAt))
		}
		reminded := before.Acknowledged && now.Sub(md.ackAt) >= DefaultReminder
		if name == "ack" && (before.Sounding || reminded || before.Reason != after.Reason) {
			md.ackAt = now // what sounds at now, a reminder or a reason due now included, is silenced
		} else if reminded && after.Acknowledged {
			fail("no reminder %v after the ack", now.Sub(md.ackAt))
		}
	}
}

func FuzzMachine(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0x04, 0x15, 0x15, 0x85, 0x8f, 0x0a, 0xef, 0xef, 0x01, 0x0a, 0xef, 0x00})
	f.Add([]byte{0x01, 0x02, 0x0a, 0xef, 0x00, 0x06, 0x0a, 0x07, 0x08, 0x19, 0x48, 0xd8, 0x03})
	f.Add([]byte{0x02, 0x00, 0x35, 0x35, 0x6f, 0x9f, 0x0a, 0x04, 0xcf, 0x05, 0xa5, 0x9b})
	f.Fuzz(func(t *testing.T, ops []byte) { checkRun(t, ops) })
}

// TestRandomRuns runs checkRun over seeded random sequences, so that the
// invariants are checked without -fuzz.
func TestRandomRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ops := make([]byte, 1+r.IntN(200))
		for i := range ops {
			ops[i] = byte(r.IntN(256))
		}
		checkRun(t, ops)
	}
}
