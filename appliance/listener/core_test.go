package listener

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/appliance/presence"
)

// The session core as op/want scripts in virtual time: no network, no
// goroutines, no clock. Each step happens at a time since t0; want is the
// effects it returns, printed by fmtCoreEffects ("" for none).

var coreT0 = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)

type coreStep struct {
	at   time.Duration
	op   string
	want string
}

var errCoreNet = errors.New("network unreachable")

// errName is how a script names an error.
func errName(err error) string {
	switch {
	case errors.Is(err, errCoreNet):
		return "net"
	case errors.Is(err, control.ErrRevoked):
		return "revoked"
	}
	return err.Error()
}

func coreRel(t time.Time) string { return "+" + t.Sub(coreT0).String() }

func fmtAlarm(st alarm.State) string {
	if !st.Active {
		return "alarm none"
	}
	s := "alarm " + strings.ReplaceAll(st.Reason.String(), " ", "-")
	if st.Sounding {
		s += " sounding"
	}
	if st.Acknowledged {
		s += " acked"
	}
	return s
}

func fmtCoreEffects(effs []effect) string {
	var out []string
	for _, e := range effs {
		switch e := e.(type) {
		case deliver:
			switch ev := e.Event.(type) {
			case PresenceEvent:
				s := "presence " + ev.Presence.String()
				if ev.Err != nil {
					s += " (" + errName(ev.Err) + ")"
				}
				out = append(out, s)
			case StatusEvent:
				out = append(out, "status")
			case AlarmEvent:
				out = append(out, fmtAlarm(ev.State))
			case ChimeEvent:
				out = append(out, "chime")
			case StreamEvent:
				out = append(out, "stream "+ev.State.String())
			case PairingEvent:
				out = append(out, fmt.Sprintf("pairing open=%v", ev.State.Open))
			case DeviceEvent:
				out = append(out, "device "+ev.ID+" "+ev.Name)
			case SoundEvent:
				out = append(out, fmt.Sprintf("sound playing=%v %s", ev.State.Playing, ev.State.Sound))
			default:
				out = append(out, fmt.Sprintf("deliver %T", ev))
			}
		case dialAt:
			s := "dial " + coreRel(e.At)
			if e.Rediscover {
				s += " rediscover"
			}
			out = append(out, s)
		case stopSession:
			out = append(out, "stop ("+errName(e.Err)+")")
		case answer:
			switch {
			case errors.Is(e.Reply.Err, ErrOffline):
				out = append(out, fmt.Sprintf("answer %d offline", e.ID))
			case e.Reply.Err != nil:
				out = append(out, fmt.Sprintf("answer %d error", e.ID))
			default:
				out = append(out, fmt.Sprintf("answer %d %s", e.ID, e.Reply.Msg.MessageType()))
			}
		case toStreamer:
			out = append(out, "streamer "+string(e.Msg.MessageType()))
		case modeChanged:
			out = append(out, "mode "+e.Mode.String())
		case logLine:
			if e.Level >= slog.LevelWarn {
				out = append(out, "log "+e.Msg)
			}
		default:
			out = append(out, fmt.Sprintf("unknown %T", e))
		}
	}
	return strings.Join(out, "; ")
}

// coreEvent parses a script op into an event ("deadline" is answered by
// runCore itself).
func coreEvent(t *testing.T, op string, now time.Time) any {
	t.Helper()
	f := strings.Fields(op)
	arg := func(i int) string {
		if len(f) <= i {
			t.Fatalf("%q: missing argument", op)
		}
		return f[i]
	}
	num := func(i int) uint64 {
		n, err := strconv.ParseUint(arg(i), 10, 64)
		if err != nil {
			t.Fatalf("%q: %v", op, err)
		}
		return n
	}
	errNamed := func(name string) error {
		switch name {
		case "net":
			return errCoreNet
		case "revoked":
			return &control.Error{Code: control.CodeRevoked, Remote: true}
		}
		t.Fatalf("%q: unknown error %q", op, name)
		return nil
	}
	modes := map[string]StreamMode{"off": StreamOff, "audio": StreamAudio, "audio+video": StreamAudioVideo}
	states := map[string]StreamState{"starting": StreamStarting, "connected": StreamConnected, "interrupted": StreamInterrupted, "failed": StreamFailed, "stopped": StreamStopped}
	switch f[0] {
	case "start":
		return started{At: now}
	case "dial-ok":
		return dialed{At: now, Stats: presence.Stats{SRTT: time.Millisecond, LastSeen: now}}
	case "dial-fail":
		return dialed{At: now, Err: errNamed(arg(1)), Jitter: 0.5}
	case "lost":
		return connLost{At: now, Err: errNamed(arg(1)), Jitter: 0.5}
	case "found":
		return addressFound{Addr: arg(1)}
	case "status":
		st := control.Status{Noise: strings.Contains(op, "noise")}
		if strings.Contains(op, "micfault") {
			st.Faults = []string{control.FaultMicrophone}
		}
		return received{At: now, Msg: st}
	case "info":
		return received{At: now, Msg: control.Info{}}
	case "sound":
		st := control.SoundState{Playing: arg(1) != "off", Speaker: true, Ref: control.Type(strings.TrimPrefix(strings.Join(f[2:], ""), "ref="))}
		if st.Playing {
			st.Sound = arg(1)
		}
		return received{At: now, Msg: st}
	case "pairing":
		return received{At: now, Msg: control.PairingState{Open: arg(1) == "open", Ref: control.Type(strings.TrimPrefix(strings.Join(f[2:], ""), "ref="))}}
	case "error":
		m := control.ErrorMsg{Code: "busy"}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "ref":
				m.Ref = control.Type(v)
			case "session":
				m.Session = v
			}
		}
		return received{At: now, Msg: m}
	case "device-added":
		return received{At: now, Msg: control.DeviceAdded{ID: "K7Q2M9XD", Name: "Bedside phone"}}
	case "answer-sdp":
		return received{At: now, Msg: control.WebRTCAnswer{Session: "s1"}}
	case "unknown-msg":
		return received{At: now, Msg: control.Hello{}}
	case "ask":
		return asked{ID: num(1), Ref: control.Type(arg(2))}
	case "gone":
		return askGone{ID: num(1)}
	case "listen":
		m, ok := modes[arg(1)]
		if !ok {
			t.Fatalf("%q: unknown mode", op)
		}
		return streamSet{At: now, Mode: m}
	case "ack":
		return acked{At: now}
	case "stream":
		st, ok := states[arg(1)]
		if !ok {
			t.Fatalf("%q: unknown stream state", op)
		}
		return streamChanged{At: now, State: st, Kind: control.StreamAudio}
	case "stream-ended":
		return streamEnded{}
	case "audio":
		return audioSeen{At: now, Bytes: 100}
	case "video":
		return videoSeen{}
	case "timer":
		return timerFired{At: now}
	}
	t.Fatalf("unknown op %q", op)
	return nil
}

func runCore(t *testing.T, c *sessionCore, script []coreStep) {
	t.Helper()
	for i, s := range script {
		now := coreT0.Add(s.at)
		var got string
		if s.op == "deadline" {
			got = "none"
			if d, ok := c.nextDeadline(); ok {
				got = coreRel(d)
			}
		} else {
			got = fmtCoreEffects(c.Step(coreEvent(t, s.op, now)))
		}
		if got != s.want {
			t.Fatalf("step %d (+%v %s):\n got: %s\nwant: %s", i, s.at, s.op, got, s.want)
		}
	}
}

func newTestCore(mode StreamMode, discovery bool) *sessionCore {
	return newSessionCore(PairedMonitor{Name: "Nursery", Address: "192.0.2.1:48080"}, mode, Policy{Backoff: DefaultBackoff, Discovery: discovery}, alarm.Config{})
}

const ms = time.Millisecond

// TestCorePresenceAndRedial: presence from the dial outcomes and the
// heartbeat's verdict, redials by the policy, a final error stops.
func TestCorePresenceAndRedial(t *testing.T) {
	runCore(t, newTestCore(StreamOff, true), []coreStep{
		{0, "start", "dial +0s"},
		{0, "deadline", "none"},
		{10 * ms, "dial-fail net", "presence offline (net); dial +110ms"},
		{110 * ms, "dial-fail net", "dial +310ms rediscover"}, // still offline: no new event
		{120 * ms, "found 192.0.2.7:48080", ""},
		{310 * ms, "dial-ok", "presence online"},
		{310 * ms, "dial-ok", ""}, // a fresh report of the same presence
		{5 * time.Second, "lost net", "presence offline (net); dial +5s"},
		{5 * time.Second, "dial-fail net", "dial +5.1s"}, // backoff starts again from the minimum
		{5100 * ms, "dial-ok", "presence online"},
		{9 * time.Second, "lost revoked", "presence offline (revoked); log giving up on the monitor; stop (revoked)"},
	})
}

// TestCoreAddress: a rediscovered address is used for the next reports.
func TestCoreAddress(t *testing.T) {
	c := newTestCore(StreamOff, true)
	runCore(t, c, []coreStep{
		{0, "start", "dial +0s"},
		{0, "found 192.0.2.7:48080", ""},
		{0, "dial-ok", "presence online"},
	})
	if c.change.Address != "192.0.2.7:48080" || c.mon.Address != "192.0.2.7:48080" {
		t.Fatalf("address %q / %q, want the rediscovered one", c.change.Address, c.mon.Address)
	}
}

// TestCoreAlarmDeadlines: the alarm is driven by its deadline (the shell's
// one timer) and by StreamUp when the stream connects.
func TestCoreAlarmDeadlines(t *testing.T) {
	runCore(t, newTestCore(StreamAudio, false), []coreStep{
		{0, "start", "dial +0s"},
		{0, "deadline", "none"}, // connecting: no alarm, no timer
		{100 * ms, "dial-ok", "presence online"},
		{100 * ms, "deadline", "+5.1s"}, // the stream grace from Online
		{time.Second, "stream starting", "stream starting"},
		{2 * time.Second, "stream connected", "stream connected"},
		{2 * time.Second, "deadline", "+7s"}, // StreamUp restarted the grace
		{2100 * ms, "audio", ""},
		{2100 * ms, "deadline", "+2.5s"}, // the audio gap
		{2120 * ms, "audio", ""},
		{2120 * ms, "deadline", "+2.52s"},
		{2520 * ms, "timer", "log alarm; alarm audio-lost sounding"},
		{2520 * ms, "deadline", "none"}, // raised: nothing more to wait for
		{2600 * ms, "ack", "alarm audio-lost acked"},
		{2600 * ms, "deadline", "+5m2.6s"}, // the reminder
		{3 * time.Second, "audio", "alarm none"},
		{3 * time.Second, "deadline", "+3.4s"},
		{3100 * ms, "lost net", "presence offline (net); log alarm; alarm link-lost sounding; dial +3.1s"},
		{3100 * ms, "deadline", "none"},
		{3200 * ms, "dial-ok", "presence online; alarm none"},
		{3200 * ms, "deadline", "+8.2s"},
		{4 * time.Second, "listen off", "mode off"},
		{4 * time.Second, "deadline", "none"},
		{5 * time.Second, "listen off", ""},
		{6 * time.Second, "listen audio", "mode audio"},
		{6 * time.Second, "deadline", "+11s"},
	})
}

// TestCoreStatusAndNoise: status goes to subscribers and feeds the alarm
// (microphone fault) and the chime (noise while listening).
func TestCoreStatusAndNoise(t *testing.T) {
	runCore(t, newTestCore(StreamOff, false), []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-ok", "presence online"},
		{time.Second, "status noise", "status"}, // not listening: no chime
		{2 * time.Second, "status", "status"},
		{3 * time.Second, "listen audio", "mode audio"},
		{3 * time.Second, "status noise", "status; chime"},
		{4 * time.Second, "status micfault", "status; log alarm; alarm microphone-fault sounding"},
		{5 * time.Second, "status", "status; alarm none"},
	})
}

// TestCoreRequests: answers are matched to the waiting requests by ref;
// a lost connection answers every waiting request with ErrOffline.
func TestCoreRequests(t *testing.T) {
	runCore(t, newTestCore(StreamOff, false), []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-ok", "presence online"},
		{0, "ask 1 info_request", ""},
		{0, "ask 2 pair_open", ""},
		{0, "ask 3 info_request", ""},
		{0, "ask 4 pair_close", ""},
		{time.Second, "info", "answer 1 info; answer 3 info"},
		{time.Second, "pairing open", "pairing open=true"}, // a notice answers nobody
		{time.Second, "pairing open ref=pair_open", "answer 2 pairing_state; pairing open=true"},
		{time.Second, "ask 5 pair_open", ""},
		{time.Second, "error ref=pair_open", "answer 5 error"},
		{time.Second, "ask 6 info_request", ""},
		{time.Second, "gone 6", ""},
		{time.Second, "info", ""}, // its caller stopped waiting
		{time.Second, "ask 7 info_request", ""},
		{2 * time.Second, "lost net", "presence offline (net); answer 4 offline; answer 7 offline; dial +2s"},
	})
}

// TestCoreSoundRequests: sound_state with a ref answers StartSound or
// StopSound; every sound_state is delivered; an error with a ref
// answers the request (unavailable: no speaker).
func TestCoreSoundRequests(t *testing.T) {
	runCore(t, newTestCore(StreamOff, false), []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-ok", "presence online"},
		{0, "sound off", "sound playing=false "}, // after hello_ack
		{0, "ask 1 sound_start", ""},
		{0, "ask 2 sound_stop", ""},
		{time.Second, "sound pink", "sound playing=true pink"}, // a notice answers nobody
		{time.Second, "sound pink ref=sound_start", "answer 1 sound_state; sound playing=true pink"},
		{time.Second, "sound off ref=sound_stop", "answer 2 sound_state; sound playing=false "},
		{time.Second, "ask 3 sound_start", ""},
		{time.Second, "error ref=sound_start", "answer 3 error"},
	})
}

// TestCoreRouting: signalling for the stream session goes to the
// streamer; other errors and unknown messages are only logged.
func TestCoreRouting(t *testing.T) {
	runCore(t, newTestCore(StreamAudio, false), []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-ok", "presence online"},
		{0, "answer-sdp", "streamer webrtc_answer"},
		{0, "error session=s1", "streamer error"},
		{0, "error ref=stream_start", "streamer error"},
		{0, "error ref=webrtc_offer", "streamer error"},
		{0, "error", "log error from the monitor"},
		{0, "unknown-msg", ""}, // debug log only
	})
}

// TestCoreDeviceAdded: a phone paired on the monitor's page is a warning
// the parent reads, not an unknown message.
func TestCoreDeviceAdded(t *testing.T) {
	runCore(t, newTestCore(StreamOff, false), []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-ok", "presence online"},
		{0, "device-added", "log a phone was paired with the monitor on its page; if you do not know it, revoke it with `cradled revoke ID`; device K7Q2M9XD Bedside phone"},
	})
}

// TestCoreStreamAndStats: stream states go to subscribers; the counts
// and the streaming flag follow the stream and the packets.
func TestCoreStreamAndStats(t *testing.T) {
	c := newTestCore(StreamAudio, false)
	runCore(t, c, []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-ok", "presence online"},
		{0, "stream starting", "stream starting"},
		{0, "stream connected", "stream connected"},
		{10 * ms, "audio", ""},
		{20 * ms, "video", ""},
		{30 * ms, "status", "status"},
		{40 * ms, "status", "status"},
	})
	if st := c.stats; st.Streams != 1 || st.AudioPackets != 1 || st.AudioBytes != 100 || st.VideoPackets != 1 || st.Connections != 1 || st.Statuses != 2 || !c.streaming {
		t.Fatalf("stats %+v streaming %v", st, c.streaming)
	}
	runCore(t, c, []coreStep{{30 * ms, "stream interrupted", "stream interrupted"}})
	if c.streaming {
		t.Fatal("streaming after the stream broke")
	}
	runCore(t, c, []coreStep{{40 * ms, "audio", ""}, {50 * ms, "stream-ended", ""}})
	if c.streaming {
		t.Fatal("streaming after the attempt ended")
	}
}

// TestCorePresent: a new subscriber's first events describe the present.
func TestCorePresent(t *testing.T) {
	c := newTestCore(StreamAudio, false)
	if evs := c.present(); len(evs) != 0 {
		t.Fatalf("connecting: %v, want nothing", evs)
	}
	runCore(t, c, []coreStep{
		{0, "start", "dial +0s"},
		{0, "dial-fail net", "presence offline (net); log alarm; alarm link-lost sounding; dial +100ms"},
		{0, "status", "status"},
	})
	var kinds []string
	for _, ev := range c.present() {
		kinds = append(kinds, fmt.Sprintf("%T", ev))
	}
	if got := strings.Join(kinds, " "); got != "listener.PresenceEvent listener.StatusEvent listener.AlarmEvent" {
		t.Fatalf("present: %s", got)
	}
}

// TestCoreRefusedAlarm: a monitor that revokes the listener while the
// parent listens raises "access refused", not "link lost": the banner
// says why the baby can no longer be heard. A plain cut stays link lost.
func TestCoreRefusedAlarm(t *testing.T) {
	runCore(t, newTestCore(StreamAudio, false), []coreStep{
		{0, "start", "dial +0s"},
		{100 * ms, "dial-ok", "presence online"},
		{time.Second, "lost net", "presence offline (net); log alarm; alarm link-lost sounding; dial +1s"},
		{1100 * ms, "dial-ok", "presence online; alarm none"},
		{2 * time.Second, "lost revoked", "log alarm; alarm access-refused sounding; presence offline (revoked); log giving up on the monitor; stop (revoked)"},
	})
}
