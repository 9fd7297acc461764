package cradlecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
)

// statusLine is one monitor's presence, as printed (and as --json emits).
type statusLine struct {
	Name        string    `json:"name"`
	DeviceID    string    `json:"device_id"`
	Presence    string    `json:"presence"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	RTTMicros   int64     `json:"rtt_us"`
	Address     string    `json:"address"`
	Fingerprint string    `json:"fingerprint"`
	At          time.Time `json:"at"`
	Error       string    `json:"error,omitempty"`
}

func lineOf(ch listener.Change) statusLine {
	s := statusLine{
		Name: ch.Monitor.Name, DeviceID: ch.Monitor.DeviceID, Presence: ch.Presence.String(),
		LastSeen: ch.LastSeen, RTTMicros: ch.RTT.Microseconds(), Address: ch.Address,
		Fingerprint: ch.Monitor.Fingerprint.String(), At: ch.At,
	}
	if ch.Err != nil {
		s.Error = ch.Err.Error()
	}
	return s
}

func (e *env) status(args []string) (runner, error) {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print JSON (with --watch: one object per line)")
	watch := fs.Bool("watch", false, "keep connections up and print every change")
	target, err := parseTarget(fs, args)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, l *listener.Listener) error {
		var mons []listener.PairedMonitor
		if target != "" {
			m, err := l.Resolve(target)
			if err != nil {
				return err
			}
			mons = []listener.PairedMonitor{m}
		} else {
			var err error
			if mons, err = l.Monitors(); err != nil {
				return err
			}
		}
		if len(mons) == 0 {
			return fmt.Errorf("no paired monitors: pair one with cradle pair HOST:PORT --code 1234-5678")
		}
		if *watch {
			return e.watch(ctx, l, mons, *asJSON)
		}
		lines := make([]statusLine, len(mons))
		var wg sync.WaitGroup
		for i, m := range mons {
			wg.Go(func() { lines[i] = lineOf(l.Probe(ctx, m)) })
		}
		wg.Wait()
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(lines)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tSTATUS\tLAST SEEN\tRTT\tADDRESS")
		for _, s := range lines {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.DeviceID, s.Presence, seen(s.LastSeen), rtt(s.RTTMicros), s.Address)
		}
		return tw.Flush()
	}, nil
}

func (e *env) watch(ctx context.Context, l *listener.Listener, mons []listener.PairedMonitor, asJSON bool) error {
	ctx, stop := notifyContext(ctx)
	defer stop()
	var mu sync.Mutex
	print := func(ch listener.Change) {
		mu.Lock()
		defer mu.Unlock()
		s := lineOf(ch)
		if asJSON {
			b, _ := json.Marshal(s)
			fmt.Fprintf(e.stdout, "%s\n", b)
			return
		}
		extra := ""
		if s.Error != "" {
			extra = " (" + s.Error + ")"
		}
		fmt.Fprintf(e.stdout, "%s %s %s rtt=%s last-seen=%s addr=%s%s\n", s.At.Format("15:04:05.000"), s.Name, s.Presence, rtt(s.RTTMicros), seen(s.LastSeen), s.Address, extra)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(mons))
	for i, m := range mons {
		wg.Go(func() {
			sess := l.Start(m, listener.SessionOptions{Logger: e.cfg.Logger})
			sub := sess.Subscribe(listener.SubscribeOptions{})
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					break
				}
				if p, ok := ev.(listener.PresenceEvent); ok {
					print(p.Change)
				}
			}
			errs[i] = sess.Close()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func seen(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05")
}

func rtt(us int64) string {
	if us == 0 {
		return "-"
	}
	return (time.Duration(us) * time.Microsecond).String()
}
