package hw_test

import (
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/hw"
)

func TestPatternForPriority(t *testing.T) {
	all := hw.FaultMicrophone | hw.FaultStore | hw.FaultNetwork
	tests := []struct {
		name  string
		state hw.State
		want  string
	}{
		{"zero state is ready", hw.State{}, "ready"},
		{"booting", hw.State{Booting: true}, "booting"},
		{"streaming", hw.State{Streaming: 1}, "streaming"},
		{"streaming to three", hw.State{Streaming: 3}, "streaming"},
		{"pairing", hw.State{PairingOpen: true}, "pairing"},
		{"microphone", hw.State{Faults: hw.FaultMicrophone}, "error:microphone"},
		{"store", hw.State{Faults: hw.FaultStore}, "error:store"},
		{"network", hw.State{Faults: hw.FaultNetwork}, "error:network"},
		{"reset", hw.State{ResetArmed: true}, "reset"},
		{"booting beats streaming", hw.State{Booting: true, Streaming: 2}, "booting"},
		{"pairing beats booting and streaming", hw.State{Booting: true, PairingOpen: true, Streaming: 1}, "pairing"},
		{"error beats pairing", hw.State{PairingOpen: true, Faults: hw.FaultNetwork}, "error:network"},
		{"lowest fault code shows", hw.State{Faults: hw.FaultNetwork | hw.FaultStore}, "error:store"},
		{"wipe", hw.State{WipeArmed: true, ResetArmed: true, Faults: all}, "wipe"},
		{"reset beats errors", hw.State{ResetArmed: true, Faults: all, PairingOpen: true, Booting: true, Streaming: 1}, "reset"},
		{"unknown fault bit still an error", hw.State{Faults: 1 << 6}, "error:fault7"},
	}
	for _, tt := range tests {
		if got := hw.PatternFor(tt.state).Name; got != tt.want {
			t.Errorf("%s: PatternFor(%+v) = %q, want %q", tt.name, tt.state, got, tt.want)
		}
	}
}

func TestErrorPatternBlinkCodes(t *testing.T) {
	for _, tt := range []struct {
		f     hw.Fault
		code  int
		blink int
	}{{hw.FaultMicrophone, 1, 1}, {hw.FaultStore, 2, 2}, {hw.FaultNetwork, 3, 3}, {hw.FaultNetwork | hw.FaultMicrophone, 1, 1}} {
		if got := tt.f.Code(); got != tt.code {
			t.Errorf("%v.Code() = %d, want %d", tt.f, got, tt.code)
		}
		p := hw.PatternFor(hw.State{Faults: tt.f})
		if blinks := countBlinks(p); blinks != tt.blink {
			t.Errorf("%v: %d blinks per cycle, want %d", tt.f, blinks, tt.blink)
		}
		if p.Period() != time.Duration(tt.blink)*500*time.Millisecond+1500*time.Millisecond {
			t.Errorf("%v: period %v", tt.f, p.Period())
		}
	}
}

// countBlinks counts rising edges in one period, walking with NextChange.
func countBlinks(p hw.Pattern) int {
	n, at := 0, time.Duration(0)
	if p.LevelAt(0) {
		n++
	}
	for {
		d := p.NextChange(at)
		if d == 0 || at+d >= p.Period() {
			return n
		}
		at += d
		if p.LevelAt(at) {
			n++
		}
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[hw.Fault]string{
		0: "none", hw.FaultMicrophone: "microphone", hw.FaultStore | hw.FaultNetwork: "store+network", 1 << 7: "fault8",
	} {
		if got := f.String(); got != want {
			t.Errorf("Fault(%d).String() = %q, want %q", uint8(f), got, want)
		}
	}
	if !(hw.FaultStore | hw.FaultNetwork).Has(hw.FaultNetwork) || hw.FaultStore.Has(hw.FaultNetwork) {
		t.Error("Has is wrong")
	}
}

func TestPatternLevelAt(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		p    hw.Pattern
		at   int
		lit  bool
		next int
	}{
		{hw.PatternPairing, 0, true, 500},
		{hw.PatternPairing, 499, true, 1},
		{hw.PatternPairing, 500, false, 500},
		{hw.PatternPairing, 1000, true, 500},
		{hw.PatternPairing, 10_250, true, 250},
		{hw.PatternReady, 0, true, 100},
		{hw.PatternReady, 100, false, 2900},
		{hw.PatternReady, 3050, true, 50},
		{hw.PatternStreaming, 0, true, 0},
		{hw.PatternStreaming, 1 << 30, true, 0},
		{hw.PatternOff, 5, false, 0},
		{hw.PatternBooting, -5, true, 125},
		{hw.Pattern{Name: "zero dark step", Cycle: []time.Duration{ms(100), 0}}, 50, true, 0},
		{hw.Pattern{Name: "odd", Cycle: []time.Duration{ms(100), ms(100), ms(100)}}, 250, true, 150},
		{hw.Pattern{Name: "zero lit step", Cycle: []time.Duration{0, ms(100), ms(50), ms(50)}}, 0, false, 100},
		{hw.Pattern{Name: "zero lit step", Cycle: []time.Duration{0, ms(100), ms(50), ms(50)}}, 160, false, 140},
	}
	for _, tt := range tests {
		if got := tt.p.LevelAt(ms(tt.at)); got != tt.lit {
			t.Errorf("%s.LevelAt(%dms) = %t, want %t", tt.p, tt.at, got, tt.lit)
		}
		if got := tt.p.NextChange(ms(tt.at)); got != ms(tt.next) {
			t.Errorf("%s.NextChange(%dms) = %v, want %dms", tt.p, tt.at, got, tt.next)
		}
	}
}

// TestPatternNextChangeAgreesWithLevelAt checks, for every pattern, that the
// level is constant up to NextChange and flips there.
func TestPatternNextChangeAgreesWithLevelAt(t *testing.T) {
	patterns := []hw.Pattern{hw.PatternBooting, hw.PatternReady, hw.PatternPairing, hw.PatternResetArmed, hw.PatternWipe,
		hw.ErrorPattern(1), hw.ErrorPattern(2), hw.ErrorPattern(3)}
	for _, p := range patterns {
		for at := time.Duration(0); at < 2*p.Period(); at += 7 * time.Millisecond {
			lit, d := p.LevelAt(at), p.NextChange(at)
			if d <= 0 {
				t.Fatalf("%s: NextChange(%v) = %v for a blinking pattern", p, at, d)
			}
			if p.LevelAt(at+d-time.Nanosecond) != lit || p.LevelAt(at+d) == lit {
				t.Fatalf("%s: level at %v is %t, but NextChange = %v is not where it flips", p, at, lit, d)
			}
		}
	}
}

func TestPatternEqual(t *testing.T) {
	if !hw.PatternPairing.Equal(hw.PatternFor(hw.State{PairingOpen: true})) {
		t.Error("pairing pattern not equal to itself")
	}
	if hw.PatternPairing.Equal(hw.PatternBooting) || hw.ErrorPattern(1).Equal(hw.ErrorPattern(2)) {
		t.Error("different patterns equal")
	}
}
