// Command cradled is the Cradle monitor daemon: it runs on the Pi in the
// nursery. See README.md; the logic lives in cmd/internal/cradledcli.
package main

import (
	"context"
	"os"

	// First: silences the C sound libraries before mediadevices' init probes them.
	_ "github.com/cradle-monitor/cradle/media/quiet"

	"github.com/cradle-monitor/cradle/cmd/internal/cradledcli"
)

func main() {
	os.Exit(cradledcli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
