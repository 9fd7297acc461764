package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitsVerify runs systemd-analyze verify on the shipped units
// (with ExecStart pointing at the built binaries). It prints bad values as
// warnings and still exits 0, so any output fails the test.
func TestSystemdUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze missing: make test installs systemd")
		}
		t.Skip("systemd-analyze missing")
	}
	for _, tc := range []struct{ file, name string }{
		{"cradled.service", "cradled.service"},
		{"cradle-listen@.service", "cradle-listen@Nursery.service"}, // a template verifies as an instance
	} {
		t.Run(tc.file, func(t *testing.T) {
			unit, err := os.ReadFile("../../../deploy/systemd/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(unit), "/usr/bin/cradled", filepath.Join(binDir, "cradled"))
			text = strings.ReplaceAll(text, "/usr/bin/cradle ", filepath.Join(binDir, "cradle")+" ")
			path := filepath.Join(t.TempDir(), tc.name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}
