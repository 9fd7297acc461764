package admin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(path, map[string]Handler{
		"echo": func(_ context.Context, a json.RawMessage) (any, error) {
			var v map[string]string
			if err := json.Unmarshal(a, &v); err != nil {
				return nil, err
			}
			return v, nil
		},
		"fail": func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("the window is locked") },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	ctx := context.Background()
	var out map[string]string
	if err := Call(ctx, path, "echo", map[string]string{"a": "b"}, &out); err != nil || out["a"] != "b" {
		t.Fatalf("echo: %v %v", out, err)
	}
	if err := Call(ctx, path, "fail", nil, nil); err == nil || err.Error() != "the window is locked" {
		t.Fatalf("fail: %v", err)
	}
	if err := Call(ctx, path, "nope", nil, nil); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := Listen(path, nil, nil); err == nil {
		t.Fatal("a second server on a live socket must fail")
	}
	s.Close()
	s.Close()
	if err := Call(ctx, path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after close: %v", err)
	}
}
