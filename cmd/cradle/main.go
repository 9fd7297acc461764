// Command cradle is the Cradle listener: it pairs with monitors and tells
// whether they are online. See README.md; the logic lives in
// cmd/internal/cradlecli.
package main

import (
	"context"
	"os"

	// First: silences the C sound libraries before mediadevices' init probes them.
	_ "github.com/cradle-monitor/cradle/media/quiet"

	"github.com/cradle-monitor/cradle/cmd/internal/cradlecli"
)

func main() {
	os.Exit(cradlecli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
