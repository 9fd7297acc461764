package appliance_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Deps       []string
	Imports    []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps=false", "github.com/cradle-monitor/cradle/...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// TestPackagesHaveDocComments fails when a package lacks a doc comment.
func TestPackagesHaveDocComments(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment: add one (a doc.go) saying what it is for", p.ImportPath)
		}
	}
}

// TestLayering enforces the import rules:
//   - store never depends on appliance;
//   - media and hw depend on nothing in appliance (they are the devices,
//     not the roles);
//   - the listener role never depends on the monitor role;
//   - only hw/pi imports periph's host drivers, and only it and cmd/ (the
//     binaries, through hw/pi) depend on them;
//   - the listener's front ends (cmd/internal/cradlecli) use the listener
//     library, not the transport or WebRTC underneath it;
//   - every package sits under the fixed top level (appliance, store, hw,
//     media, cmd, deploy);
//   - test support (media/play/pulsetest, media/mediatest, deploy/unpriv,
//     appliance/page/pagetest) is imported by
//     tests only, never built into a binary.
func TestLayering(t *testing.T) {
	topLevel := []string{"appliance", "store", "hw", "media", "cmd", "deploy"}
	testSupport := []string{"media/play/pulsetest", "media/mediatest", "deploy/unpriv", "appliance/page/pagetest"}
	const mod = "github.com/cradle-monitor/cradle/"
	under := func(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		if top, _, _ := strings.Cut(rel, "/"); !slices.Contains(topLevel, top) {
			t.Errorf("%s is outside the fixed top level %v", p.ImportPath, topLevel)
		}
		for _, d := range p.Imports {
			if slices.Contains(testSupport, strings.TrimPrefix(d, mod)) {
				t.Errorf("%s imports %s: test support is for _test.go files only", p.ImportPath, d)
			}
			if rel == "cmd/internal/cradlecli" && (d == mod+"appliance/transport" || d == mod+"appliance/rtc") {
				t.Errorf("%s imports %s: front ends use appliance/listener only", p.ImportPath, d)
			}
			if strings.HasPrefix(d, "periph.io/x/host") && rel != "hw/pi" {
				t.Errorf("%s imports %s: only hw/pi may import periph's host drivers", p.ImportPath, d)
			}
		}
		for _, d := range p.Deps {
			for _, dir := range []string{"media", "hw", "store"} {
				if under(rel, dir) && strings.HasPrefix(d, mod+"appliance") {
					t.Errorf("%s depends on %s: %s must not import appliance", p.ImportPath, d, dir)
				}
			}
			if under(rel, "appliance/listener") && under(strings.TrimPrefix(d, mod), "appliance/monitor") {
				t.Errorf("%s depends on %s: the listener role must not import the monitor role", p.ImportPath, d)
			}
			if strings.HasPrefix(d, "periph.io/x/host") && !under(rel, "hw/pi") && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s depends on %s: only hw/pi (and cmd/, through it) may depend on periph's host drivers", p.ImportPath, d)
			}
		}
	}
}
