package admin

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/deploy/unpriv"
)

// TestPermissionDenied: a user who may not use the socket is told how to
// get access (the package's socket is the group cradle's).
func TestPermissionDenied(t *testing.T) {
	if !unpriv.Run(t) { // root ignores the socket's mode
		return
	}
	path := filepath.Join(t.TempDir(), "cradled.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = (&Client{Path: path}).Status(ctx)
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "group cradle") {
		t.Fatalf("Status on a socket this user may not use: %v", err)
	}
}
