package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// parseWebOp builds the web devices' events of a script line, and
// leaves the others to parseOp:
//
//	web A [from=ADDR] [NAME...]  (ADDR defaults to 198.51.100.A, NAME to "Bedside phone")
//	code A ok|bad                (the shell's verdict; ok records device DA)
//	store device-revoked ID
func parseWebOp(t *testing.T, op string, now time.Time) Event {
	t.Helper()
	f := strings.Fields(op)
	num := func() uint64 {
		var n uint64
		if _, err := fmt.Sscan(f[1], &n); err != nil {
			t.Fatalf("%q: %v", op, err)
		}
		return n
	}
	switch {
	case f[0] == "web":
		ev := WebPairStart{At: now, Attempt: num(), Source: "198.51.100." + f[1], Name: "Bedside phone"}
		rest := f[2:]
		if len(rest) > 0 && strings.HasPrefix(rest[0], "from=") {
			ev.Source, rest = rest[0][len("from="):], rest[1:]
		}
		if len(rest) > 0 {
			ev.Name = strings.ReplaceAll(strings.Join(rest, " "), `\n`, "\n")
			if ev.Name == "-" {
				ev.Name = ""
			}
		}
		return ev
	case f[0] == "code":
		a := num()
		return WebPairChecked{At: now, Attempt: a, OK: f[2] == "ok",
			Device: store.DeviceTrusted{ID: fmt.Sprint("D", a), Name: "Bedside phone", CredentialHash: [32]byte{byte(a)}}}
	case f[0] == "store" && f[1] == "device-revoked":
		return StoreAppended{At: now, Payload: store.DeviceRevoked{ID: f[2]}}
	}
	return parseOp(t, op, now)
}

// fmtWeb is fmtCore with the web path's errors named.
func fmtWeb(effs []Effect, err error) string {
	names := []struct {
		err  error
		name string
	}{
		{ErrWrongCode, "wrong-code"}, {ErrDeviceName, "device-name"}, {pairing.ErrWindowClosed, "window-closed"},
		{pairing.ErrBusy, "busy"}, {pairing.ErrSourceLocked, "source-locked"}, {pairing.ErrNoSession, "no-session"},
	}
	for _, n := range names {
		if errors.Is(err, n.err) {
			s := fmtCore(effs, nil)
			if s != "" {
				s += "; "
			}
			return s + "err=" + n.name
		}
	}
	return fmtCore(effs, err)
}

func TestCoreWebPairingScripts(t *testing.T) {
	small := pairing.WindowConfig{MaxSourceFailures: 2, MaxWindowFailures: 4}
	tests := []struct {
		name  string
		cfg   CoreConfig
		steps []cstep
	}{
		{"window closed: refused before any code is looked at, nothing recorded", CoreConfig{}, []cstep{
			{0, "web 1", "err=window-closed"},
			{0, "code 1 bad", "err=no-session"},
			{0, "code 1 ok", "err=no-session"},
		}},
		{"admitted, then the right code: device-trusted (Must) first, then the window closes and listeners hear it", CoreConfig{}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c1 pairing_state open=true failed=0"},
			{0, "accept 2 2", "send c2 hello_ack trusted=false pairing=true"},
			{time.Second, "web 1", ""},
			// Only the trusted listener hears of the new device; the stranger's window is over.
			{time.Second, "code 1 ok", `append! device-trusted D1 "Bedside phone"; send c1 device_added; mdns pairing=false; append window-closed success; close c2 pairing_closed; send c1 pairing_state open=false failed=0 closed=success`},
			{2 * time.Second, "web 2", "err=window-closed"},
		}},
		{"a wrong code counts as a wrong PAKE confirmation: window, address, record, alert, notice", CoreConfig{Window: small}, []cstep{
			{0, "accept 1 1 trusted", "append opened c1 P1; send c1 hello_ack trusted=true pairing=false; send c1 sound_state playing=false no-speaker; send c1 talk_state no-speaker; status c1"},
			{0, "open", "mdns pairing=true; append window-opened for=3m0s; send c1 pairing_state open=true failed=0"},
			{time.Second, "web 1 from=203.0.113.9", ""},
			{time.Second, "code 1 bad", "append attempt-failed -; alert; send c1 pairing_state open=true failed=1; err=wrong-code"},
			{time.Second, "web 2 from=203.0.113.9", ""},
			{time.Second, "code 2 bad", "append attempt-failed -; alert; send c1 pairing_state open=true failed=2; err=wrong-code"},
			// That address's turn is over; the code is not even compared.
			{2 * time.Second, "web 3 from=203.0.113.9", "err=source-locked"},
			{2 * time.Second, "code 3 ok", "err=no-session"},
			// Another address still has its turn, and the parent's right code works.
			{3 * time.Second, "web 4 from=203.0.113.10", ""},
			{3 * time.Second, "code 4 ok", `append! device-trusted D4 "Bedside phone"; send c1 device_added; mdns pairing=false; append window-closed success; send c1 pairing_state open=false failed=2 closed=success`},
		}},
		{"web and PAKE wrong codes share the window's count and its limit", CoreConfig{Window: small}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "accept 1 1", "send c1 hello_ack trusted=false pairing=true"},
			{0, "pair 1", ""},
			{time.Second, "confirm 1 bad", "end-pairing c1; send c1 error pairing_failed; append attempt-failed P1; alert; err=pairing_failed"},
			{time.Second, "web 1", ""},
			{time.Second, "code 1 bad", "append attempt-failed -; alert; err=wrong-code"},
			{time.Second, "web 2", ""},
			{time.Second, "code 2 bad", "append attempt-failed -; alert; err=wrong-code"},
			{time.Second, "web 3", ""},
			{time.Second, "code 3 bad", "append attempt-failed -; alert; mdns pairing=false; append window-closed too-many-failures; close c1 pairing_closed; err=wrong-code"},
			{time.Second, "web 4", "err=window-closed"},
		}},
		{"one attempt per address at a time; a bad name is refused before the window, not counted", CoreConfig{}, []cstep{
			{0, "open", "mdns pairing=true; append window-opened for=3m0s"},
			{0, "web 1 - ", "err=device-name"},
			{0, `web 1 bad\nname`, "err=device-name"},
			{0, "web 1 " + strings.Repeat("x", store.MaxDeviceNameLen+1), "err=device-name"},
			{0, "web 1 from=203.0.113.9", ""},
			{0, "web 2 from=203.0.113.9", "err=busy"},
			{0, "code 1 bad", "append attempt-failed -; alert; err=wrong-code"},
			{0, "web 2 from=203.0.113.9", ""},
		}},
		{"an attempt that outlived its session is not counted, and the window then times out", CoreConfig{}, []cstep{
			{0, "open 1m", "mdns pairing=true; append window-opened for=1m0s"},
			{59 * time.Second, "web 1", ""},
			{70 * time.Second, "code 1 bad", "mdns pairing=false; append window-closed timeout; err=no-session"},
		}},
		{"revoked and reset devices lose their access", CoreConfig{}, []cstep{
			{0, "store device-revoked D1", "end-device D1"},
			{0, "store reset", "renew-code; end-devices"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runWebScript(t, tt.cfg, tt.steps) })
	}
}

// runWebScript steps a new core through steps (parseWebOp's ops), each
// step's effects and error written as fmtWeb writes them.
func runWebScript(t *testing.T, cfg CoreConfig, steps []cstep) {
	t.Helper()
	c := newTestCore(cfg)
	for i, s := range steps {
		got := fmtWeb(c.Step(parseWebOp(t, s.op, t0.Add(s.at))))
		if got != s.want {
			t.Fatalf("step %d (+%v %s):\n got: %s\nwant: %s", i, s.at, s.op, got, s.want)
		}
	}
}
