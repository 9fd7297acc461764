package cradledcli

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestConfigDocTable: docs/CONFIG.md's table lists every key the loader
// knows and no other, each flag it names is one of cradled's, and each
// default it shows (as a value) loads.
func TestConfigDocTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "CONFIG.md"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	ft := reflect.TypeFor[fileConfig]()
	for i := range ft.NumField() {
		known[ft.Field(i).Tag.Get("toml")] = true
	}
	var usage strings.Builder
	(&env{stdout: &usage, stderr: &usage}).parse([]string{"--help"}, false)
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		flags["--"+m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("found %d flags in the usage: %q", len(flags), usage.String())
	}

	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| (?:`(--[a-z-]+)`)? *\\| ([^|]*) \\|")
	dir := t.TempDir()
	documented := map[string]bool{}
	for i, l := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		key, flag, def := m[1], m[2], strings.TrimSpace(m[3])
		where := fmt.Sprintf("docs/CONFIG.md:%d", i+1)
		documented[key] = true
		if !known[key] {
			t.Errorf("%s: key %q is not one cradled knows", where, key)
		}
		if flag != "" && !flags[flag] {
			t.Errorf("%s: %s is not a cradled flag", where, flag)
		}
		v, ok := strings.CutPrefix(def, "`")
		if !ok || strings.Count(def, "`") != 2 || !strings.HasSuffix(v, "`") {
			continue // prose: "random", "best found", "none"
		}
		v = strings.TrimSuffix(v, "`")
		lit := strconv.Quote(v)
		if _, err := strconv.ParseFloat(v, 64); err == nil || v == "true" || v == "false" {
			lit = v
		}
		path := filepath.Join(dir, key+".toml")
		os.WriteFile(path, []byte(key+" = "+lit+"\n"), 0o600)
		if err := CheckConfig(path); err != nil {
			t.Errorf("%s: %s = %s, its documented default, does not load: %v", where, key, lit, err)
		}
	}
	for k := range known {
		if !documented[k] {
			t.Errorf("key %q is missing from docs/CONFIG.md's table", k)
		}
	}
}
