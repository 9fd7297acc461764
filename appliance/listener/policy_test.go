package listener

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
)

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	for n := range 12 {
		for _, j := range []float64{0, 0.5, 0.999} {
			d := b.Delay(n, j)
			if d <= 0 || d > b.Max {
				t.Fatalf("retry %d jitter %v: delay %v outside (0, %v]", n, j, d, b.Max)
			}
		}
	}
	if d := b.Delay(0, 0.5); d != b.Min {
		t.Fatalf("first delay %v, want %v at mid jitter", d, b.Min)
	}
	if d := b.Delay(3, 0.5); d != 8*b.Min {
		t.Fatalf("fourth delay %v, want %v", d, 8*b.Min)
	}
	if d := b.Delay(30, 0.5); d != b.Max*1 && d != b.Max {
		t.Fatalf("late delay %v, want the cap %v", d, b.Max)
	}
	if lo, hi := b.Delay(2, 0), b.Delay(2, 0.999); lo >= hi || lo < 3*b.Min || hi > 5*b.Min {
		t.Fatalf("jitter spread [%v, %v], want within ±25%% of %v", lo, hi, 4*b.Min)
	}
}

// TestPolicy replays scripts of outcomes through the reconnect policy and
// checks each decision.
func TestPolicy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	netErr := errors.New("no route")
	revoked := &control.Error{Code: control.CodeRevoked, Remote: true}
	untrusted := fmt.Errorf("dial: %w", control.ErrUntrusted)
	mismatch := fmt.Errorf("handshake: %w", control.ErrFingerprintMismatch)
	type step struct {
		o    Outcome
		err  error
		now  time.Time
		want Decision // DialAt relative: compared as given
	}
	pol := Policy{Backoff: Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}, Discovery: true}
	tests := []struct {
		name  string
		pol   Policy
		steps []step
	}{
		{"revoked while connected is final", pol, []step{
			{Connected, nil, ms(0), Decision{}},
			{Disconnected, revoked, ms(10), Decision{Stop: true, Err: revoked}},
		}},
		{"revoked at dial is final", pol, []step{
			{DialFailed, revoked, ms(0), Decision{Stop: true, Err: revoked}},
		}},
		{"untrusted is final", pol, []step{
			{DialFailed, untrusted, ms(0), Decision{Stop: true, Err: untrusted}},
		}},
		{"identity changed is final", pol, []step{
			{DialFailed, mismatch, ms(0), Decision{Stop: true, Err: mismatch}},
		}},
		{"a lost link is redialled at once", pol, []step{
			{Connected, nil, ms(0), Decision{}},
			{Disconnected, netErr, ms(500), Decision{DialAt: ms(500)}},
		}},
		{"backoff grows, with rediscovery after the second failure and every third", pol, []step{
			{DialFailed, netErr, ms(0), Decision{DialAt: ms(100)}},
			{DialFailed, netErr, ms(100), Decision{Rediscover: true, DialAt: ms(300)}},
			{DialFailed, netErr, ms(300), Decision{DialAt: ms(700)}},
			{DialFailed, netErr, ms(700), Decision{DialAt: ms(1500)}},
			{DialFailed, netErr, ms(1500), Decision{Rediscover: true, DialAt: ms(3100)}},
			{DialFailed, netErr, ms(3100), Decision{DialAt: ms(5100)}}, // capped at 2 s
		}},
		{"backoff resets after a success", pol, []step{
			{DialFailed, netErr, ms(0), Decision{DialAt: ms(100)}},
			{DialFailed, netErr, ms(100), Decision{Rediscover: true, DialAt: ms(300)}},
			{DialFailed, netErr, ms(300), Decision{DialAt: ms(700)}},
			{Connected, nil, ms(700), Decision{}},
			{Disconnected, netErr, ms(5000), Decision{DialAt: ms(5000)}},
			{DialFailed, netErr, ms(5000), Decision{DialAt: ms(5100)}},
			{DialFailed, netErr, ms(5100), Decision{Rediscover: true, DialAt: ms(5300)}},
		}},
		{"no rediscovery without discovery", Policy{Backoff: pol.Backoff}, []step{
			{DialFailed, netErr, ms(0), Decision{DialAt: ms(100)}},
			{DialFailed, netErr, ms(100), Decision{DialAt: ms(300)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Retry
			for i, s := range tt.steps {
				var d Decision
				r, d = tt.pol.Next(r, s.o, s.err, s.now, 0.5)
				if d.Stop != s.want.Stop || d.Err != s.want.Err || d.Rediscover != s.want.Rediscover || !d.DialAt.Equal(s.want.DialAt) {
					t.Fatalf("step %d (%s at +%v): got %+v, want %+v", i, s.o, s.now.Sub(t0), d, s.want)
				}
			}
		})
	}
}

// TestPolicyDefaults: a zero Policy backs off as DefaultBackoff does and
// looks the monitor up every third failure from the second, when
// discovery is on.
func TestPolicyDefaults(t *testing.T) {
	now := time.Unix(1000, 0)
	var r Retry
	var d Decision
	var rediscovered []int
	for n := 1; n <= 8; n++ {
		r, d = Policy{Discovery: true}.Next(r, DialFailed, errors.New("no route"), now, 0)
		if want := now.Add(DefaultBackoff.Delay(n-1, 0)); !d.DialAt.Equal(want) {
			t.Errorf("failure %d: dial at +%v, want +%v", n, d.DialAt.Sub(now), want.Sub(now))
		}
		if d.Rediscover {
			rediscovered = append(rediscovered, n)
		}
	}
	if fmt.Sprint(rediscovered) != "[2 5 8]" {
		t.Errorf("rediscovered after failures %v, want [2 5 8]", rediscovered)
	}
}
