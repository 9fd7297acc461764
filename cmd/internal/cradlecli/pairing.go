package cradlecli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
)

// pairing is `cradle pairing open|close MONITOR [--for D]`: a paired
// listener opens the monitor's pairing window for a new phone (no button
// press needed), or closes it.
func (e *env) pairing(args []string) (runner, error) {
	if len(args) == 0 || (args[0] != "open" && args[0] != "close") {
		return nil, usageError("pairing needs open or close, then a MONITOR")
	}
	op := args[0]
	fs := flag.NewFlagSet("pairing "+op, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	d := fs.Duration("for", 0, "with open: how long the window stays open (default 3m, at most 15m)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	target, err := parseTarget(fs, args[1:])
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, usageError("pairing " + op + " needs a MONITOR (name, id or host:port)")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		sess, m, err := e.request(ctx, l, target, *timeout)
		if err != nil {
			return err
		}
		defer sess.Close()
		var st control.PairingState
		if op == "open" {
			st, err = sess.OpenPairing(ctx, *d)
		} else {
			st, err = sess.ClosePairing(ctx)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, pairingLine(m.Name, st))
		return nil
	}, nil
}

// pairingLine says what a pairing state means for the parent.
func pairingLine(name string, st control.PairingState) string {
	s := fmt.Sprintf("%s: pairing closed", name)
	if st.Open {
		s = fmt.Sprintf("%s: pairing open for %v: on the new phone, pair with the setup code from the monitor's card", name, (time.Duration(st.RemainingMillis) * time.Millisecond).Round(time.Second))
	} else if st.Closed == control.PairingClosedFailures {
		s += " after too many wrong setup codes"
	}
	if st.FailedAttempts > 0 {
		s += fmt.Sprintf(" (%d wrong setup code(s) tried: if that was not you, someone on your network may be guessing it)", st.FailedAttempts)
	}
	return s
}
