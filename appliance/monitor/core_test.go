package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

var t0 = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)

// pfp is listener n's fingerprint: every byte n.
func pfp(n byte) identity.Fingerprint {
	var f identity.Fingerprint
	for i := range f {
		f[i] = n
	}
	return f
}

func fpName(f identity.Fingerprint) string {
	if f.IsZero() {
		return "-"
	}
	return fmt.Sprintf("P%d", f[0])
}

// fmtCore prints effects and an error as a script's want line.
func fmtCore(effs []Effect, err error) string {
	var out []string
	for _, e := range effs {
		switch e := e.(type) {
		case Send:
			s := fmt.Sprintf("send %s %s", connName(e.Conn), e.Msg.MessageType())
			switch m := e.Msg.(type) {
			case control.HelloAck:
				s += fmt.Sprintf(" trusted=%v pairing=%v", m.Trusted, m.PairingOpen)
			case control.ErrorMsg:
				s += " " + m.Code
			case control.StreamStop:
				s += " " + m.Session
			case control.TalkState:
				if m.Talking {
					s += fmt.Sprintf(" talking by=%q", m.By)
					if m.You {
						s += " you"
					}
				}
				if !m.Speaker {
					s += " no-speaker"
				}
			case control.SoundState:
				s += fmt.Sprintf(" playing=%v", m.Playing)
				if m.Playing {
					s += fmt.Sprintf(" %s by=%q left=%v", m.Sound, m.By, time.Duration(m.RemainingMillis)*time.Millisecond)
				}
				if m.Fading {
					s += " fading"
				}
				if !m.Speaker {
					s += " no-speaker"
				}
				if m.Ref != "" {
					s += " ref=" + string(m.Ref)
				}
			case control.PairingState:
				s += fmt.Sprintf(" open=%v failed=%d", m.Open, m.FailedAttempts)
				if m.Closed != "" {
					s += " closed=" + m.Closed
				}
				if m.Ref != "" {
					s += " ref=" + string(m.Ref)
				}
			}
			out = append(out, s)
		case Close:
			out = append(out, fmt.Sprintf("close %s %s", connName(e.Conn), e.Code))
		case Append:
			s := "append "
			if e.Must {
				s = "append! "
			}
			switch p := e.Payload.(type) {
			case store.ConnectionOpened:
				s += fmt.Sprintf("opened %s %s", p.ConnID, fpName(p.Fingerprint))
				if p.Fingerprint == ([32]byte{}) {
					s += " " + p.Remote // an in-process connection's
				}
			case store.ConnectionClosed:
				s += fmt.Sprintf("closed %s %s", p.ConnID, fpName(p.Fingerprint))
				if p.Fingerprint == ([32]byte{}) {
					s += " " + p.Remote
				}
				s += fmt.Sprintf(" reason=%s after=%v", p.Reason, p.Duration)
			case store.PairingWindowOpened:
				s += fmt.Sprintf("window-opened for=%v", p.Duration)
			case store.PairingWindowClosed:
				s += "window-closed " + string(p.Reason)
			case store.PairingAttemptFailed:
				s += fmt.Sprintf("attempt-failed %s", fpName(p.Peer))
			case store.ListenerTrusted:
				s += fmt.Sprintf("trusted %s %q", fpName(p.Fingerprint), p.Name)
			case store.TrustReset:
				s += "trust-reset"
			case store.DeviceTrusted:
				s += fmt.Sprintf("device-trusted %s %q", p.ID, p.Name)
			case store.SoundStarted:
				s += fmt.Sprintf("sound-started %s min=%d by=%q peer=%s", p.Sound, p.Minutes, p.By, p.Peer)
			case store.SoundStopped:
				s += fmt.Sprintf("sound-stopped %s after=%v", p.Reason, p.Duration)
			case store.TalkStarted:
				s += fmt.Sprintf("talk-started by=%q peer=%s", p.By, p.Peer)
			case store.TalkEnded:
				s += fmt.Sprintf("talk-ended %s after=%v", p.Reason, p.Duration)
			default:
				s += fmt.Sprintf("%T", p)
			}
			out = append(out, s)
		case Compact:
			out = append(out, fmt.Sprintf("compact %d", e.Keep))
		case Trust:
			out = append(out, fmt.Sprintf("trust %s", connName(e.Conn)))
		case StartStatus:
			out = append(out, fmt.Sprintf("status %s", connName(e.Conn)))
		case EndPairing:
			out = append(out, fmt.Sprintf("end-pairing %s", connName(e.Conn)))
		case Advertise:
			out = append(out, fmt.Sprintf("mdns pairing=%v", e.PairingOpen))
		case LED:
			s := "led " + hw.PatternFor(e.State).Name
			if e.State.Faults != 0 {
				s += " faults=" + e.State.Faults.String()
			}
			out = append(out, s)
		case Alert:
			out = append(out, "alert")
		case RenewCode:
			out = append(out, "renew-code")
		case EndDevice:
			if e.All {
				out = append(out, "end-devices")
			} else {
				out = append(out, "end-device "+e.ID)
			}
		case Answer:
			out = append(out, fmt.Sprintf("answer %s %s %s", connName(e.Conn), e.Session, e.Kind))
		case StopSession:
			out = append(out, fmt.Sprintf("stop-session %s %s", connName(e.Conn), e.Session))
		case Pumps:
			s := "pumps off"
			switch {
			case e.Audio && e.Video:
				s = "pumps a+v"
			case e.Audio:
				s = "pumps a"
			case e.Video:
				s = "pumps v"
			}
			out = append(out, s)
		case KeyFrame:
			out = append(out, "keyframe")
		case AddCandidate:
			out = append(out, fmt.Sprintf("add-candidate %s %s", connName(e.Conn), e.ICE.Session))
		case SendInfo:
			out = append(out, fmt.Sprintf("send-info %s", connName(e.Conn)))
		case SoundPlay:
			out = append(out, fmt.Sprintf("speaker play %d %s", e.Gen, e.Sound))
		case SoundFade:
			out = append(out, fmt.Sprintf("speaker fade %d over=%v", e.Gen, e.D))
		case SoundHalt:
			out = append(out, fmt.Sprintf("speaker halt %d", e.Gen))
		case TalkPlay:
			out = append(out, fmt.Sprintf("talk play %d %s %s", e.Gen, connName(e.Conn), e.Session))
		case TalkHalt:
			out = append(out, fmt.Sprintf("talk halt %d", e.Gen))
		default:
			out = append(out, fmt.Sprintf("unknown %T", e))
		}
	}
	var ce *control.Error
	switch {
	case err == nil:
	case errors.As(err, &ce):
		out = append(out, "err="+ce.Code.String())
	case errors.Is(err, pairing.ErrWindowDuration):
		out = append(out, "err=duration")
	default:
		out = append(out, "err=?"+err.Error())
	}
	return strings.Join(out, "; ")
}

// cstep is one line of a core script: at a time since t0, an event (op),
// and the effects and error it must give (want, as fmtCore prints them).
type cstep struct {
	at   time.Duration
	op   string
	want string
}

// parseOp builds the event of a script line:
//
//	accept C P [trusted] [from=ADDR] (ADDR defaults to 192.0.2.P)
//	page pageN DEVICE|-   (an in-process connection, for DEVICE or the page host;
//	                       pageN names it in every op, as connName does)
//	close C [revoked|idle|going_away|eof]
//	pair C [NAME]   pair-abort C   confirm C ok|bad   pair-open C [DUR]   pair-close C
//	store trusted P|revoked P|reset
//	tick   open [DUR]   close-window   short   long
//	media [nomic]  health [store-bad] [no-net]
//	start C S audio|av|KIND (S "-": empty)   offer C S   stop C S
//	ended C S [REASON]   answer-failed C S   info C   ice C S   talk-failed GEN
//	sound C NAME [MINUTES]   sound-stop C   sound-failed GEN   shutdown
func parseOp(t *testing.T, op string, now time.Time) Event {
	t.Helper()
	f := strings.Fields(op)
	num := func(i int) uint64 {
		var n uint64
		if _, err := fmt.Sscan(strings.TrimPrefix(f[i], "page"), &n); err != nil {
			t.Fatalf("%q: %v", op, err)
		}
		if strings.HasPrefix(f[i], "page") { // an in-process connection (connName)
			n |= localConnBit
		}
		return n
	}
	has := func(w string) bool {
		for _, x := range f[1:] {
			if x == w {
				return true
			}
		}
		return false
	}
	switch f[0] {
	case "accept":
		remote := fmt.Sprintf("192.0.2.%d:4433", num(2))
		for _, x := range f[3:] {
			if a, ok := strings.CutPrefix(x, "from="); ok {
				remote = a + ":4433"
			}
		}
		return ConnAccepted{At: now, Conn: num(1), Peer: pfp(byte(num(2))), Remote: remote, Trusted: has("trusted")}
	case "page":
		dev, remote := f[2], "page:"+f[2]
		if dev == "-" {
			dev, remote = "", "page"
		}
		return ConnAccepted{At: now, Conn: num(1), Remote: remote, Trusted: true, Device: dev}
	case "close":
		var err error
		switch {
		case has("revoked"):
			err = &control.Error{Code: control.CodeRevoked}
		case has("idle"):
			err = &control.Error{Code: control.CodeIdleTimeout, Remote: true}
		case has("going_away"):
			err = &control.Error{Code: control.CodeGoingAway}
		case has("eof"):
			err = errors.New("EOF")
		default:
			err = transport.ErrClosed
		}
		return ConnClosed{At: now, Conn: num(1), Reason: closeReason(err)}
	case "pair":
		name := "phone"
		if len(f) > 2 {
			name = strings.Join(f[2:], " ")
		}
		return PairStart{At: now, Conn: num(1), Name: name}
	case "pair-abort":
		return PairAborted{At: now, Conn: num(1)}
	case "pair-open":
		var d time.Duration
		if len(f) > 2 {
			d, _ = time.ParseDuration(f[2])
		}
		return PairOpen{At: now, Conn: num(1), D: d}
	case "pair-close":
		return PairClose{At: now, Conn: num(1)}
	case "confirm":
		return PairConfirmed{At: now, Conn: num(1), OK: has("ok")}
	case "store":
		switch f[1] {
		case "trusted":
			return StoreAppended{At: now, Payload: store.ListenerTrusted{Fingerprint: pfp(byte(num(2))), Name: "phone"}}
		case "revoked":
			return StoreAppended{At: now, Payload: store.ListenerRevoked{Fingerprint: pfp(byte(num(2)))}}
		case "reset":
			return StoreAppended{At: now, Payload: store.TrustReset{Reason: "test"}}
		}
	case "tick":
		return Tick{At: now}
	case "open":
		var d time.Duration
		if len(f) > 1 {
			d, _ = time.ParseDuration(f[1])
		}
		return OpenPairing{At: now, D: d}
	case "close-window":
		return ClosePairing{At: now}
	case "short":
		return Button{At: now, Event: hw.ShortPress}
	case "long":
		return Button{At: now, Event: hw.LongPress}
	case "media":
		return Media{NoMic: has("nomic")}
	case "start":
		session, kind := f[2], f[3]
		if session == "-" {
			session = ""
		}
		if kind == "av" {
			kind = control.StreamAudioVideo
		}
		return StreamStart{At: now, Conn: num(1), Session: session, Kind: kind, By: fmt.Sprint("L", num(1)), Peer: fmt.Sprint("D", num(1))}
	case "offer":
		return StreamOffer{Conn: num(1), Session: f[2], SDP: "v=0"}
	case "stop":
		return StreamStop{At: now, Conn: num(1), Session: f[2]}
	case "ended":
		reason := "failed"
		if len(f) > 3 {
			reason = f[3]
		}
		return StreamEnded{At: now, Conn: num(1), Session: f[2], Reason: reason}
	case "talk-failed":
		var gen uint64
		fmt.Sscan(f[1], &gen)
		return TalkFailed{At: now, Gen: gen}
	case "info":
		return InfoRequest{Conn: num(1)}
	case "ice":
		return StreamCandidate{Conn: num(1), ICE: control.WebRTCICE{Session: f[2]}}
	case "answer-failed":
		return AnswerFailed{At: now, Conn: num(1), Session: f[2]}
	case "health":
		return Health{StoreOK: !has("store-bad"), Network: !has("no-net")}
	case "sound":
		minutes := 0
		if len(f) > 3 {
			fmt.Sscan(f[3], &minutes)
		}
		return SoundStart{At: now, Conn: num(1), Sound: f[2], Minutes: minutes, By: fmt.Sprint("L", num(1)), Peer: fmt.Sprint("D", num(1))}
	case "sound-stop":
		return SoundStop{At: now, Conn: num(1)}
	case "sound-failed":
		return SoundFailed{At: now, Gen: num(1)}
	case "shutdown":
		return Shutdown{At: now}
	}
	t.Fatalf("unknown op %q", op)
	return nil
}

func newTestCore(cfg CoreConfig) *Core {
	if cfg.Name == "" {
		cfg.Name = "Nursery"
	}
	cfg.AutoStream = control.StreamAudio
	return NewCore(cfg)
}

func runCore(t *testing.T, c *Core, steps []cstep) {
	t.Helper()
	for i, s := range steps {
		got := fmtCore(c.Step(parseOp(t, s.op, t0.Add(s.at))))
		if got != s.want {
			t.Fatalf("step %d (+%v %s):\n got: %s\nwant: %s", i, s.at, s.op, got, s.want)
		}
	}
}

func TestCoreScripts(t *testing.T) {
	tests := []struct {
		name  string
		cfg   CoreConfig
		steps []cstep
	}{
		{"trusted connection: record, hello_ack first, status; closed with its reason", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{5 * time.Second, "close 1", "append closed c1 P1 reason=closed after=5s"},
			{6 * time.Second, "close 1", ""},
		}},
		{"close reasons", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "accept 2 1 trusted", "append opened c2 P1; send c2 hello_ack trusted=true pairing=false; send c2 sound_state playing=false no-speaker; send c2 talk_state no-speaker; status c2"},
			{0, "accept 3 1 trusted", "append opened c3 P1; send c3 hello_ack trusted=true pairing=false; send c3 sound_state playing=false no-speaker; send c3 talk_state no-speaker; status c3"},
			{0, "accept 4 1 trusted", "append opened c4 P1; send c4 hello_ack trusted=true pairing=false; send c4 sound_state playing=false no-speaker; send c4 talk_state no-speaker; status c4"},
			{time.Second, "close 1 revoked", "append closed c1 P1 reason=revoked after=1s"},
			{2 * time.Second, "close 2 idle", "append closed c2 P1 reason=idle_timeout after=2s"},
			{3 * time.Second, "close 3 going_away", "append closed c3 P1 reason=going_away after=3s"},
			{4 * time.Second, "close 4 eof", "append closed c4 P1 reason=EOF after=4s"},
		}},
		{"admission, window closed: a stranger is answered, closed, never recorded", CoreConfig{}, []cstep{
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=false; close c1 pairing_closed"},
			{0, "pair 1", "err=pairing_closed"},
			{time.Second, "close 1", ""},
			{time.Second, "tick", ""},
		}},
		{"admission, window open: two strangers, the oldest idle makes room; busy only when all pair", CoreConfig{MaxUntrusted: 2}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{time.Second, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{2 * time.Second, "accept 3 3", "send c3 hello_ack trusted=false pairing=true; close c1 busy"},
			{2 * time.Second, "close 1", ""},
			{2 * time.Second, "pair 2", ""},
			{2 * time.Second, "pair 3", ""},
			{3 * time.Second, "accept 4 4", "close c4 busy"},
			{3 * time.Second, "close 4", ""},
			{3 * time.Second, "accept 5 9 trusted", "append opened c5 P9; send c5 hello_ack trusted=true pairing=true; send c5 pairing_state open=true failed=0; send c5 sound_state playing=false no-speaker; send c5 talk_state no-speaker; status c5"},
		}},
		{"admission: the stranger quiet longest makes room, not one just answered", CoreConfig{MaxUntrusted: 2}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{time.Second, "pair 1", ""},
			{2 * time.Second, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{3 * time.Second, "confirm 1 bad", "end-pairing c1; send c1 error pairing_failed; append attempt-failed P1; alert; err=pairing_failed"},
			{4 * time.Second, "accept 3 3", "send c3 hello_ack trusted=false pairing=true; close c2 busy"},
		}},
		{"admission: two strangers per address, the older one makes room", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1 from=10.0.0.5", "send c1 hello_ack trusted=false pairing=true"},
			{time.Second, "accept 2 2 from=10.0.0.5", "send c2 hello_ack trusted=false pairing=true"},
			{time.Second, "accept 3 3 from=10.0.0.6", "send c3 hello_ack trusted=false pairing=true"},
			{2 * time.Second, "accept 4 4 from=10.0.0.5", "send c4 hello_ack trusted=false pairing=true; close c1 busy"},
			{2 * time.Second, "pair 2", ""},
			{2 * time.Second, "pair 4", "err=busy"}, // one session per address
			{2 * time.Second, "accept 5 5 from=10.0.0.5", "send c5 hello_ack trusted=false pairing=true; close c4 busy"},
		}},
		{"an unpaired connection is served 30 s unless pairing; the window's close ends the idle ones", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{10 * time.Second, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{25 * time.Second, "pair 1", ""},
			{30 * time.Second, "tick", ""},
			{35 * time.Second, "tick", "end-pairing c1; send c1 error pairing_failed; close c1 pairing_closed"},
			{35 * time.Second, "tick", ""},
			{40 * time.Second, "tick", "close c2 pairing_closed"},
			{40 * time.Second, "tick", ""},
			{41 * time.Second, "accept 3 3", "send c3 hello_ack trusted=false pairing=true"},
			{42 * time.Second, "close-window", "mdns pairing=false; append window-closed manual; close c3 pairing_closed"},
		}},
		{"pairing: window, session, trust durable before the listener is told", CoreConfig{LED: true}, []cstep{
			{0, "health", "led ready"},
			{0, "accept 9 9 trusted", "append opened c9 P9; send c9 hello_ack trusted=true pairing=false; send c9 sound_state playing=false no-speaker; send c9 talk_state no-speaker; status c9"},
			{time.Second, "short", "mdns pairing=true; append window-opened for=3m0s; send c9 pairing_state open=true failed=0; led pairing"},
			{2 * time.Second, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{2 * time.Second, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{3 * time.Second, "pair 1", ""},
			{3 * time.Second, "pair 1", "err=protocol_error"},
			{5 * time.Second, "confirm 1 ok", "end-pairing c1; append! trusted P1 \"phone\"; append opened c1 P1; trust c1; send c1 pair_done; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1; mdns pairing=false; append window-closed success; close c2 pairing_closed; send c1 pairing_state open=false failed=0 closed=success; send c9 pairing_state open=false failed=0 closed=success; led ready"},
			{6 * time.Second, "store trusted 1", ""},
			{7 * time.Second, "confirm 1 ok", "err=protocol_error"},
			{8 * time.Second, "close 1", "append closed c1 P1 reason=closed after=6s"},
		}},
		{"pairing failures: only a wrong code counts; the parents are told", CoreConfig{}, []cstep{
			{0, "accept 9 9 trusted", "append opened c9 P9; send c9 hello_ack trusted=true pairing=false; send c9 sound_state playing=false no-speaker; send c9 talk_state no-speaker; status c9"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c9 pairing_state open=true failed=0"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "confirm 1 bad", "err=protocol_error"},
			{0, "pair 1", ""},
			{time.Second, "confirm 1 bad", "end-pairing c1; send c1 error pairing_failed; append attempt-failed P1; alert; send c9 pairing_state open=true failed=1; err=pairing_failed"},
			{2 * time.Second, "pair 1", ""},
			{2 * time.Second, "pair-abort 1", "end-pairing c1"},
			{3 * time.Second, "pair 1", ""},
			{4 * time.Second, "close 1 eof", ""},
			{5 * time.Second, "pair 2", "err=protocol_error"},
		}},
		{"listener names are checked before the window", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "pair 1 bad\x01name", "err=bad_request"},
			{0, "pair 1 " + strings.Repeat("x", MaxListenerName+1), "err=bad_request"},
			{0, "pair 1 Mum's phone", ""},
		}},
		{"session timeout ends the PAKE and tells the listener, uncounted; the window times out", CoreConfig{Window: pairing.WindowConfig{SessionTimeout: 10 * time.Second}}, []cstep{
			{0, "open 1m", "mdns pairing=true; append window-opened for=1m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "pair 1", ""},
			{10 * time.Second, "tick", "end-pairing c1; send c1 error pairing_failed"},
			{11 * time.Second, "confirm 1 ok", "err=protocol_error"},
			{30 * time.Second, "tick", "close c1 pairing_closed"},
			{time.Minute, "tick", "mdns pairing=false; append window-closed timeout"},
			{time.Minute, "tick", ""},
		}},
		{"a session that expires as it confirms is not trusted", CoreConfig{Window: pairing.WindowConfig{SessionTimeout: 10 * time.Second}}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "pair 1", ""},
			{10 * time.Second, "confirm 1 ok", "end-pairing c1; send c1 error pairing_failed; err=pairing_failed"},
		}},
		{"closing the window by hand cancels a session without a failure", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "pair 1", ""},
			{time.Second, "close-window", "end-pairing c1; send c1 error pairing_failed; mdns pairing=false; append window-closed manual; close c1 pairing_closed"},
			{time.Second, "close-window", ""},
		}},
		{"wrong codes close the window, nothing locks: the next window pairs", CoreConfig{Window: pairing.WindowConfig{MaxWindowFailures: 2}}, []cstep{
			{0, "accept 9 9 trusted", "append opened c9 P9; send c9 hello_ack trusted=true pairing=false; send c9 sound_state playing=false no-speaker; send c9 talk_state no-speaker; status c9"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c9 pairing_state open=true failed=0"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{0, "pair 1", ""},
			{0, "pair 2", ""},
			{0, "confirm 1 bad", "end-pairing c1; send c1 error pairing_failed; append attempt-failed P1; alert; send c9 pairing_state open=true failed=1; err=pairing_failed"},
			{0, "confirm 2 bad", "end-pairing c2; send c2 error pairing_failed; append attempt-failed P2; alert; mdns pairing=false; append window-closed too-many-failures; close c1 pairing_closed; close c2 pairing_closed; send c9 pairing_state open=false failed=2 closed=too-many-failures; err=pairing_failed"},
			{0, "accept 7 7 trusted", "append opened c7 P7; send c7 hello_ack trusted=true pairing=false; send c7 pairing_state open=false failed=2 closed=too-many-failures; send c7 sound_state playing=false no-speaker; send c7 talk_state no-speaker; status c7"},
			{0, "short", "mdns pairing=true; append window-opened for=3m0s; send c7 pairing_state open=true failed=0; send c9 pairing_state open=true failed=0"},
			{0, "store reset", "mdns pairing=false; append window-closed reset; send c7 pairing_state open=false failed=0 closed=reset; send c9 pairing_state open=false failed=0 closed=reset; renew-code; close c1 revoked; close c2 revoked; close c7 revoked; close c9 revoked; end-devices"},
			{time.Second, "short", "mdns pairing=true; append window-opened for=3m0s; send c7 pairing_state open=true failed=0; send c9 pairing_state open=true failed=0"},
		}},
		{"the only paired listener gets one answer to pair_open, not a notice too", CoreConfig{}, []cstep{
			{0, "accept 9 9 trusted", "append opened c9 P9; send c9 hello_ack trusted=true pairing=false; send c9 sound_state playing=false no-speaker; send c9 talk_state no-speaker; status c9"},
			{0, "pair-open 9 5m", "mdns pairing=true; append window-opened for=5m0s; send c9 pairing_state open=true failed=0 ref=pair_open"},
			{0, "pair-close 9", "mdns pairing=false; append window-closed manual; send c9 pairing_state open=false failed=0 closed=manual ref=pair_close"},
		}},
		{"a paired listener opens and closes pairing; a stranger cannot", CoreConfig{}, []cstep{
			{0, "accept 9 9 trusted", "append opened c9 P9; send c9 hello_ack trusted=true pairing=false; send c9 sound_state playing=false no-speaker; send c9 talk_state no-speaker; status c9"},
			{0, "accept 8 8 trusted", "append opened c8 P8; send c8 hello_ack trusted=true pairing=false; send c8 sound_state playing=false no-speaker; send c8 talk_state no-speaker; status c8"},
			{0, "pair-close 9", "send c9 pairing_state open=false failed=0 ref=pair_close"},
			{0, "pair-open 9 20m", "err=bad_request"},
			{0, "pair-open 9 5m", "mdns pairing=true; append window-opened for=5m0s; send c8 pairing_state open=true failed=0; send c9 pairing_state open=true failed=0 ref=pair_open"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "pair-open 1", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{time.Minute, "pair-open 8", "mdns pairing=true; append window-opened for=4m0s; send c8 pairing_state open=true failed=0 ref=pair_open; send c9 pairing_state open=true failed=0"},
			{time.Minute, "pair-close 8", "mdns pairing=false; append window-closed manual; close c1 pairing_closed; send c8 pairing_state open=false failed=0 closed=manual ref=pair_close; send c9 pairing_state open=false failed=0 closed=manual"},
		}},
		{"trust first: a stranger's trusted-only requests are refused by the core, whatever the transport let through", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "start 1 s audio", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "offer 1 s", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "ice 1 s", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "stop 1 s", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "info 1", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "pair-open 1", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "pair-close 1", "send c1 error untrusted; close c1 untrusted; err=untrusted"},
			{0, "accept 2 2 trusted", "append opened c2 P2; send c2 hello_ack trusted=true pairing=true; send c2 pairing_state open=true failed=0; send c2 sound_state playing=false no-speaker; send c2 talk_state no-speaker; status c2"},
			{0, "start 2 s audio", ""},
			{0, "offer 2 s", "pumps a; answer c2 s audio"},
			{0, "ice 2 s", "add-candidate c2 s"},
			{0, "info 2", "send-info c2"},
			{0, "close 1", ""},
			{0, "info 1", ""},
		}},
		{"a window longer than the maximum is refused", CoreConfig{}, []cstep{
			{0, "open 16m", "err=duration"},
			{0, "open 15m", "mdns pairing=true; append window-opened for=15m0s"},
		}},
		{"revocation closes that listener's live connections, reset closes all", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "accept 2 2 trusted", "append opened c2 P2; send c2 hello_ack trusted=true pairing=false; send c2 sound_state playing=false no-speaker; send c2 talk_state no-speaker; status c2"},
			{0, "accept 3 1 trusted", "append opened c3 P1; send c3 hello_ack trusted=true pairing=false; send c3 sound_state playing=false no-speaker; send c3 talk_state no-speaker; status c3"},
			{0, "store revoked 1", "close c1 revoked; close c3 revoked"},
			{0, "store revoked 7", ""},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c1 pairing_state open=true failed=0; send c2 pairing_state open=true failed=0; send c3 pairing_state open=true failed=0"},
			{0, "accept 4 4", "send c4 hello_ack trusted=false pairing=true"},
			{0, "store reset", "mdns pairing=false; append window-closed reset; close c4 pairing_closed; send c1 pairing_state open=false failed=0 closed=reset; send c2 pairing_state open=false failed=0 closed=reset; send c3 pairing_state open=false failed=0 closed=reset; renew-code; close c1 revoked; close c2 revoked; close c3 revoked; close c4 revoked; end-devices"},
		}},
		{"a listener paired elsewhere is trusted on its live connections, and recorded then", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{0, "store trusted 1", "append opened c1 P1; trust c1; status c1"},
			{0, "store trusted 1", ""},
			{time.Minute, "tick", "close c2 pairing_closed"},
			{time.Minute, "close 1", "append closed c1 P1 reason=closed after=1m0s"},
		}},
		{"the button: short opens, long resets", CoreConfig{}, []cstep{
			{0, "short", "mdns pairing=true; append window-opened for=3m0s"},
			{time.Minute, "short", "mdns pairing=true; append window-opened for=3m0s"},
			{time.Minute, "long", "append trust-reset"},
		}},
		{"the LED: faults, streaming, pairing; only changes", CoreConfig{LED: true}, []cstep{
			{0, "health", "led ready"},
			{0, "health", ""},
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "start 1 s audio", ""},
			{0, "offer 1 s", "pumps a; led streaming; answer c1 s audio"},
			{0, "offer 1 s", "answer c1 s audio"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c1 pairing_state open=true failed=0; led pairing"},
			{0, "close-window", "mdns pairing=false; append window-closed manual; send c1 pairing_state open=false failed=0 closed=manual; led streaming"},
			{0, "media nomic", "led error:microphone faults=microphone"},
			{0, "stop 1 s", "stop-session c1 s; pumps off; led error:microphone faults=microphone"},
			{0, "health store-bad", "led error:microphone faults=microphone+store"},
			{0, "media", "led error:store faults=store"},
			{0, "health no-net", "led error:network faults=network"},
			{0, "health", "led ready"},
		}},
		{"no device: no LED effects", CoreConfig{}, []cstep{
			{0, "health store-bad", ""},
			{0, "media nomic", ""},
		}},
		{"compaction every KeepConnections closes", CoreConfig{KeepConnections: 2}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "accept 2 1 trusted", "append opened c2 P1; send c2 hello_ack trusted=true pairing=false; send c2 sound_state playing=false no-speaker; send c2 talk_state no-speaker; status c2"},
			{0, "accept 3 1 trusted", "append opened c3 P1; send c3 hello_ack trusted=true pairing=false; send c3 sound_state playing=false no-speaker; send c3 talk_state no-speaker; status c3"},
			{0, "close 1", "append closed c1 P1 reason=closed after=0s"},
			{0, "close 2", "append closed c2 P1 reason=closed after=0s; compact 2"},
			{0, "close 3", "append closed c3 P1 reason=closed after=0s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCore(t, newTestCore(tt.cfg), tt.steps)
		})
	}
}

// TestCoreStatus: the status carries the microphone's part as given and
// the counts: trusted connections (not strangers), audio streams.
func TestCoreStatus(t *testing.T) {
	c := newTestCore(CoreConfig{})
	base := control.Status{RMSDBFS: -30, PeakDBFS: -20, Faults: []string{control.FaultMicrophone}}
	check := func(listeners, streaming int) {
		t.Helper()
		st := c.Status(base)
		if st.Listeners != listeners || st.Streaming != streaming || st.RMSDBFS != -30 || len(st.Faults) != 1 {
			t.Fatalf("status %+v, want listeners=%d streaming=%d and the base", st, listeners, streaming)
		}
	}
	check(0, 0)
	c.Step(ConnAccepted{At: t0, Conn: 1, Peer: pfp(1), Trusted: true})
	c.Step(ConnAccepted{At: t0, Conn: 2, Peer: pfp(2)})
	check(1, 0)
	c.Step(StreamStart{Conn: 1, Session: "a", Kind: control.StreamAudio})
	c.Step(StreamStart{Conn: 1, Session: "b", Kind: control.StreamAudioVideo})
	c.Step(StreamOffer{Conn: 1, Session: "a"})
	c.Step(StreamOffer{Conn: 1, Session: "b"})
	check(1, 2)
	c.Step(StoreAppended{At: t0, Payload: store.ListenerTrusted{Fingerprint: pfp(2)}})
	check(2, 2)
	c.Step(StreamStart{Conn: 2, Session: "a", Kind: control.StreamAudio})
	c.Step(StreamOffer{Conn: 2, Session: "a"})
	check(2, 3)
	c.Step(ConnClosed{At: t0, Conn: 1})
	check(1, 1)
	c.Step(StreamStop{Conn: 2, Session: "a"})
	check(1, 0)
}

// TestCoreAttemptNamesThePeer: a wrong code is recorded with the
// listener's fingerprint; a session dropped with its connection is not
// recorded at all (it was no guess), nor is the stranger.
func TestCoreAttemptNamesThePeer(t *testing.T) {
	c := newTestCore(CoreConfig{})
	c.Step(OpenPairing{At: t0})
	c.Step(ConnAccepted{At: t0, Conn: 5, Peer: pfp(7), Remote: "192.0.2.7:1"})
	c.Step(PairStart{At: t0, Conn: 5, Name: "x"})
	eff, _ := c.Step(PairConfirmed{At: t0, Conn: 5})
	var found bool
	for _, e := range eff {
		if a, ok := e.(Append); ok {
			p, ok := a.Payload.(store.PairingAttemptFailed)
			found = ok && p.Peer == pfp(7) && p.Reason == "wrong setup code or relayed session"
		}
	}
	if !found {
		t.Fatalf("a wrong code: %v", fmtCore(eff, nil))
	}
	c.Step(PairStart{At: t0, Conn: 5, Name: "x"})
	eff, _ = c.Step(ConnClosed{At: t0.Add(time.Second), Conn: 5, Reason: "EOF"})
	for _, e := range eff {
		if _, ok := e.(Append); ok {
			t.Fatalf("a stranger's dropped session was recorded: %v", fmtCore(eff, nil))
		}
	}
}

func TestCoreStreamScripts(t *testing.T) {
	tests := []struct {
		name  string
		cfg   CoreConfig
		steps []cstep
	}{
		{"requests checked; two sessions per connection, three in all; shared pumps follow", CoreConfig{MaxStreams: 3}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "accept 2 2 trusted", "append opened c2 P2; send c2 hello_ack trusted=true pairing=false; send c2 sound_state playing=false no-speaker; send c2 talk_state no-speaker; status c2"},
			{0, "start 1 s1 video", "err=bad_request"},
			{0, "start 1 - audio", "err=bad_request"},
			{0, "start 1 " + strings.Repeat("x", 65) + " audio", "err=bad_request"},
			{0, "offer 1 s1", "err=bad_request"},
			{0, "start 1 s1 audio", ""},
			{0, "offer 1 s1", "pumps a; answer c1 s1 audio"},
			{0, "offer 1 s1", "answer c1 s1 audio"},
			{0, "start 1 s2 audio", ""},
			{0, "offer 1 s2", "answer c1 s2 audio"},
			{0, "start 1 s3 audio", ""},
			{0, "offer 1 s3", "err=busy"},
			{0, "offer 1 s2", "answer c1 s2 audio"},
			{0, "start 2 t1 av", ""},
			{0, "offer 2 t1", "pumps a+v; answer c2 t1 audio+video"},
			{0, "start 2 t2 av", ""},
			{0, "offer 2 t2", "err=busy"},
			{0, "stop 1 s1", "stop-session c1 s1"},
			{0, "stop 1 s1", "err=bad_request"},
			{0, "offer 1 s1", "err=bad_request"},
			{0, "offer 2 t2", "keyframe; answer c2 t2 audio+video"},
			{0, "stop 2 t1", "stop-session c2 t1"},
			{0, "stop 9 t1", "err=bad_request"},
			{time.Second, "close 2", "pumps a; append closed c2 P2 reason=closed after=1s"},
			{time.Second, "close 1", "pumps off; append closed c1 P1 reason=closed after=1s"},
		}},
		{"a session that ends on its own or is not answered frees its slot", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "start 1 v av", ""},
			{0, "start 1 a audio", ""},
			{0, "start 1 b audio", ""},
			{0, "start 1 c audio", ""},
			{0, "offer 1 a", "pumps a; answer c1 a audio"},
			{0, "offer 1 b", "answer c1 b audio"},
			{0, "offer 1 c", "err=busy"},
			{0, "ended 1 a", "send c1 stream_stop a"},
			{0, "offer 1 c", "answer c1 c audio"},
			{0, "answer-failed 1 c", ""},
			{0, "answer-failed 1 b", "pumps off"},
			{0, "ended 1 b", "send c1 stream_stop b"},
			{0, "ended 9 b", ""},
			{0, "offer 1 a", "pumps a; answer c1 a audio"},
			{0, "start 1 a av", ""},
			{0, "offer 1 a", "pumps a+v; answer c1 a audio+video"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runCore(t, newTestCore(tt.cfg), tt.steps)
		})
	}
}

// TestCoreStreamRequestLimit: at most maxStreamRequests stream_start
// sessions per connection, busy past it; a known one may be restarted.
func TestCoreStreamRequestLimit(t *testing.T) {
	steps := []cstep{{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"}}
	for i := range maxStreamRequests {
		steps = append(steps, cstep{0, fmt.Sprintf("start 1 s%d audio", i), ""})
	}
	steps = append(steps,
		cstep{0, "start 1 more audio", "err=busy"},
		cstep{0, "start 1 s0 av", ""},
		cstep{0, "stop 1 s1", "stop-session c1 s1"},
		cstep{0, "start 1 more audio", ""},
		cstep{0, "start 2 x audio", "err=protocol_error"},
	)
	runCore(t, newTestCore(CoreConfig{}), steps)
}

// TestCoreHelloAckForStrangers: a stranger's hello_ack names neither the
// room nor the auto-stream; a trusted listener's names both.
func TestCoreHelloAckForStrangers(t *testing.T) {
	c := NewCore(CoreConfig{Name: "Nursery", AutoStream: control.StreamAudio})
	ackOf := func(effs []Effect) control.HelloAck {
		for _, e := range effs {
			if s, ok := e.(Send); ok {
				if a, ok := s.Msg.(control.HelloAck); ok {
					return a
				}
			}
		}
		t.Fatalf("no hello_ack in %v", effs)
		return control.HelloAck{}
	}
	now := time.Unix(1000, 0)
	step := func(ev Event) []Effect {
		effs, err := c.Step(ev)
		if err != nil {
			t.Fatal(err)
		}
		return effs
	}
	if a := ackOf(step(ConnAccepted{At: now, Conn: 1, Trusted: false})); a.Name != "" || a.AutoStream != "" || a.Trusted {
		t.Fatalf("stranger's hello_ack %+v, want no name and no auto_stream", a)
	}
	if a := ackOf(step(ConnAccepted{At: now, Conn: 2, Trusted: true})); a.Name != "Nursery" || a.AutoStream != control.StreamAudio || !a.Trusted {
		t.Fatalf("trusted hello_ack %+v, want the name and auto_stream", a)
	}
}

// TestSourceOf: pairing's and admission's unit is the address without
// its port, an IPv4-mapped IPv6 address counted as the IPv4 one.
func TestSourceOf(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:48080":         "192.0.2.1",
		"[::ffff:192.0.2.1]:5353": "192.0.2.1",
		"[2001:db8::1]:443":       "2001:db8::1",
		"[fe80::1%eth0]:1":        "fe80::1%eth0",
		"phone.local:80":          "phone.local",
		"no port":                 "no port",
	} {
		if got := sourceOf(remote); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", remote, got, want)
		}
	}
}
