package cradlecli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
)

// sound is `cradle sound MONITOR white|pink|brown|heartbeat|lullaby
// [--for D]` and `cradle sound MONITOR stop`: a paired listener plays a
// soothing sound on the monitor's speaker, or stops it.
func (e *env) sound(args []string) (runner, error) {
	fs := flag.NewFlagSet("sound", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	d := fs.Duration("for", 0, "how long the sound plays: 15m, 30m or 1h (default: until stopped); it fades out over its last 10 s")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	what := "white|pink|brown|heartbeat|lullaby|stop"
	if len(pos) != 2 {
		return nil, usageError("sound needs a MONITOR (name, id or host:port), then " + what)
	}
	target, sound := pos[0], pos[1]
	if sound != "stop" && !slices.Contains(control.Sounds, sound) {
		return nil, usageError(fmt.Sprintf("sound: %q is not one of %s", sound, strings.ReplaceAll(what, "|", ", ")))
	}
	minutes := int(*d / time.Minute)
	if *d%time.Minute != 0 || !slices.Contains(control.SoundMinutes, minutes) {
		return nil, usageError(fmt.Sprintf("sound --for %v: 15m, 30m or 1h (or none: until stopped)", *d))
	}
	if sound == "stop" && *d != 0 {
		return nil, usageError("sound stop takes no --for")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		m, err := l.Resolve(target)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		sess, err := onlineSession(ctx, l, m, e, *timeout)
		if err != nil {
			return err
		}
		defer sess.Close()
		var st control.SoundState
		if sound == "stop" {
			st, err = sess.StopSound(ctx)
		} else {
			st, err = sess.StartSound(ctx, sound, minutes)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, soundLine(m.Name, st))
		return nil
	}, nil
}

// onlineSession starts a session with m and waits until it is online.
func onlineSession(ctx context.Context, l *listener.Listener, m listener.PairedMonitor, e *env, timeout time.Duration) (*listener.Session, error) {
	sess := l.Start(m, listener.SessionOptions{Stream: listener.StreamOff, Logger: e.cfg.Logger})
	sub := sess.Subscribe(listener.SubscribeOptions{})
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			serr := sess.Err()
			sess.Close()
			if serr != nil {
				return nil, serr
			}
			return nil, fmt.Errorf("%s did not answer in %v: is it on and on the same network?", m.Name, timeout)
		}
		if p, ok := ev.(listener.PresenceEvent); ok && p.Presence == listener.Online {
			return sess, nil
		}
	}
}

// soundLine says what the monitor's speaker does, for the parent.
func soundLine(name string, st control.SoundState) string {
	switch {
	case !st.Speaker:
		return fmt.Sprintf("%s has no speaker: plug a USB speaker into the monitor and restart it", name)
	case !st.Playing:
		return fmt.Sprintf("%s: no soothing sound playing", name)
	}
	s := fmt.Sprintf("%s: %s playing", name, soundName(st.Sound))
	if st.RemainingMillis > 0 {
		s += fmt.Sprintf(" for %v more", (time.Duration(st.RemainingMillis) * time.Millisecond).Round(time.Second))
	} else {
		s += " until stopped"
	}
	if st.Fading {
		s += ", fading out"
	}
	if st.By != "" {
		s += fmt.Sprintf(" (started by %s)", control.Truncate(st.By, 64))
	}
	return s
}

func soundName(s string) string {
	switch s {
	case control.SoundWhite, control.SoundPink, control.SoundBrown:
		return s + " noise"
	case control.SoundHeartbeat:
		return "the heartbeat"
	case control.SoundLullaby:
		return "the lullaby"
	}
	return control.Truncate(s, 32)
}
