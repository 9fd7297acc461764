package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeBackend records the calls it gets and answers from its fields.
type fakeBackend struct {
	calls []string
	err   error // returned by every method when set
	until time.Time
}

func (f *fakeBackend) rec(format string, args ...any) error {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeBackend) OpenPairing(_ context.Context, d time.Duration) (time.Time, error) {
	return f.until, f.rec("pair %v", d)
}
func (f *fakeBackend) ClosePairing(context.Context) error { return f.rec("close-pairing") }
func (f *fakeBackend) Status(context.Context) (Status, error) {
	return Status{Name: "Nursery", Port: 48080, Connections: []ConnectionInfo{{ID: 7, Trusted: true}}}, f.rec("status")
}
func (f *fakeBackend) Listeners(context.Context) ([]ListenerInfo, error) {
	return []ListenerInfo{{Name: "phone", Online: true}}, f.rec("listeners")
}
func (f *fakeBackend) SetupInfo(context.Context) (SetupInfo, error) {
	return SetupInfo{Code: "2468-1357", Payload: "CR:x"}, f.rec("setup-code")
}
func (f *fakeBackend) Revoke(_ context.Context, fp string) error { return f.rec("revoke %s", fp) }
func (f *fakeBackend) FactoryReset(context.Context) error        { return f.rec("reset") }
func (f *fakeBackend) Wipe(context.Context) error                { return f.rec("wipe") }
func (f *fakeBackend) Events(_ context.Context, since uint64) ([]EventInfo, error) {
	return []EventInfo{{Seq: since + 1, Type: "listener_trusted"}}, f.rec("events %d", since)
}

func serve(t *testing.T, b Backend) (*Server, *Client) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &Client{Path: path}
}

// TestClientMethods: each typed method reaches its Backend method with its
// arguments and brings back its result.
func TestClientMethods(t *testing.T) {
	until := time.Date(2026, 3, 1, 22, 3, 0, 0, time.UTC)
	b := &fakeBackend{until: until}
	s, c := serve(t, b)
	ctx := context.Background()
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if u, err := c.OpenPairing(ctx, 5*time.Minute); err != nil || !u.Equal(until) {
		t.Errorf("OpenPairing: %v %v", u, err)
	}
	if err := c.ClosePairing(ctx); err != nil {
		t.Error(err)
	}
	if st, err := c.Status(ctx); err != nil || st.Name != "Nursery" || len(st.Connections) != 1 || st.Connections[0].ID != 7 {
		t.Errorf("Status: %+v %v", st, err)
	}
	if ls, err := c.Listeners(ctx); err != nil || len(ls) != 1 || !ls[0].Online {
		t.Errorf("Listeners: %+v %v", ls, err)
	}
	if si, err := c.SetupInfo(ctx); err != nil || si.Code != "2468-1357" {
		t.Errorf("SetupInfo: %+v %v", si, err)
	}
	if err := c.Revoke(ctx, "FP"); err != nil {
		t.Error(err)
	}
	if err := c.FactoryReset(ctx); err != nil {
		t.Error(err)
	}
	if err := c.Wipe(ctx); err != nil {
		t.Error(err)
	}
	if evs, err := c.Events(ctx, 41); err != nil || len(evs) != 1 || evs[0].Seq != 42 {
		t.Errorf("Events: %+v %v", evs, err)
	}
	want := []string{"pair 5m0s", "close-pairing", "status", "listeners", "setup-code", "revoke FP", "reset", "wipe", "events 41"}
	if !reflect.DeepEqual(b.calls, want) {
		t.Errorf("calls:\n got %q\nwant %q", b.calls, want)
	}
}

// TestTypedErrors: a sentinel the daemon returns is the same sentinel on
// the client (errors.Is), with the daemon's text; an error without one
// keeps its text and matches none.
func TestTypedErrors(t *testing.T) {
	ctx := context.Background()
	for _, sentinel := range []error{pairing.ErrWindowDuration, ErrUnknownListener, identity.ErrBadFingerprint, ErrNoEffect} {
		t.Run(codeOf(sentinel), func(t *testing.T) {
			if codeOf(sentinel) == "" {
				t.Fatalf("%v has no code", sentinel)
			}
			daemonErr := fmt.Errorf("%w: with detail", sentinel)
			_, c := serve(t, &fakeBackend{err: daemonErr})
			err := c.Revoke(ctx, "FP")
			if !errors.Is(err, sentinel) {
				t.Fatalf("got %v (%T), want errors.Is %v", err, err, sentinel)
			}
			if err.Error() != daemonErr.Error() {
				t.Fatalf("text %q, want %q", err, daemonErr)
			}
			for _, other := range codes {
				if other.err != sentinel && errors.Is(err, other.err) {
					t.Fatalf("%v also matches %v", err, other.err)
				}
			}
		})
	}
	_, c := serve(t, &fakeBackend{err: errors.New("the disk is full")})
	err := c.FactoryReset(ctx)
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != "" || err.Error() != "the disk is full" || errors.Unwrap(err) != nil {
		t.Fatalf("plain error: %#v", err)
	}
}

func TestUnknownCommandAndBadRequest(t *testing.T) {
	s, _ := serve(t, &fakeBackend{})
	ctx := context.Background()
	if err := call(ctx, s.Path(), "teleport", nil, nil); !errors.Is(err, ErrUnknownCommand) || !strings.Contains(err.Error(), "teleport") {
		t.Fatalf("unknown command: %v", err)
	}
	if err := call(ctx, s.Path(), cmdEvents, "not an object", nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad args: %v", err)
	}
}

func TestNotRunningAndClose(t *testing.T) {
	s, c := serve(t, &fakeBackend{})
	if _, err := Listen(s.Path(), &fakeBackend{}, nil); err == nil {
		t.Fatal("a second server on a live socket must fail")
	}
	s.Close()
	s.Close()
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after close: %v", err)
	}
}
