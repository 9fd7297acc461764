package monitor

import (
	"testing"
	"time"
)

// TestCoreLocalScripts: the core's part in in-process connections (the
// monitor's page, local.go): trusted from the start and recorded as the
// page's; followed like any listener; counted in the stream limits; a
// device's revocation closes its own, and only its own, with revoked.
func TestCoreLocalScripts(t *testing.T) {
	tests := []struct {
		name  string
		cfg   CoreConfig
		steps []cstep
	}{
		{"a device's connection is trusted, recorded as the page's, and told what a listener is", CoreConfig{}, []cstep{
			{0, "page page1 DA", "append opened page1 - page:DA; send page1 hello_ack trusted=true pairing=false; send page1 sound_state playing=false no-speaker; send page1 talk_state no-speaker; status page1"},
			{0, "page page2 -", "append opened page2 - page; send page2 hello_ack trusted=true pairing=false; send page2 sound_state playing=false no-speaker; send page2 talk_state no-speaker; status page2"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send page1 pairing_state open=true failed=0; send page2 pairing_state open=true failed=0"},
			{time.Second, "web 1", ""},
			{time.Second, "code 1 ok", `append! device-trusted D1 "Bedside phone"; send page1 device_added; send page2 device_added; mdns pairing=false; append window-closed success; send page1 pairing_state open=false failed=0 closed=success; send page2 pairing_state open=false failed=0 closed=success`},
			{time.Second, "info page1", "send-info page1"},
			{time.Second, "pair-open page1", "mdns pairing=true; append window-opened for=3m0s; send page1 pairing_state open=true failed=0 ref=pair_open; send page2 pairing_state open=true failed=0"},
			{2 * time.Second, "close page2", "append closed page2 - page reason=closed after=2s"},
		}},
		{"device revoked: its connections close with revoked, other devices' and listeners' stay", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "page page1 DA", "append opened page1 - page:DA; send page1 hello_ack trusted=true pairing=false; send page1 sound_state playing=false no-speaker; send page1 talk_state no-speaker; status page1"},
			{0, "page page2 DB", "append opened page2 - page:DB; send page2 hello_ack trusted=true pairing=false; send page2 sound_state playing=false no-speaker; send page2 talk_state no-speaker; status page2"},
			{0, "page page3 DA", "append opened page3 - page:DA; send page3 hello_ack trusted=true pairing=false; send page3 sound_state playing=false no-speaker; send page3 talk_state no-speaker; status page3"},
			{0, "page page4 -", "append opened page4 - page; send page4 hello_ack trusted=true pairing=false; send page4 sound_state playing=false no-speaker; send page4 talk_state no-speaker; status page4"},
			{0, "start page1 s audio", ""},
			{0, "offer page1 s", "pumps a; answer page1 s audio"},
			{0, "store device-revoked DC", "end-device DC"},
			{0, "store device-revoked DA", "close page1 revoked; close page3 revoked; end-device DA"},
			{time.Second, "close page1 revoked", "pumps off; append closed page1 - page:DA reason=revoked after=1s"},
			{time.Second, "close page3 revoked", "append closed page3 - page:DA reason=revoked after=1s"},
			// A listener's revocation leaves the page's connections alone.
			{time.Second, "store revoked 1", "close c1 revoked"},
			{time.Second, "store reset", "renew-code; close c1 revoked; close page2 revoked; close page4 revoked; end-devices"},
		}},
		{"the page's sessions count in the stream limits, as a listener's", CoreConfig{MaxStreams: 1}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "page page1 DA", "append opened page1 - page:DA; send page1 hello_ack trusted=true pairing=false; send page1 sound_state playing=false no-speaker; send page1 talk_state no-speaker; status page1"},
			{0, "page page2 DB", "append opened page2 - page:DB; send page2 hello_ack trusted=true pairing=false; send page2 sound_state playing=false no-speaker; send page2 talk_state no-speaker; status page2"},
			{0, "start page1 s audio", ""},
			{0, "start page2 s audio", ""},
			{0, "start 1 s audio", ""},
			{0, "offer page1 s", "pumps a; answer page1 s audio"},
			{0, "offer page2 s", "err=busy"},
			{0, "offer 1 s", "err=busy"},
			{0, "stop page1 s", "stop-session page1 s; pumps off"},
			{0, "offer 1 s", "pumps a; answer c1 s audio"},
			{0, "offer page2 s", "err=busy"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runWebScript(t, tt.cfg, tt.steps) })
	}
}

// TestConnNames: the event log names the transport's connections c1, c2,
// ... and in-process ones page1, page2, ...; a web attempt's key is no
// in-process id.
func TestConnNames(t *testing.T) {
	for _, tt := range []struct {
		id   uint64
		want string
	}{
		{1, "c1"}, {42, "c42"}, {localConnBit | 1, "page1"}, {localConnBit | 7, "page7"}, {webKey(3), "c9223372036854775811"},
	} {
		if got := connName(tt.id); got != tt.want {
			t.Errorf("connName(%#x) = %q, want %q", tt.id, got, tt.want)
		}
	}
	if webKey(1)&localConnBit != 0 {
		t.Error("web attempts' keys overlap the in-process ids")
	}
}
