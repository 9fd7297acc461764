// Package unpriv runs a test as an unprivileged user, so that a property
// root bypasses (file and directory permissions) is still checked when the
// tests run as root, as they do in CI.
//
// A test calls Run first thing:
//
//	if !unpriv.Run(t) {
//		return // it ran as nobody, in a child process
//	}
//	// ... the test body, running unprivileged ...
//
// Run returns true when the process is not root: the body runs here. As
// root it copies the test binary where nobody can execute it, runs only
// this test in it as uid and gid 65534 (nobody, without supplementary
// groups), fails t with the child's output if the child failed or did not
// run the test, and returns false.
package unpriv

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Nobody is the uid and gid the test runs as under root.
const Nobody = 65534

// Run runs the calling test unprivileged; see the package comment.
func Run(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return true
	}
	dir, err := os.MkdirTemp("", "unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "test.bin")
	if err := copyFile(bin, os.Args[0]); err != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", runPattern(t.Name()), "-test.v", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as uid %d: %v\n%s", t.Name(), Nobody, err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")) {
		t.Fatalf("%s as uid %d did not run (skipped, or not matched):\n%s", t.Name(), Nobody, out)
	}
	t.Logf("ran as uid %d", Nobody)
	return false
}

// runPattern matches exactly the test named name (subtests included).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
