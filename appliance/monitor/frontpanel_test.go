package monitor

import (
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/hw"
)

// TestFrontPanelScripts runs the front panel as scripts: an op (the
// health, the microphone, or show with the window and the running
// sessions) and the LED effect it must give ("" when none).
//
//	health [store-bad] [no-net]   media [nomic]   show open|closed N
func TestFrontPanelScripts(t *testing.T) {
	tests := []struct {
		name   string
		device bool
		steps  []cstep
	}{
		{"only changes are shown; faults outrank the rest", true, []cstep{
			{0, "show closed 0", "led ready"},
			{0, "show closed 0", ""},
			{0, "show open 0", "led pairing"},
			{0, "show open 1", "led pairing"},
			{0, "show closed 1", "led streaming"},
			{0, "media nomic", ""},
			{0, "show closed 1", "led error:microphone faults=microphone"},
			{0, "health store-bad", ""},
			{0, "show closed 1", "led error:microphone faults=microphone+store"},
			{0, "media", ""},
			{0, "health no-net", ""},
			{0, "show closed 0", "led error:network faults=network"},
			{0, "health", ""},
			{0, "show closed 0", "led ready"},
		}},
		{"no device: nothing shown", false, []cstep{
			{0, "show open 2", ""},
			{0, "health store-bad", ""},
			{0, "show closed 0", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := frontPanel{device: tt.device}
			for i, st := range tt.steps {
				w := strings.Fields(st.op)
				has := func(x string) bool { return strings.Contains(st.op, x) }
				var eff []Effect
				switch w[0] {
				case "health":
					f.health(!has("store-bad"), !has("no-net"))
				case "media":
					f.media(has("nomic"))
				case "show":
					n := int(w[2][0] - '0')
					eff = f.show(nil, w[1] == "open", n)
				}
				if got := fmtCore(eff, nil); got != st.want {
					t.Fatalf("step %d (%s):\n got: %s\nwant: %s", i, st.op, got, st.want)
				}
			}
		})
	}
	var f frontPanel
	f.health(false, true)
	if st := f.state(true, 2); st != (hw.State{PairingOpen: true, Streaming: 2, Faults: hw.FaultStore}) {
		t.Fatalf("state %+v", st)
	}
}
