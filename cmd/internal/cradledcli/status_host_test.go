package cradledcli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/admin"
)

// statusOnly is an admin backend that answers Status only.
type statusOnly struct {
	admin.Backend // nil: any other call panics
	st            admin.Status
}

func (b statusOnly) Status(context.Context) (admin.Status, error) { return b.st, nil }

// TestStatusHostName: `cradled status` prints the .local host name and
// its addresses when the monitor reports them, and no such line when it
// does not (a monitor without mDNS, or one older than the fields).
func TestStatusHostName(t *testing.T) {
	for _, tt := range []struct {
		host  string
		addrs []string
		want  string // "" = no host line
	}{
		{"nursery-aeea6fq.local", []string{"192.168.1.23", "fd00::23"},
			"Host name:   nursery-aeea6fq.local (192.168.1.23, fd00::23; phones that cannot open .local names use the address)\n"},
		{"nursery-aeea6fq.local", nil, "Host name:   nursery-aeea6fq.local (no network address yet;"},
		{"", nil, ""},
	} {
		dir := t.TempDir()
		srv, err := admin.Listen(filepath.Join(dir, "cradled.sock"), statusOnly{st: admin.Status{
			Name: "Nursery", Host: tt.host, HostAddrs: tt.addrs}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, errs, code := runCLI("--state-dir", dir, "status")
		srv.Close()
		if code != 0 {
			t.Fatalf("status: exit %d %s", code, errs)
		}
		if tt.want == "" && strings.Contains(out, "Host name") || !strings.Contains(out, tt.want) {
			t.Errorf("host %q: status printed\n%s\nwant %q", tt.host, out, tt.want)
		}
	}
}
