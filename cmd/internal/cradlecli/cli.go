// Package cradlecli is the command line of cradle, the listener.
// cmd/cradle/main.go only calls Main; tests call it in-process.
package cradlecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/cmd/internal/clitool"
)

const usage = `usage: cradle [flags] command

Commands:
  id                                   print this listener's fingerprint
  discover [--timeout D] [--json]      list the monitors on the local network (mDNS)
  pair TARGET --code 1234-5678         pair with a monitor using its setup code;
                                       TARGET is HOST:PORT, or a discovered name or id
  pair [TARGET] --payload CR:...       pair using the setup payload (QR code text);
                                       without TARGET the monitor is found over mDNS
  monitors [--json]                    list paired monitors
  forget MONITOR                       forget a paired monitor
  status [MONITOR] [--json] [--watch]  show whether paired monitors are online
  listen MONITOR [--output DEVICE|none] [--volume PCT] [--mute] [--vox]
         [--video] [--record FILE] [--duration D]
                                       play a monitor live, print its sound level,
                                       sound the alarm when the baby can no longer
                                       be heard (Enter or SIGUSR1 acknowledges)
  history MONITOR [--since D] [--json]
                                       what happened at the monitor: noise
                                       episodes, microphone faults and listeners
                                       over the last 12h (--since: at most 2208h)
  outputs                              list the audio output devices
  pairing open MONITOR [--for D]       open the monitor's pairing window for a new
                                       phone (no button press needed)
  pairing close MONITOR                close it
  sound MONITOR white|pink|brown|heartbeat|lullaby [--for 15m|30m|1h]
                                       play a soothing sound on the monitor's
                                       speaker (until stopped by default)
  sound MONITOR stop                   stop it
  talk MONITOR [--output DEVICE|none] [--input DEVICE]
                                       talk to the nursery through the monitor's
                                       speaker from this computer's microphone;
                                       the nursery plays, muted while you talk
                                       (Enter, end of input or Ctrl-C stops)
  conformance HOST:PORT [--fingerprint FP] [--code 1234-5678] [--timeouts]
                                       check a monitor against protocol v1 (docs/PROTOCOL.md)
  dashboard [--listen ADDR] [--new-token]
                                       serve the web page (default
                                       http://127.0.0.1:48090); beyond loopback
                                       it is HTTPS and the printed link holds
                                       its access token

MONITOR is a paired monitor's name, device id, or host:port.

Flags:
`

// Exit codes: the common ones (clitool), then one per failure of cradle
// pair a user must tell apart.
const (
	ExitOK          = clitool.ExitOK
	ExitError       = clitool.ExitError
	ExitUsage       = clitool.ExitUsage
	ExitWrongCode   = 3
	ExitClosed      = 4
	ExitBusy        = 5
	ExitLocked      = 6
	ExitMismatch    = 7
	ExitUnreachable = 8
)

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	cfg            listener.Config
	logLevel       string
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "cradle")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "cradle")
	}
	return ".cradle"
}

// Main runs cradle with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	name, run, code := e.parse(args)
	if run == nil {
		return code
	}
	e.cfg.Logger = clitool.Logger(stderr, e.logLevel)
	l, err := listener.Open(e.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "cradle: %v\n", err)
		return ExitError
	}
	if err := run(ctx, l); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitUsage
		}
		fmt.Fprintf(stderr, "cradle %s: %v\n", name, err)
		return exitCode(err)
	}
	return ExitOK
}

// Check parses a cradle command line as Main does, the global flags and
// the command's own, and runs nothing. The error is what cradle would
// print.
func Check(args []string) error {
	var stderr strings.Builder
	e := &env{stdout: io.Discard, stderr: &stderr}
	if _, run, code := e.parse(args); run == nil {
		return fmt.Errorf("exit %d: %s", code, clitool.Complaint(stderr.String()))
	}
	return nil
}

// parse parses cradle's command line into e: the global flags, then the
// command's arguments. It returns the command's name and what running it
// does, or a nil run and the exit code after printing why to e.stderr.
func (e *env) parse(args []string) (name string, run runner, code int) {
	stderr := e.stderr
	fs := flag.NewFlagSet("cradle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&e.cfg.StateDir, "state-dir", defaultStateDir(), "state directory (identity, paired monitors)")
	fs.StringVar(&e.cfg.Name, "name", "", "this listener's name, shown on the monitor (default: host name)")
	fs.DurationVar(&e.cfg.Heartbeat.Interval, "heartbeat", time.Second, "heartbeat interval")
	fs.IntVar(&e.cfg.Heartbeat.Misses, "heartbeat-misses", 3, "missed heartbeats before a monitor is offline")
	fs.StringVar(&e.logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.BoolVar(&e.cfg.Discovery, "mdns", true, "find monitors over mDNS (pair by name, reconnect after an address change)")
	fs.StringVar(&e.cfg.DiscoveryInterface, "mdns-interface", "", "use mDNS on this interface only")
	if err := fs.Parse(args); err != nil {
		return "", nil, ExitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return "", nil, ExitUsage
	}
	if _, err := clitool.ParseLogLevel(e.logLevel); err != nil {
		fmt.Fprintf(stderr, "cradle: --log-level: %v\n", err)
		return "", nil, ExitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if _, ok := commands.Lookup(name); !ok {
		fmt.Fprintf(stderr, "cradle: unknown command %q\n", name)
		fs.Usage()
		return name, nil, ExitUsage
	}
	run, err := commands.Parse(e, name, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return name, nil, ExitUsage
		}
		fmt.Fprintf(stderr, "cradle %s: %v\n", name, err)
		return name, nil, exitCode(err)
	}
	return name, run, ExitOK
}

// runner is a parsed command, ready to run with the listener.
type runner = func(context.Context, *listener.Listener) error

// commands is cradle's subcommand table (the usage text lists them).
var commands = clitool.Commands[*env, runner]{
	{Name: "id", Parse: noArgs("id", func(e *env, _ context.Context, l *listener.Listener) error {
		_, err := fmt.Fprintln(e.stdout, l.Fingerprint())
		return err
	})},
	{Name: "pair", Parse: (*env).pair},
	{Name: "monitors", Parse: (*env).monitors},
	{Name: "forget", Parse: (*env).forget},
	{Name: "status", Parse: (*env).status},
	{Name: "listen", Parse: (*env).listen},
	{Name: "discover", Parse: (*env).discover},
	{Name: "history", Parse: (*env).history},
	{Name: "outputs", Parse: noArgs("outputs", func(e *env, _ context.Context, _ *listener.Listener) error { return e.outputs() })},
	{Name: "pairing", Parse: (*env).pairing},
	{Name: "sound", Parse: (*env).sound},
	{Name: "talk", Parse: (*env).talk},
	{Name: "conformance", Parse: (*env).conformance},
	{Name: "dashboard", Parse: (*env).dashboard},
}

// noArgs is the Parse of a command that takes no arguments.
func noArgs(name string, run func(*env, context.Context, *listener.Listener) error) func(*env, []string) (runner, error) {
	return func(e *env, args []string) (runner, error) {
		if err := clitool.NoArgs(name, args, e.stderr); err != nil {
			return nil, err
		}
		return func(ctx context.Context, l *listener.Listener) error { return run(e, ctx, l) }, nil
	}
}

type usageError = clitool.UsageError

// parseTarget parses a subcommand's flags and its one optional positional
// argument (a monitor), which may stand before or after the flags.
func parseTarget(fs *flag.FlagSet, args []string) (string, error) {
	var target string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if target == "" && fs.NArg() > 0 {
		target = fs.Arg(0)
	}
	return target, nil
}

func exitCode(err error) int {
	switch {
	case errors.Is(err, control.ErrPairingFailed):
		return ExitWrongCode
	case errors.Is(err, control.ErrPairingClosed):
		return ExitClosed
	case errors.Is(err, control.ErrBusy):
		return ExitBusy
	case errors.Is(err, control.ErrPairingLocked):
		return ExitLocked
	case errors.Is(err, control.ErrFingerprintMismatch), errors.Is(err, listener.ErrImpostor):
		return ExitMismatch
	case errors.Is(err, listener.ErrUnreachable):
		return ExitUnreachable
	}
	return clitool.ExitCode(err)
}

func (e *env) pair(args []string) (runner, error) {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	code := fs.String("code", "", "the monitor's setup code, 1234-5678")
	payload := fs.String("payload", "", "the monitor's setup payload (the QR code's text)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	target, err := parseTarget(fs, args)
	if err != nil {
		return nil, err
	}
	req := listener.PairRequest{Target: target}
	switch {
	case *payload != "":
		p, err := pairing.ParsePayload(*payload)
		if err != nil {
			return nil, err
		}
		req.Payload = &p
	case *code != "":
		c, err := pairing.ParseCode(*code)
		if err != nil {
			return nil, err
		}
		req.Code = c
		if target == "" {
			return nil, usageError("pair needs the monitor's HOST:PORT or name (see cradle discover)")
		}
	default:
		return nil, usageError("pair needs --code or --payload")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		m, err := l.Pair(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Paired with %q (device %s) at %s\nFingerprint: %s\n", m.Name, m.DeviceID, m.Address, m.Fingerprint)
		return nil
	}, nil
}

func (e *env) monitors(args []string) (runner, error) {
	fs := flag.NewFlagSet("monitors", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError("monitors takes no arguments but --json")
	}
	return func(_ context.Context, l *listener.Listener) error { return e.printMonitors(l, *asJSON) }, nil
}

func (e *env) printMonitors(l *listener.Listener, asJSON bool) error {
	ms, err := l.Monitors()
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if ms == nil {
			ms = []listener.PairedMonitor{}
		}
		return enc.Encode(ms)
	}
	if len(ms) == 0 {
		fmt.Fprintln(e.stdout, "No paired monitors. Pair one: cradle pair HOST:PORT --code 1234-5678")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tADDRESS\tPAIRED AT\tFINGERPRINT")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.DeviceID, m.Address, m.PairedAt.Format(time.DateTime), m.Fingerprint)
	}
	return tw.Flush()
}

func (e *env) forget(args []string) (runner, error) {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return nil, usageError("forget needs one MONITOR (name, id or host:port)")
	}
	return func(ctx context.Context, l *listener.Listener) error {
		m, err := l.Forget(ctx, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Forgot %q (device %s).\n", m.Name, m.DeviceID)
		return nil
	}, nil
}
