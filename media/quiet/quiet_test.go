package quiet_test

import (
	"os"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/media/quiet"
)

func TestReport(t *testing.T) {
	r := quiet.Report()
	t.Logf("%q", r)
	if len(r) == 0 || len(r) > 4 {
		t.Fatalf("Report() = %q: want one to four short items", r)
	}
	for _, s := range r {
		if s == "" || len(s) > 60 {
			t.Errorf("item %q: want a short phrase", s)
		}
	}
	r[0] = "changed"
	if quiet.Report()[0] == "changed" {
		t.Error("Report returns its own slice: callers can change it")
	}
	if os.Getenv("JACK_NO_START_SERVER") == "" && !strings.Contains(strings.Join(r, " "), "no cgo") {
		t.Error("JACK_NO_START_SERVER is not set")
	}
}
