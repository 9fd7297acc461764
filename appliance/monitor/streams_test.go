package monitor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/rtc"
)

// runStreams runs a streams script: an op and the effects and error it
// must give (as fmtCore prints them).
//
//	allow C   drop C   start C S audio|av|KIND   offer C S
//	answer-failed C S   stop C S   ended C S   running -> "N"
func runStreams(t *testing.T, cfg streamsConfig, steps []cstep) {
	t.Helper()
	s := newStreams(cfg)
	for i, st := range steps {
		f := strings.Fields(st.op)
		var conn uint64
		if len(f) > 1 {
			fmt.Sscan(f[1], &conn)
		}
		var eff []Effect
		var err error
		got := ""
		switch f[0] {
		case "allow":
			s.allow(conn)
		case "drop":
			eff = s.drop(conn)
		case "start":
			kind := f[3]
			if kind == "av" {
				kind = "audio+video"
			}
			err = s.start(conn, f[2], kind)
		case "offer":
			var a Answer
			if eff, a, err = s.offer(conn, f[2], "v=0"); err == nil {
				eff = append(eff, a)
			}
		case "answer-failed":
			eff = s.end(conn, f[2], nil)
		case "stop":
			eff, err = s.stop(conn, f[2])
		case "ended":
			eff, _ = s.ended(conn, f[2], "failed")
		case "running":
			got = fmt.Sprint(s.running())
		default:
			t.Fatalf("unknown op %q", st.op)
		}
		if f[0] != "running" {
			got = fmtCore(eff, err)
		}
		if got != st.want {
			t.Fatalf("step %d (%s):\n got: %s\nwant: %s", i, st.op, got, st.want)
		}
	}
}

func TestStreamsScripts(t *testing.T) {
	tests := []struct {
		name  string
		cfg   streamsConfig
		steps []cstep
	}{
		{"only an allowed connection streams; a dropped one no longer", streamsConfig{}, []cstep{
			{0, "start 1 s audio", "err=protocol_error"},
			{0, "offer 1 s", "err=bad_request"},
			{0, "allow 1", ""},
			{0, "start 1 s audio", ""},
			{0, "offer 1 s", "pumps a; answer c1 s audio"},
			{0, "running", "1"},
			{0, "drop 1", "pumps off"},
			{0, "running", "0"},
			{0, "start 1 s audio", "err=protocol_error"},
			{0, "ended 1 s", ""},
		}},
		{"limits: per connection, in all, requests; a replaced offer keeps its slot", streamsConfig{PerConn: 1, Total: 2, Requests: 2}, []cstep{
			{0, "allow 1", ""},
			{0, "allow 2", ""},
			{0, "allow 3", ""},
			{0, "start 1 a audio", ""},
			{0, "start 1 b audio", ""},
			{0, "start 1 c audio", "err=busy"},
			{0, "start 1 a av", ""},
			{0, "offer 1 a", "pumps a+v; answer c1 a audio+video"},
			{0, "offer 1 a", "keyframe; answer c1 a audio+video"},
			{0, "offer 1 b", "err=busy"},
			{0, "start 2 x av", ""},
			{0, "offer 2 x", "keyframe; answer c2 x audio+video"},
			{0, "start 3 y audio", ""},
			{0, "offer 3 y", "err=busy"},
			{0, "stop 1 a", "stop-session c1 a"},
			{0, "stop 1 a", "err=bad_request"},
			{0, "offer 3 y", "answer c3 y audio"},
			{0, "ended 2 x", "send c2 stream_stop x; pumps a"},
			{0, "answer-failed 3 y", "pumps off"},
		}},
		{"requests are checked", streamsConfig{MaxSessionID: 4}, []cstep{
			{0, "allow 1", ""},
			{0, "start 1 s video", "err=bad_request"},
			{0, "start 1 12345 audio", "err=bad_request"},
			{0, "start 1 1234 audio", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runStreams(t, tt.cfg, tt.steps) })
	}
}

// TestStreamsDefaultsAreTheEngines: the core's defaults, used when the
// shell passes none, are the WebRTC engine's (the core may not import
// rtc).
func TestStreamsDefaultsAreTheEngines(t *testing.T) {
	if defaultMaxStreamsPerConn != rtc.DefaultMaxSessionsPerConn || defaultMaxStreams != rtc.DefaultMaxSessions || defaultMaxSessionID != rtc.MaxSessionID {
		t.Fatalf("core defaults %d/%d/%d, rtc's %d/%d/%d", defaultMaxStreamsPerConn, defaultMaxStreams, defaultMaxSessionID,
			rtc.DefaultMaxSessionsPerConn, rtc.DefaultMaxSessions, rtc.MaxSessionID)
	}
}
