package cradledcli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
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

// TestStatusPage: `cradled status` prints the page's addresses as the
// monitor reports them, a placeholder address when it knows none, and no
// Page line without the page; --json carries both fields.
func TestStatusPage(t *testing.T) {
	urls := []string{"https://nursery-aeea6fq.local/", "https://192.168.1.23/", "https://[fd00::23]/"}
	for _, tt := range []struct {
		port int
		page []string
		want string // "" = no Page line
	}{
		{443, urls, "Page:        https://nursery-aeea6fq.local/  https://192.168.1.23/  https://[fd00::23]/\n"},
		{8443, nil, "Page:        https://<the monitor's address>:8443/\n"},
		{0, nil, ""},
	} {
		dir := t.TempDir()
		srv, err := admin.Listen(filepath.Join(dir, "cradled.sock"), statusOnly{st: admin.Status{
			Name: "Nursery", Host: "nursery-aeea6fq.local", PagePort: tt.port, Page: tt.page}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, errs, code := runCLI("--state-dir", dir, "status")
		js, jerrs, jcode := runCLI("--state-dir", dir, "status", "--json")
		srv.Close()
		if code != 0 || jcode != 0 {
			t.Fatalf("status: exit %d %s; --json: exit %d %s", code, errs, jcode, jerrs)
		}
		if tt.want == "" && strings.Contains(out, "Page:") || !strings.Contains(out, tt.want) {
			t.Errorf("page port %d: status printed\n%s\nwant %q", tt.port, out, tt.want)
		}
		var st admin.Status
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, js)
		}
		if st.PagePort != tt.port || !slices.Equal(st.Page, tt.page) {
			t.Errorf("status --json: page_port %d, page %q; want %d, %q", st.PagePort, st.Page, tt.port, tt.page)
		}
		if tt.port == 0 && strings.Contains(js, `"page`) {
			t.Errorf("status --json without the page has page fields:\n%s", js)
		}
	}
}
