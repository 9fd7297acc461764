package cradlecli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media/play"
)

// talk is `cradle talk MONITOR [--output DEVICE|none] [--input DEVICE]`:
// push-to-talk from this computer's microphone to the monitor's speaker.
// It plays the nursery as cradle listen does (muted while talking, so the
// parent does not hear their own voice come back), talks at once, and
// stops on Enter, the end of stdin, or Ctrl-C.
func (e *env) talk(args []string) (runner, error) {
	fs := flag.NewFlagSet("talk", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	output := fs.String("output", "", "play the nursery on this output device (see cradle outputs); \"none\" plays nothing (default: the system's default output)")
	input := fs.String("input", "", "talk through this microphone (default: the system's default input)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up when the monitor does not answer within this long")
	target, err := parseTarget(fs, args)
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, usageError("talk needs a MONITOR (name, id or host:port)")
	}
	if fs.NArg() > 1 {
		return nil, usageError("talk takes one MONITOR")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ctx, stop := notifyContext(ctx)
		defer stop()
		var mu sync.Mutex
		say := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(e.stdout, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
		m, err := l.Resolve(target)
		if err != nil {
			return err
		}
		var player *play.Player
		if *output != outputNone {
			out, err := play.OpenDevice(*output)
			if err != nil {
				return fmt.Errorf("%w\n(to talk without hearing the nursery, pass --output none)", err)
			}
			if player, err = play.NewPlayer(out, play.Config{}); err != nil {
				out.Close()
				return err
			}
			defer player.Close()
		}
		mic, err := openInput(*input)
		if err != nil {
			return fmt.Errorf("no microphone to talk through: %w", err)
		}
		micClosed := sync.OnceFunc(func() { mic.Close() })
		defer micClosed()

		stream := listener.StreamAudio
		if player == nil {
			stream = listener.StreamOff
		}
		sess := l.Start(m, listener.SessionOptions{Stream: stream, Logger: e.cfg.Logger})
		defer sess.Close()
		sub := sess.Subscribe(listener.SubscribeOptions{PCM: player != nil})
		defer sub.Close()

		tk, err := startTalk(ctx, sess, m, mic, *timeout)
		if err != nil {
			return err
		}
		began := time.Now()
		say("talking to %s: press Enter to stop", m.Name)
		enter := make(chan struct{})
		if e.stdin != nil {
			go func() { // ends with stdin (a line or EOF), or with the process
				sc := bufio.NewScanner(e.stdin)
				sc.Scan()
				close(enter)
			}()
		}
		events := make(chan listener.Event, 64)
		evCtx, stopEvents := context.WithCancel(ctx)
		defer stopEvents()
		go func() {
			defer close(events)
			for {
				ev, err := sub.Next(evCtx)
				if err != nil {
					return
				}
				events <- ev
			}
		}()
		var talkErr error
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-enter:
				break loop
			case <-tk.Done():
				talkErr = tk.Err()
				if talkErr == nil {
					talkErr = fmt.Errorf("%s ended the talk", m.Name)
				}
				break loop
			case ev, ok := <-events:
				if !ok {
					break loop
				}
				switch ev := ev.(type) {
				case listener.PCMEvent:
					player.Write(ev.Frame)
				case listener.PresenceEvent:
					if ev.Presence != listener.Online {
						say("%s %s", ev.Monitor.Name, ev.Presence)
					}
				case listener.TalkEvent:
					if ev.State.Talking && !ev.State.You {
						say("%s talks to %s", ev.State.By, ev.Monitor.Name)
					}
				}
			}
		}
		stopTalk(tk, micClosed)
		stopEvents()
		say("stopped talking after %v", time.Since(began).Round(100*time.Millisecond))
		return talkErr
	}, nil
}

// openInput opens the microphone (a test's fake replaces it).
var openInput = play.OpenInput

// startTalk talks on sess once it is online, within timeout; a refusal is
// an error for the parent (busy: who talks; unavailable: no speaker).
func startTalk(ctx context.Context, sess *listener.Session, m listener.PairedMonitor, mic listener.TalkSource, timeout time.Duration) (*listener.Talk, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		tk, err := sess.Talk(ctx, listener.TalkOptions{Source: mic})
		switch {
		case err == nil:
			return tk, nil
		case errors.Is(err, control.ErrUnavailable):
			return nil, talkRefused{fmt.Sprintf("%s has no speaker to talk through: plug a USB speaker into the monitor, restart it (sudo systemctl restart cradled) and try again", m.Name), err}
		case errors.Is(err, control.ErrBusy):
			who := fmt.Sprintf("someone else is talking to %s", m.Name)
			var ce *control.Error
			if errors.As(err, &ce) && ce.Message != "" {
				who = ce.Message
			}
			return nil, talkRefused{who + ": try again when they stop", err}
		case !errors.Is(err, listener.ErrOffline):
			return nil, err
		}
		select {
		case <-ctx.Done():
			if serr := sess.Err(); serr != nil {
				return nil, serr
			}
			return nil, offlineError{name: m.Name, wait: timeout}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopTalk stops tk; a microphone that no longer delivers is closed so
// that the stop does not wait on it.
func stopTalk(tk *listener.Talk, closeMic func()) {
	done := make(chan struct{})
	go func() {
		tk.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		closeMic()
		<-done
	}
}

// talkRefused is the monitor's refusal of a talk, said for a parent; it
// wraps the monitor's error (for the exit status).
type talkRefused struct {
	msg string
	err error
}

func (r talkRefused) Error() string { return r.msg }
func (r talkRefused) Unwrap() error { return r.err }
