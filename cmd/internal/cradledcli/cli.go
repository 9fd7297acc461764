// Package cradledcli is the command line of cradled, the monitor daemon.
// cmd/cradled/main.go only calls Main; tests call it in-process.
package cradledcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/cradle-monitor/cradle/appliance/admin"
	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/cmd/internal/clitool"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/hw/pi"
)

const usage = `usage: cradled [flags] [command]

Commands:
  serve (default)        run the monitor
  setup-code             print the setup code, the setup payload and its QR code
  pair [--duration D]    open the pairing window (as a short button press does)
  status [--json]        show the monitor's address, identity, pairing window and connections
  listeners [--json]     list trusted listeners and phones paired on the page
  revoke FINGERPRINT|ID  revoke a listener or a phone: its connections close at once
  reset --yes            forget every listener and phone, make a new setup code
                         (as holding the button 10 s does); the monitor keeps
                         its identity and its history
  wipe --yes             wipe it for giving it away (as holding the button
                         30 s does): new identity, new setup code, the event
                         log and its history gone; on the image also the
                         Wi-Fi and SSH credentials, then a reboot to first boot
  events [--since SEQ] [--json]   print the event log (audit trail)
  id                     print the monitor's fingerprint
  provision --new DIR [--room NAME] | --import DIR
                         write a fresh setup code and room name to a boot
                         partition (image build), or import them at boot

Flags:
`

type env struct {
	stdout, stderr io.Writer
	cfg            monitor.Config
	logLevel       string
	hwMode         string
	configPath     string // the configuration file (its drop-ins are next to it)
	pageListen     string // the phones' page (HTTPS); "off" serves none
	pageHTTP       string // plain HTTP that redirects to it; "" serves none
	historyDays    int    // history_days: 0 keeps none
	// hwKeys: the pin keys given in a file or as a flag (led-pin,
	// button-pin, led-line, button-line): gpio_chip needs both lines and
	// no pin names.
	hwKeys map[string]bool
}

// Main runs cradled with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	name, run, code := e.parse(args, true)
	if run == nil {
		return code
	}
	err := run(ctx)
	if errors.Is(err, monitor.ErrWiped) {
		return ExitWiped // serve said so
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "cradled %s: %v\n", name, err)
	}
	return clitool.ExitCode(err)
}

// Check parses a cradled command line as Main does, the global flags and
// the command's own, and runs nothing: it reads no configuration file, so
// only the flags are validated. The error is what cradled would print.
func Check(args []string) error {
	var stderr strings.Builder
	e := &env{stdout: io.Discard, stderr: &stderr}
	if _, run, code := e.parse(args, false); run == nil {
		return fmt.Errorf("exit %d: %s", code, clitool.Complaint(stderr.String()))
	}
	return nil
}

// CheckConfig loads a configuration file as Main does with --config
// path (its drop-in directory included) and validates it. The error is
// what cradled would print.
func CheckConfig(path string) error {
	var stderr strings.Builder
	e := &env{stdout: io.Discard, stderr: &stderr}
	if _, run, code := e.parse([]string{"--config", path}, true); run == nil {
		return fmt.Errorf("exit %d: %s", code, clitool.Complaint(stderr.String()))
	}
	return nil
}

// parse parses cradled's command line into e: the global flags, the
// configuration files (with files), then the command's arguments. It
// returns the command's name and what running it does, or a nil run and
// the exit code after printing why to e.stderr.
func (e *env) parse(args []string, files bool) (name string, run runner, code int) {
	stderr := e.stderr
	fs := flag.NewFlagSet("cradled", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&e.cfg.StateDir, "state-dir", "/var/lib/cradle", "state directory (identity, setup code, event log)")
	fs.StringVar(&e.cfg.Listen, "listen", fmt.Sprintf(":%d", control.DefaultPort), "UDP address of the control channel")
	fs.StringVar(&e.cfg.AdminSocket, "admin-socket", "", "admin socket path (default STATE-DIR/cradled.sock)")
	fs.StringVar(&e.cfg.Name, "name", "Nursery", "room name shown to listeners")
	fs.StringVar(&e.cfg.SetupCode, "setup-code", "", "setup code to use at first start (default: random)")
	fs.DurationVar(&e.cfg.PairingWindow, "pairing-window", 3*time.Minute, "how long the pairing window stays open (at most 15m)")
	fs.DurationVar(&e.cfg.Heartbeat.Interval, "heartbeat", time.Second, "heartbeat interval")
	fs.IntVar(&e.cfg.Heartbeat.Misses, "heartbeat-misses", 3, "missed heartbeats before a connection is dropped")
	fs.StringVar(&e.cfg.AutoStream, "auto-stream", "audio", "stream listeners start on their own: off, audio, audio+video")
	fs.StringVar(&e.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar((*string)(&e.cfg.Media), "media", "auto", "capture sources: auto (devices, else test sources), devices (wait for a microphone), or test (tone and pattern, on purpose)")
	fs.StringVar(&e.cfg.MediaConfig.Microphone, "microphone", "", "ALSA capture device (name or part of it; default: the best one)")
	fs.StringVar(&e.cfg.MediaConfig.Camera, "camera", "", "V4L2 camera (part of its path or name; default: the first one)")
	fs.StringVar(&e.cfg.Speaker, "speaker", "auto", "speaker for soothing sounds: auto (the default output, if any), none, or an output's name (cradle outputs lists them)")
	fs.StringVar(&e.cfg.MediaConfig.TestAudio, "test-audio", "", "script the test tone (--media test only): steps tone:D, silence:D, stall:D, e.g. tone:3s,stall")
	fs.IntVar(&e.historyDays, "history-days", monitor.DefaultHistoryDays, "days of sound history kept (0: none; the microphone then runs only while someone listens)")
	fs.StringVar(&e.hwMode, "hw", "auto", "button and LED: auto (the Pi's GPIO when present, else simulated), pi, or sim")
	fs.StringVar(&e.cfg.HW.LEDPin, "led-pin", hw.DefaultLEDPin, "GPIO of the status LED")
	fs.StringVar(&e.cfg.HW.ButtonPin, "button-pin", hw.DefaultButtonPin, "GPIO of the pairing button")
	fs.StringVar(&e.cfg.HW.GPIOChip, "gpio-chip", "", "GPIO chip (gpiochip0, /dev/gpiochip0 or its label) whose line offsets --led-line and --button-line give, instead of pin names")
	fs.IntVar(&e.cfg.HW.LEDLine, "led-line", 0, "the status LED's line offset on --gpio-chip")
	fs.IntVar(&e.cfg.HW.ButtonLine, "button-line", 0, "the pairing button's line offset on --gpio-chip")
	fs.DurationVar(&e.cfg.HW.Debounce, "debounce", hw.DefaultDebounce, "how long the button's level must be stable to count (contact bounce), at most 500ms")
	fs.DurationVar(&e.cfg.HW.ShortMax, "short-max", hw.DefaultShortMax, "a press released sooner opens the pairing window")
	fs.DurationVar(&e.cfg.HW.LongPress, "long-press", hw.DefaultLongPress, "how long to hold the button to forget every listener (a wipe takes 20s more)")
	fs.BoolVar(&e.cfg.Advertise, "mdns", true, "advertise the monitor over mDNS (_cradle._udp)")
	fs.StringVar(&e.cfg.AdvertiseInterface, "mdns-interface", "", "advertise on this interface only (default: all)")
	fs.BoolVar(&e.cfg.PairWhenNew, "pair-when-new", true, "open pairing at start, for 15m, while no listener is trusted")
	fs.StringVar(&e.pageListen, "page-listen", DefaultPageListen, "TCP address of the phones' page (HTTPS), or off; systemd's socket named https replaces it")
	fs.StringVar(&e.pageHTTP, "page-http", "", "TCP address that redirects plain HTTP to the page (default none); systemd's socket named http replaces it")
	configPath := fs.String("config", DefaultConfigFile, "TOML configuration file (flags override it)")
	if err := fs.Parse(args); err != nil {
		return "", nil, clitool.ExitUsage
	}
	set := flagsSet(fs)
	e.hwKeys = map[string]bool{}
	for _, k := range []string{"led-pin", "button-pin", "led-line", "button-line"} {
		e.hwKeys[k] = set[k]
	}
	e.configPath = *configPath
	if files {
		if err := e.loadConfigs(*configPath, set["config"], set); err != nil {
			fmt.Fprintf(stderr, "cradled: %v\n", err)
			return "", nil, clitool.ExitUsage
		}
	}
	if err := e.validate(); err != nil {
		fmt.Fprintf(stderr, "cradled: %v\n", err)
		return "", nil, clitool.ExitUsage
	}
	e.cfg = e.cfg.WithDefaults()
	name, rest := "serve", fs.Args()
	if len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if _, ok := commands.Lookup(name); !ok {
		fmt.Fprintf(stderr, "cradled: unknown command %q\n", name)
		fs.Usage()
		return name, nil, clitool.ExitUsage
	}
	run, err := commands.Parse(e, name, rest)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "cradled %s: %v\n", name, err)
		}
		return name, nil, clitool.ExitCode(err)
	}
	return name, run, clitool.ExitOK
}

// runner is a parsed command, ready to run.
type runner = func(context.Context) error

// commands is cradled's subcommand table (the usage text lists them).
var commands = clitool.Commands[*env, runner]{
	{Name: "serve", Parse: noArgs("serve", (*env).serve)},
	{Name: "setup-code", Parse: noArgs("setup-code", (*env).setupCode)},
	{Name: "pair", Parse: (*env).pair},
	{Name: "status", Parse: (*env).status},
	{Name: "listeners", Parse: (*env).listeners},
	{Name: "revoke", Parse: (*env).revoke},
	{Name: "reset", Parse: (*env).reset},
	{Name: "wipe", Parse: (*env).wipe},
	{Name: "events", Parse: (*env).events},
	{Name: "id", Parse: noArgs("id", func(e *env, _ context.Context) error { return e.id() })},
	{Name: "provision", Parse: (*env).provision},
}

// noArgs is the Parse of a command that takes no arguments.
func noArgs(name string, run func(*env, context.Context) error) func(*env, []string) (runner, error) {
	return func(e *env, args []string) (runner, error) {
		if err := clitool.NoArgs(name, args, e.stderr); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return run(e, ctx) }, nil
	}
}

func (e *env) logger() *slog.Logger { return clitool.Logger(e.stderr, e.logLevel) }

func (e *env) serve(ctx context.Context) error {
	cfg := e.cfg
	cfg.Logger = e.logger()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	dev, err := pi.Open(e.hwMode, cfg.HW, cfg.Logger)
	if err != nil {
		return err
	}
	defer dev.Close()
	cfg.Device = dev
	m, err := monitor.Open(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "cradled: serving %q on %s, fingerprint %s\n", cfg.Name, m.Addr(), m.Fingerprint())
	fmt.Fprintf(e.stdout, "Sound: %s\n", m.SoundSource())
	fmt.Fprintf(e.stdout, "To pair a listener: run `cradled --state-dir %s pair` (or press the button), then on the listener:\n", cfg.StateDir)
	fmt.Fprintf(e.stdout, "  cradle pair %s --code XXXX-XXXX   (the code: `cradled --state-dir %s setup-code`)\n", dialAddr(m.Addr()), cfg.StateDir)
	var wg sync.WaitGroup
	wctx, wcancel := context.WithCancel(ctx)
	pageDone, err := e.servePage(wctx, m, cfg.Logger, &wg)
	if err != nil {
		wcancel()
		m.Close()
		return err
	}
	notify(cfg.Logger, daemon.SdNotifyReady+"\nSTATUS=serving on "+m.Addr().String())
	wg.Go(func() { watchdog(wctx, m, cfg.Logger) })
	var fatal error
	select {
	case <-ctx.Done():
		cfg.Logger.Info("shutting down: closing connections with going_away")
	case fatal = <-m.Fatal():
		cfg.Logger.Error("fatal error: exiting so that systemd restarts the monitor", "err", fatal)
	case fatal = <-pageDone:
		cfg.Logger.Error("the phones' page stopped: exiting so that systemd restarts the monitor", "err", fatal)
	}
	wcancel()
	wg.Wait()
	notify(cfg.Logger, daemon.SdNotifyStopping)
	// Close within the 5 s systemd and parents expect.
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(4500 * time.Millisecond):
		return errors.New("shutdown took longer than 4.5 s: exiting anyway")
	}
	cfg.Logger.Info("stopped")
	if errors.Is(fatal, monitor.ErrWiped) {
		fmt.Fprintln(e.stderr, "cradled: wiped: start cradled again and it is a new monitor (systemd does it by itself)")
	}
	return fatal
}

// ExitWiped is cradled's exit status after a wipe: a failure to systemd
// (Restart=on-failure starts the new monitor; on the image the unit's
// ExecStopPost hook also clears the card and reboots).
const ExitWiped = 75

func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notify failed", "err", err)
	}
}

// watchdog pings systemd's watchdog at half its interval while the monitor
// is healthy; a monitor that stops being healthy stops the pings, and
// systemd restarts it.
func watchdog(ctx context.Context, m *monitor.Monitor, log *slog.Logger) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every == 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Healthy(); err != nil {
				log.Error("unhealthy: not pinging the watchdog", "err", err)
				continue
			}
			notify(log, daemon.SdNotifyWatchdog)
		}
	}
}

// dialAddr turns a bound address into one a listener on this machine can dial.
func dialAddr(a *net.UDPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return fmt.Sprintf("127.0.0.1:%d", a.Port)
	}
	return a.String()
}

// admin returns a client of the running daemon and a context bounded by
// its timeout (10 s; a simulated long press takes longer).
func (e *env) admin(ctx context.Context, timeout time.Duration) (*admin.Client, context.Context, context.CancelFunc) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return &admin.Client{Path: e.cfg.AdminSocket}, ctx, cancel
}

func (e *env) setupCode(ctx context.Context) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	info, err := c.SetupInfo(ctx)
	if errors.Is(err, admin.ErrNotRunning) {
		info, err = monitor.OfflineSetupInfo(e.cfg)
	}
	if err != nil {
		return err
	}
	p, err := pairing.ParsePayload(info.Payload)
	if err != nil {
		return err
	}
	qr, err := p.QR()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Setup code: %s\nSetup payload: %s\n\n%s\n", info.Code, info.Payload, qr)
	return nil
}

func (e *env) pair(args []string) (runner, error) {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	d := fs.Duration("duration", 0, "how long to keep the window open (default: the configured pairing window, at most 15m)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, clitool.UsageError("pair takes no arguments (on the listener: cradle pair)")
	}
	return func(ctx context.Context) error { return e.openPairing(ctx, *d) }, nil
}

func (e *env) openPairing(ctx context.Context, d time.Duration) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	until, err := c.OpenPairing(ctx, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Pairing window open until %s. On the listener: cradle pair HOST:PORT --code XXXX-XXXX\n", until.Format(time.TimeOnly))
	return nil
}

// jsonFlag parses the arguments of a command whose only one is --json.
func jsonFlag(name string, args []string, e *env) (bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	j := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, clitool.Usagef("%s takes no arguments but --json", name)
	}
	return *j, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (e *env) status(args []string) (runner, error) {
	asJSON, err := jsonFlag("status", args, e)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return e.printStatus(ctx, asJSON) }, nil
}

func (e *env) printStatus(ctx context.Context, asJSON bool) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, st)
	}
	fmt.Fprintf(e.stdout, "Monitor:     %s (%s)\nAddress:     %s\nFingerprint: %s\n", st.Name, st.DeviceID, st.Addr, st.Fingerprint)
	if st.Host != "" {
		addrs := strings.Join(st.HostAddrs, ", ")
		if addrs == "" {
			addrs = "no network address yet"
		}
		fmt.Fprintf(e.stdout, "Host name:   %s (%s; phones that cannot open .local names use the address)\n", st.Host, addrs)
	}
	if st.PagePort > 0 {
		page := strings.Join(st.Page, "  ")
		if page == "" { // no mDNS, or no address yet: the monitor knows none
			page = monitor.PageURL("<the monitor's address>", st.PagePort)
		}
		fmt.Fprintf(e.stdout, "Page:        %s\n", page)
	}
	if st.Pairing.Open {
		fmt.Fprintf(e.stdout, "Pairing:     open until %s\n", st.Pairing.Until.Format(time.TimeOnly))
	} else if st.Pairing.LastClose == "too-many-failures" {
		fmt.Fprintf(e.stdout, "Pairing:     closed after too many wrong setup codes: press the button to open it again\n")
	} else {
		fmt.Fprintf(e.stdout, "Pairing:     closed\n")
	}
	if n := st.Pairing.FailedAttempts; n > 0 {
		fmt.Fprintf(e.stdout, "             %d wrong setup code(s) tried in the last pairing window: if that was not you, someone on your network may be guessing it\n", n)
	}
	fmt.Fprintf(e.stdout, "Strangers:   %d unpaired connection(s) since start (%d evicted, %d timed out, %d refused)\n",
		st.Pairing.Strangers.Accepted, st.Pairing.Strangers.Evicted, st.Pairing.Strangers.Expired, st.Pairing.Strangers.Refused)
	fmt.Fprintf(e.stdout, "Connections: %d\n", len(st.Connections))
	if len(st.Connections) > 0 {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTRUSTED\tREMOTE\tCONNECTED SINCE\tLAST HEARTBEAT\tRTT\tFINGERPRINT")
		for _, c := range st.Connections {
			fmt.Fprintf(tw, "c%d\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Trusted, c.Remote, c.Since.Format(time.DateTime), ago(c.LastSeen), c.RTT, c.Fingerprint)
		}
		tw.Flush()
	}
	return nil
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Millisecond).String() + " ago"
}

func (e *env) listeners(args []string) (runner, error) {
	asJSON, err := jsonFlag("listeners", args, e)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return e.printListeners(ctx, asJSON) }, nil
}

func (e *env) printListeners(ctx context.Context, asJSON bool) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	ls, err := c.Listeners(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(e.stdout, "No trusted listeners. Pair one: cradled pair, then cradle pair on the listener.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tONLINE\tPAIRED AT\tFINGERPRINT OR ID")
	for _, l := range ls {
		kind, online, key := "listener", fmt.Sprint(l.Online), l.Fingerprint
		if l.Kind == admin.KindDevice {
			kind, online, key = "device", "-", l.ID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", kind, l.Name, online, l.PairedAt.Format(time.DateTime), key)
	}
	return tw.Flush()
}

func (e *env) revoke(args []string) (runner, error) {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return nil, clitool.UsageError("revoke needs one FINGERPRINT or device ID (see cradled listeners)")
	}
	return func(ctx context.Context) error { return e.revokeKey(ctx, args[0]) }, nil
}

func (e *env) revokeKey(ctx context.Context, key string) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	if err := c.Revoke(ctx, key); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Revoked %s: its connections are closed and it can no longer connect or open the page.\n", key)
	return nil
}

func (e *env) reset(args []string) (runner, error) {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	yes := fs.Bool("yes", false, "confirm the factory reset")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if !*yes || fs.NArg() > 0 {
		return nil, clitool.UsageError("a factory reset forgets every paired listener: add --yes to confirm")
	}
	return e.factoryReset, nil
}

func (e *env) factoryReset(ctx context.Context) error {
	// A simulated long press takes its time.
	c, ctx, cancel := e.admin(ctx, e.cfg.HW.WithDefaults().LongPress+10*time.Second)
	defer cancel()
	if err := c.FactoryReset(ctx); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Factory reset done: every listener must pair again.")
	return nil
}

func (e *env) wipe(args []string) (runner, error) {
	fs := flag.NewFlagSet("wipe", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	yes := fs.Bool("yes", false, "confirm the wipe")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if !*yes || fs.NArg() > 0 {
		return nil, clitool.UsageError("a wipe forgets everything (identity, listeners, history) for giving the monitor away: add --yes to confirm; to only forget the listeners, use reset --yes")
	}
	return e.runWipe, nil
}

func (e *env) runWipe(ctx context.Context) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	if err := c.Wipe(ctx); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Wipe started: the monitor forgets everything and starts again as a new monitor with a new setup code (on the image it reboots, without its Wi-Fi and SSH settings).")
	return nil
}

func (e *env) events(args []string) (runner, error) {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	since := fs.Uint64("since", 0, "print events after this sequence number")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, clitool.UsageError("events takes no arguments but --since SEQ and --json")
	}
	return func(ctx context.Context) error { return e.printEvents(ctx, *since, *asJSON) }, nil
}

func (e *env) printEvents(ctx context.Context, since uint64, asJSON bool) error {
	c, ctx, cancel := e.admin(ctx, 0)
	defer cancel()
	evs, err := c.Events(ctx, since)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, evs)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tDETAILS")
	for _, ev := range evs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", ev.Seq, ev.Time.Format(time.DateTime), ev.Type, strings.ReplaceAll(ev.Details, "\t", " "))
	}
	return tw.Flush()
}

func (e *env) id() error {
	id, _, err := identity.LoadOrCreate(filepath.Join(e.cfg.StateDir, "identity"), control.RoleMonitor, e.cfg.Name)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, id.Fingerprint)
	return nil
}
