package cradlecli

import (
	"context"
	"errors"
	"flag"

	"github.com/cradle-monitor/cradle/appliance/conformance"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/listener"
)

// errNonConformant: some conformance check failed (the report says which).
var errNonConformant = errors.New("the monitor does not conform to protocol v1: see the FAIL lines above")

// conformance drives a monitor (ours or a second implementation) through
// the documented behaviours of protocol v1 and prints each check.
func (e *env) conformance(args []string) (runner, error) {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fp := fs.String("fingerprint", "", "the monitor's fingerprint (checked when given)")
	code := fs.String("code", "", "the setup code, with the monitor's pairing window open: also checks pairing (adds one listener to its allowlist)")
	slow := fs.Bool("timeouts", false, "also wait for the monitor's own timeouts (hello, heartbeat): about 10 s more")
	target, err := parseTarget(fs, args)
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, usageError("conformance needs the monitor's HOST:PORT")
	}
	opts := conformance.Options{SetupCode: *code, Timeouts: *slow}
	if *fp != "" {
		if opts.Fingerprint, err = identity.ParseFingerprint(*fp); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, l *listener.Listener) error {
		rep, err := conformance.Run(ctx, target, opts, e.stdout)
		if err != nil {
			return err
		}
		if !rep.OK() {
			return errNonConformant
		}
		return nil
	}, nil
}
