package cradlecli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/media/play"
)

// outputNone plays nothing: levels and the alarm banner only.
const outputNone = "none"

func (e *env) listen(args []string) (runner, error) {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	video := fs.Bool("video", false, "stream video too")
	record := fs.String("record", "", "write the audio to this Ogg/Opus file; with --video, the video too, next to it (the name without .ogg, plus .ivf)")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	output := fs.String("output", "", "play on this output device (see cradle outputs); \"none\" plays nothing (default: the system's default output)")
	volume := fs.Int("volume", 100, "nursery volume in percent, 0 to 200 (the alarm is always loud)")
	mute := fs.Bool("mute", false, "do not play the nursery: levels, noise chimes and the alarm only")
	vox := fs.Bool("vox", false, "stay silent until the baby makes noise, then play (the alarms still sound)")
	target, err := parseTarget(fs, args)
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, usageError("listen needs a MONITOR (name, id or host:port)")
	}
	if *volume < 0 || *volume > 200 {
		return nil, usageError("--volume takes 0 to 200 (percent)")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ctx, stop := notifyContext(ctx)
		defer stop()
		if *duration > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *duration)
			defer cancel()
		}
		var mu sync.Mutex
		say := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(e.stdout, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}

		var player *play.Player
		if *output != outputNone {
			out, err := play.OpenDevice(*output)
			if err != nil {
				return fmt.Errorf("%w\n(to listen without sound, pass --output none)", err)
			}
			player, err = play.NewPlayer(out, play.Config{Volume: float64(*volume) / 100, Mute: *mute, VOX: *vox})
			if err != nil {
				out.Close()
				return err
			}
			defer player.Close()
			mode := "playing"
			switch {
			case *mute:
				mode = "muted (levels, chimes and alarms only)"
			case *vox:
				mode = "playing when the baby makes noise (VOX)"
			}
			say("output: %s, %s", player.OutputName(), mode)
		}

		m, err := l.Resolve(target)
		if err != nil {
			return err
		}
		stream := listener.StreamAuto
		if *video {
			stream = listener.StreamAudioVideo
		}
		sess := l.Start(m, listener.SessionOptions{Stream: stream, Logger: e.cfg.Logger})
		defer sess.Close()
		sub := sess.Subscribe(listener.SubscribeOptions{Audio: true, Video: *record != "" && *video, PCM: player != nil})
		defer sub.Close()

		rec := &recordings{path: *record}
		defer rec.close()
		ackCtx, stopAck := context.WithCancel(ctx)
		var acks sync.WaitGroup
		acks.Go(func() { e.acknowledge(ackCtx, sess) })
		defer acks.Wait()
		defer stopAck()

		started := time.Now()
		var lastLevel time.Time
		var noise bool
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				break
			}
			switch ev := ev.(type) {
			case listener.PresenceEvent:
				extra := ""
				if ev.Err != nil {
					extra = " (" + ev.Err.Error() + ")"
				}
				say("%s %s at %s%s", ev.Monitor.Name, ev.Presence, ev.Address, extra)
			case listener.StreamEvent:
				switch ev.State {
				case listener.StreamConnected:
					say("stream connected (%s)", ev.Kind)
				case listener.StreamInterrupted:
					say("stream interrupted: restarting it")
				case listener.StreamFailed:
					say("stream failed: %v", ev.Err)
				}
			case listener.StatusEvent:
				st := ev.Status
				if time.Since(lastLevel) < time.Second && st.Noise == noise {
					continue
				}
				lastLevel, noise = time.Now(), st.Noise
				flag := ""
				if st.Noise {
					flag = " NOISE"
				}
				if len(st.Faults) > 0 {
					flag += " FAULT: " + strings.Join(st.Faults, ", ")
				}
				say("level %.1f dBFS (peak %.1f)%s", st.RMSDBFS, st.PeakDBFS, flag)
			case listener.MediaEvent:
				if ev.First {
					say("first audio %v after start", ev.Arrived.Sub(started).Round(time.Millisecond))
				}
				rec.write(ev, say)
			case listener.PCMEvent:
				player.Write(ev.Frame)
			case listener.AlarmEvent:
				if player != nil {
					player.SetAlarm(ev.State.Sounding)
				}
				say("%s", alarmBanner(ev))
			case listener.ChimeEvent:
				if player != nil {
					player.Chime()
				}
				say("noise in %s", ev.Monitor.Name)
			case listener.PairingEvent:
				say("%s", pairingLine(ev.Monitor.Name, ev.State))
			case listener.SoundEvent:
				if ev.State.Speaker {
					say("%s", soundLine(ev.Monitor.Name, ev.State))
				}
			}
		}
		runErr := sess.Close()
		if err := rec.close(); err != nil && runErr == nil {
			runErr = err
		}
		st := sess.Stats()
		say("stopped: %d audio packets (%d bytes), %d video packets", st.AudioPackets, st.AudioBytes, st.VideoPackets)
		return runErr
	}, nil
}

// alarmBanner is the terminal's line for an alarm change.
func alarmBanner(ev listener.AlarmEvent) string {
	st := ev.State
	switch {
	case !st.Active:
		return fmt.Sprintf("alarm cleared: %s can be heard again", ev.Monitor.Name)
	case st.Sounding:
		return fmt.Sprintf("!!! ALARM %s: %s since %s: press Enter to acknowledge", ev.Monitor.Name, strings.ToUpper(st.Reason.String()), st.Since.Format("15:04:05"))
	case st.Acknowledged:
		return fmt.Sprintf("alarm acknowledged (%s: %s); it sounds again if the baby still cannot be heard", ev.Monitor.Name, st.Reason)
	}
	return fmt.Sprintf("alarm %s: %s", ev.Monitor.Name, st.Reason)
}

// acknowledge turns a key press (a line on stdin) or SIGUSR1 (the
// service: systemctl kill -s USR1) into an acknowledgement.
func (e *env) acknowledge(ctx context.Context, sess *listener.Session) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	lines := make(chan struct{})
	if e.stdin != nil {
		go func() { // ends with stdin (EOF), or with the process
			sc := bufio.NewScanner(e.stdin)
			for sc.Scan() {
				select {
				case lines <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			sess.Ack()
		case <-lines:
			sess.Ack()
		}
	}
}

// recordings writes the stream to files with --record.
type recordings struct {
	path         string
	files        []*os.File
	audio, video *listener.Recorder
}

func (r *recordings) write(ev listener.MediaEvent, say func(string, ...any)) {
	if r.path == "" {
		return
	}
	rec := &r.audio
	path := r.path
	if ev.Video {
		rec = &r.video
		path = strings.TrimSuffix(r.path, ".ogg") + listener.RecordingExt(ev.Mime)
	}
	if *rec == nil {
		f, err := os.Create(path)
		if err != nil {
			say("cannot record: %v", err)
			r.path = ""
			return
		}
		r.files = append(r.files, f)
		if *rec, err = listener.NewRecorder(f, ev.Mime); err != nil {
			say("cannot record: %v", err)
			r.path = ""
			return
		}
	}
	_ = (*rec).Write(ev)
}

func (r *recordings) close() error {
	var errs []error
	for _, rec := range []*listener.Recorder{r.audio, r.video} {
		if rec != nil {
			errs = append(errs, rec.Close())
		}
	}
	r.audio, r.video = nil, nil
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}

// outputs lists the audio output devices that --output takes, one name
// per line as --output takes it (a line copied whole works), then which
// one is the default.
func (e *env) outputs() error {
	devs, err := play.ListDevices()
	if err != nil {
		return err
	}
	def := ""
	for _, d := range devs {
		fmt.Fprintln(e.stdout, d.Name)
		if d.Default && def == "" {
			def = d.Name
		}
	}
	switch {
	case len(devs) == 0:
		fmt.Fprintln(e.stdout, "No audio output device found.")
	case def != "":
		fmt.Fprintf(e.stdout, "(without --output: %s)\n", def)
	}
	return nil
}
