package cradlecli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cradle-monitor/cradle/appliance/discovery"
	"github.com/cradle-monitor/cradle/appliance/listener"
)

func (e *env) discover(args []string) (runner, error) {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "how long to listen for answers")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return func(ctx context.Context, l *listener.Listener) error {
		ms, err := l.Discover(ctx, *timeout)
		if err != nil && len(ms) == 0 {
			return err
		}
		if *asJSON {
			if ms == nil {
				ms = []discovery.Found{}
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(ms)
		}
		if len(ms) == 0 {
			fmt.Fprintln(e.stdout, "No monitor answered. Check that it is on and on the same network, or pair with its HOST:PORT.")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tADDRESSES\tPORT\tPAIRING\tFINGERPRINT")
		for _, m := range ms {
			addrs := make([]string, len(m.Addrs))
			for i, a := range m.Addrs {
				addrs[i] = a.String()
			}
			pairing := "closed"
			if m.PairingOpen {
				pairing = "OPEN"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", m.Name, m.DeviceID, strings.Join(addrs, ","), m.Port, pairing, m.Fingerprint)
		}
		return tw.Flush()
	}, nil
}
