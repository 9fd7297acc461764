package monitor

import (
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// coreFiles hold the pure core: Core and its sibling machines.
var coreFiles = []string{"core.go", "corepairing.go", "events.go", "admission.go", "streams.go", "frontpanel.go", "coredevices.go"}

// TestCoreImportsNoIO: the core's files import neither the transport nor
// the WebRTC engine (nor the clock's I/O: the shell passes the limits in
// and every event carries its time).
func TestCoreImportsNoIO(t *testing.T) {
	banned := map[string]bool{
		"github.com/cradle-monitor/cradle/appliance/transport": true,
		"github.com/cradle-monitor/cradle/appliance/rtc":       true,
		"github.com/cradle-monitor/cradle/media":               true,
		"github.com/pion/webrtc/v4":                            true,
		"net/http":                                             true,
		"os":                                                   true,
	}
	for _, name := range coreFiles {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if banned[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
