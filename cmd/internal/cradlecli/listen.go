package cradlecli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/rtc"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

func (e *env) listen(ctx context.Context, l *listener.Listener, args []string) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	video := fs.Bool("video", false, "stream video too")
	record := fs.String("record", "", "write the audio to this Ogg/Opus file (video next to it, .ivf)")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	target, err := parseTarget(fs, args)
	if err != nil {
		return err
	}
	if target == "" {
		return usageError("listen needs a MONITOR (name, id or host:port)")
	}
	m, err := l.Resolve(target)
	if err != nil {
		return err
	}
	ctx, stop := notifyContext(ctx)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	opt := listener.StreamOptions{Video: *video, FollowAuto: true, Logger: e.cfg.Logger}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if *record != "" {
		f, err := os.Create(*record)
		if err != nil {
			return err
		}
		files = append(files, f)
		opt.Audio = f
		if *video {
			vpath := strings.TrimSuffix(*record, ".ogg") + rtc.Ext("video/VP8")
			vf, err := os.Create(vpath)
			if err != nil {
				return err
			}
			files = append(files, vf)
			opt.VideoOut = vf
		}
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(e.stdout, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	started := time.Now()
	var lastLevel time.Time
	var noise bool
	opt.OnEvent = func(s string) { say("%s", s) }
	opt.OnFirstAudio = func(t time.Time) { say("first audio %v after start", t.Sub(started).Round(time.Millisecond)) }
	opt.OnStatus = func(st control.Status) {
		if time.Since(lastLevel) < time.Second && st.Noise == noise {
			return
		}
		lastLevel, noise = time.Now(), st.Noise
		flag := ""
		if st.Noise {
			flag = " NOISE"
		}
		say("level %.1f dBFS (peak %.1f)%s", st.RMSDBFS, st.PeakDBFS, flag)
	}
	streamer := listener.NewStreamer(opt)
	var streamErr error
	var errOnce sync.Once
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sess := l.NewSession(m, listener.SessionOptions{
		OnChange: func(ch listener.Change) {
			extra := ""
			if ch.Err != nil {
				extra = " (" + ch.Err.Error() + ")"
			}
			say("%s %s at %s%s", ch.Monitor.Name, ch.Presence, ch.Address, extra)
		},
		OnConnected: func(ctx context.Context, c *transport.Conn, ack control.HelloAck) {
			if err := streamer.Run(ctx, c, ack); err != nil {
				errOnce.Do(func() { streamErr = err })
				cancel()
			}
		},
	})
	runErr := sess.Run(runCtx)
	if err := streamer.Close(); err != nil && runErr == nil {
		runErr = err
	}
	st := streamer.Stats()
	say("stopped: %d audio packets (%d bytes), %d video packets", st.AudioPackets, st.AudioBytes, st.VideoPackets)
	if runErr != nil {
		return runErr
	}
	return streamErr
}
