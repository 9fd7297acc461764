package play

import (
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/media"
)

// TestVoxGate feeds 10 ms frames, loud ('L', -10 dBFS) or quiet ('.',
// -60 dBFS), and checks the gate after each ('o' open, '-' closed).
func TestVoxGate(t *testing.T) {
	loud, quiet := tone10(0.3), tone10(0.001)
	tests := []struct {
		name string
		cfg  media.VoxConfig
		in   string
		want string
	}{
		{"quiet stays closed", media.VoxConfig{}, "..........", "----------"},
		{"40 ms is too short", media.VoxConfig{}, "LLLL......", "----------"},
		{"opens after 50 ms", media.VoxConfig{}, "LLLLLLLL", "-----ooo"},
		{"a gap restarts the attack", media.VoxConfig{}, "LLLL.LLLLLL", "----------o"},
		{"holds through a pause", media.VoxConfig{Hold: 50 * time.Millisecond}, "LLLLLL....LL", "-----ooooooo"},
		{"closes after hold", media.VoxConfig{Hold: 50 * time.Millisecond}, "LLLLLL.......", "-----oooooo--"},
		{"threshold", media.VoxConfig{ThresholdDBFS: -5}, "LLLLLLLL", "--------"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewVoxGate(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for i, c := range tt.in {
				pcm := quiet
				if c == 'L' {
					pcm = loud
				}
				open := g.Update(pcm, t0.Add(time.Duration(i)*10*time.Millisecond))
				if open != g.Open() {
					t.Fatal("Update and Open disagree")
				}
				if open {
					got.WriteByte('o')
				} else {
					got.WriteByte('-')
				}
			}
			if got.String() != tt.want {
				t.Errorf("in   %s\ngot  %s\nwant %s", tt.in, got.String(), tt.want)
			}
		})
	}
}

func TestVoxGateDefaultHold(t *testing.T) {
	g, err := NewVoxGate(media.VoxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	at := t0
	for range 6 {
		g.Update(tone10(0.3), at)
		at = at.Add(10 * time.Millisecond)
	}
	quietFrom := at
	for g.Open() {
		g.Update(tone10(0), at)
		at = at.Add(10 * time.Millisecond)
	}
	if held := at.Sub(quietFrom); held < DefaultVoxHold || held > DefaultVoxHold+20*time.Millisecond {
		t.Errorf("held open %v after the sound, want %v", held, DefaultVoxHold)
	}
}

func TestVoxGateRejectsBadConfig(t *testing.T) {
	if _, err := NewVoxGate(media.VoxConfig{ThresholdDBFS: 3}); err == nil {
		t.Error("a threshold over 0 dBFS was accepted")
	}
}

func tone10(amplitude float64) []int16 { return frame10(0, amplitude).PCM }
