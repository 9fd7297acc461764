package pairing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/deploy/unpriv"
)

// words returns a reader yielding each value as 4 big-endian bytes.
func words(vs ...uint32) io.Reader {
	var b bytes.Buffer
	for _, v := range vs {
		binary.Write(&b, binary.BigEndian, v)
	}
	return &b
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name string
		src  io.Reader
		want Code
		err  error
	}{
		{"first value", words(24681357), "24681357", nil},
		{"leading zeros", words(1), "00000001", nil},
		{"largest", words(99999998), "99999998", nil},
		{"high bits ignored", words(0xf8000000 | 24681357), "24681357", nil},
		{"skips trivial and out of range", words(0, 11111111, 99999999, 12345678, 87654321, 1e8, 1<<27-1, 55555556), "55555556", nil},
		{"zeros forever", bytes.NewReader(make([]byte, 4096)), "", ErrRandom},
		{"read error", words(0), "", ErrRandom}, // one rejected value, then EOF
		{"short read", bytes.NewReader([]byte{1, 2}), "", ErrRandom},
	}
	for _, tt := range tests {
		got, err := Generate(tt.src)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: Generate = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
	seen := map[Code]bool{}
	for range 1000 {
		c, err := Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Generate made %q: %v", c, err)
		}
		seen[c] = true
	}
	if len(seen) < 990 {
		t.Fatalf("1000 codes from crypto/rand hold only %d distinct values", len(seen))
	}
}

func TestParseCode(t *testing.T) {
	tests := []struct {
		in   string
		want Code
		err  error
	}{
		{"2468-1357", "24681357", nil},
		{"24681357", "24681357", nil},
		{" 2468 1357 ", "24681357", nil},
		{"\t24-68-13-57", "24681357", nil},
		{"00000001", "00000001", nil},
		{"99999998", "99999998", nil},
		{"", "", ErrCodeLength},
		{"1234-567", "", ErrCodeLength},
		{"2468-13579", "", ErrCodeLength},
		{strings.Repeat("-", 65), "", ErrCodeLength},
		{"2468-135a", "", ErrCodeDigits},
		{"2468_1357", "", ErrCodeDigits},
		{"２４６８１３５７", "", ErrCodeDigits}, // full-width digits
		{"00000000", "", ErrCodeTrivial},
		{"1111-1111", "", ErrCodeTrivial},
		{"55555555", "", ErrCodeTrivial},
		{"99999999", "", ErrCodeTrivial},
		{"1234-5678", "", ErrCodeTrivial},
		{"8765-4321", "", ErrCodeTrivial},
	}
	for _, tt := range tests {
		got, err := ParseCode(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseCode(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestCodeStringAndLog(t *testing.T) {
	c := Code("24681357")
	if c.String() != "2468-1357" {
		t.Fatalf("String = %q", c.String())
	}
	if Code("").String() != "" {
		t.Fatal("zero Code String")
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("code set", "code", c)
	if strings.Contains(buf.String(), "2468") || !strings.Contains(buf.String(), "[redacted]") {
		t.Fatalf("log: %s", buf.String())
	}
}

func TestLoadOrCreateCode(t *testing.T) {
	t.Run("generates once, then loads", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		c, created, err := LoadOrCreateCode(dir, "")
		if err != nil || !created || c.Validate() != nil {
			t.Fatalf("first: %q, %v, %v", c, created, err)
		}
		checkFile(t, dir, c)
		again, created, err := LoadOrCreateCode(dir, "")
		if err != nil || created || again != c {
			t.Fatalf("second: %q, %v, %v; want %q", again, created, err, c)
		}
		same, created, err := LoadOrCreateCode(dir, c.String())
		if err != nil || created || same != c {
			t.Fatalf("same provided: %q, %v, %v", same, created, err)
		}
		other := Code("13572468")
		if other == c {
			other = "13572469"
		}
		if _, _, err := LoadOrCreateCode(dir, string(other)); !errors.Is(err, ErrProvisioned) {
			t.Fatalf("different provided: err %v, want ErrProvisioned", err)
		}
		checkFile(t, dir, c)
	})
	t.Run("provided code at first start", func(t *testing.T) {
		dir := t.TempDir()
		c, created, err := LoadOrCreateCode(dir, "1357 2468")
		if err != nil || !created || c != "13572468" {
			t.Fatalf("%q, %v, %v", c, created, err)
		}
		checkFile(t, dir, c)
	})
	t.Run("invalid provided code", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := LoadOrCreateCode(dir, "1234-5678"); !errors.Is(err, ErrCodeTrivial) {
			t.Fatalf("err %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, CodeFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("file written for a rejected code: %v", err)
		}
	})
	t.Run("damaged file", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, CodeFile), []byte("11111111\n"), 0o600)
		if _, _, err := LoadOrCreateCode(dir, ""); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("loose mode is tightened", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, CodeFile)
		os.WriteFile(path, []byte("2468-1357"), 0o644)
		os.Chmod(path, 0o644) // umask may have masked it
		c, created, err := LoadOrCreateCode(dir, "")
		if err != nil || created || c != "24681357" {
			t.Fatalf("%q, %v, %v", c, created, err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", st.Mode())
		}
	})
	t.Run("remove makes a new code", func(t *testing.T) {
		dir := t.TempDir()
		c, _, _ := LoadOrCreateCode(dir, "2468-1357")
		if err := RemoveCode(dir); err != nil {
			t.Fatal(err)
		}
		if err := RemoveCode(dir); err != nil {
			t.Fatalf("second remove: %v", err)
		}
		c2, created, err := LoadOrCreateCode(dir, "")
		if err != nil || !created || c2 == c {
			t.Fatalf("after remove: %q, %v, %v (old %q)", c2, created, err, c)
		}
	})
	t.Run("unwritable dir", func(t *testing.T) {
		if !unpriv.Run(t) { // root ignores directory permissions
			return
		}
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if _, _, err := LoadOrCreateCode(dir, ""); err == nil {
			t.Fatal("no error writing into a read-only directory")
		}
	})
}

// checkFile checks dir holds exactly the code file, mode 0600, with c.
func checkFile(t *testing.T, dir string, c Code) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != CodeFile {
		t.Fatalf("dir holds %v, want only %s (no temporary files)", ents, CodeFile)
	}
	path := filepath.Join(dir, CodeFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode())
	}
	if b, _ := os.ReadFile(path); string(b) != string(c)+"\n" {
		t.Fatalf("file holds %q, want %q", b, string(c)+"\n")
	}
}

func TestNewCodeID(t *testing.T) {
	a, err := NewCodeID(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewCodeID(nil)
	if a == b || a == (CodeID{}) || len(a.String()) != 32 {
		t.Fatalf("ids %v %v", a, b)
	}
	if _, err := NewCodeID(bytes.NewReader(make([]byte, 15))); !errors.Is(err, ErrRandom) {
		t.Fatalf("short source: %v", err)
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"2468-1357", "24681357", " 2468 1357", "1234-5678", "00000000", "2468-135a", "", "１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			if c != "" {
				t.Fatalf("code %q with error %v", c, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseCode(%q) = %q, invalid: %v", s, c, err)
		}
		if back, err := ParseCode(c.String()); err != nil || back != c {
			t.Fatalf("round trip %q -> %q: %v", c, back, err)
		}
		if v := c.value(); v == 0 || v >= 1e8 || codeFromUint(v) != c {
			t.Fatalf("value of %q = %d", c, v)
		}
	})
}
