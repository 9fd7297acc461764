package monitor

import (
	"testing"
	"time"
)

// TestCoreTalkScripts: push-to-talk's rules (coretalk.go).
func TestCoreTalkScripts(t *testing.T) {
	speaker := CoreConfig{Speaker: true}
	const s = time.Second
	hello := func(c string) string {
		return "append opened " + c + " P" + c[1:] + "; send " + c + " hello_ack trusted=true pairing=false; send " + c + " sound_state playing=false; send " + c + " talk_state; status " + c
	}
	tests := []struct {
		name  string
		cfg   CoreConfig
		steps []cstep
	}{
		{"a trusted listener talks: recorded, played after its offer (no pump), every listener told who talks; stopped, recorded with its length", speaker, []cstep{
			{0, "accept 1 1 trusted", hello("c1")},
			{0, "accept 2 2 trusted", hello("c2")},
			{0, "start 1 t1 talk", `append talk-started by="L1" peer=D1; talk play 1 c1 t1; send c1 talk_state talking by="L1" you; send c2 talk_state talking by="L1"`},
			{0, "start 1 t1 talk", ""}, // asked again: nothing new
			{0, "offer 1 t1", "answer c1 t1 talk"},
			{12 * s, "stop 1 t1", `append talk-ended stopped after=12s; talk halt 1; stop-session c1 t1; send c1 talk_state; send c2 talk_state`},
			{13 * s, "offer 1 t1", "err=bad_request"}, // forgotten: a new press is a new stream_start
			{14 * s, "start 2 t9 talk", `append talk-started by="L2" peer=D2; talk play 2 c2 t9; send c1 talk_state talking by="L2"; send c2 talk_state talking by="L2" you`},
			{15 * s, "shutdown", "append talk-ended shutdown after=1s; talk halt 2"},
		}},
		{"one talker at a time: another's talk is busy; listening goes on beside a talk; a talk session id cannot turn into listening", speaker, []cstep{
			{0, "accept 1 1 trusted", hello("c1")},
			{0, "accept 2 2 trusted", hello("c2")},
			{0, "start 1 t talk", `append talk-started by="L1" peer=D1; talk play 1 c1 t; send c1 talk_state talking by="L1" you; send c2 talk_state talking by="L1"`},
			{0, "start 2 u talk", "err=busy"},
			{0, "start 1 other talk", "err=busy"},
			{0, "start 1 t audio", "err=bad_request"},
			{0, "start 2 a audio", ""},
			{0, "offer 2 a", "pumps a; answer c2 a audio"},
			{0, "offer 1 t", "answer c1 t talk"},
		}},
		{"a talk ends with its connection, its peer connection or a failed answer; the others are told", speaker, []cstep{
			{0, "accept 1 1 trusted", hello("c1")},
			{0, "accept 2 2 trusted", hello("c2")},
			{0, "start 1 t talk", `append talk-started by="L1" peer=D1; talk play 1 c1 t; send c1 talk_state talking by="L1" you; send c2 talk_state talking by="L1"`},
			{0, "offer 1 t", "answer c1 t talk"},
			{2 * s, "ended 1 t closed", `send c1 stream_stop t; append talk-ended closed after=2s; talk halt 1; send c1 talk_state; send c2 talk_state`},
			{3 * s, "start 1 t2 talk", `append talk-started by="L1" peer=D1; talk play 2 c1 t2; send c1 talk_state talking by="L1" you; send c2 talk_state talking by="L1"`},
			{3 * s, "offer 1 t2", "answer c1 t2 talk"},
			{4 * s, "answer-failed 1 t2", `append talk-ended failed after=1s; talk halt 2; stop-session c1 t2; send c1 talk_state; send c2 talk_state`},
			{5 * s, "start 1 t3 talk", `append talk-started by="L1" peer=D1; talk play 3 c1 t3; send c1 talk_state talking by="L1" you; send c2 talk_state talking by="L1"`},
			{6 * s, "talk-failed 2", ""}, // stale
			{7 * s, "close 1", `append talk-ended closed after=2s; talk halt 3; send c2 talk_state; append closed c1 P1 reason=closed after=7s`},
		}},
		{"no speaker: unavailable; a stranger is refused and closed, nothing recorded or played", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "start 1 t talk", "err=unavailable"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c1 pairing_state open=true failed=0"},
			{0, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{0, "start 2 t talk", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
			{0, "offer 2 t", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
		}},
		{"a stranger cannot talk even with a speaker", speaker, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{0, "start 2 t talk", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
			{0, "offer 2 t", "send c2 error untrusted; close c2 untrusted; err=untrusted"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCore(t, newTestCore(tt.cfg), tt.steps)
		})
	}
}
