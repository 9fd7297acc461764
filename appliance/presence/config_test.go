package presence

import (
	"errors"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Interval: MinInterval, Misses: MinMisses}, true},
		{Config{Interval: MaxInterval, Misses: MaxMisses}, true},
		{Config{Interval: MinInterval - 1}, false},
		{Config{Interval: MaxInterval + 1}, false},
		{Config{Interval: -time.Second}, false},
		{Config{Misses: MaxMisses + 1}, false},
		{Config{Misses: -1}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadConfig)) {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
}

func TestConfigDerived(t *testing.T) {
	def := Config{}
	if got := def.WithDefaults(); got != (Config{Interval: time.Second, Misses: 3}) {
		t.Errorf("WithDefaults() = %+v", got)
	}
	if got := def.DeadAfter(); got != 3250*time.Millisecond {
		t.Errorf("DeadAfter() = %v, want 3.25s", got)
	}
	if got := def.QUICIdleTimeout(); got <= def.DeadAfter() {
		t.Errorf("QUICIdleTimeout() = %v, must exceed DeadAfter %v", got, def.DeadAfter())
	}
	if got := def.KeepAlive(); got != time.Second {
		t.Errorf("KeepAlive() = %v, want 1s", got)
	}
	c := Config{Interval: 200 * time.Millisecond, Misses: 5}
	if got := c.DeadAfter(); got != 1050*time.Millisecond {
		t.Errorf("DeadAfter(%+v) = %v, want 1.05s", c, got)
	}
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("New with a bad config did not panic")
		}
	}()
	New(Config{Interval: time.Millisecond}, time.Time{})
}
