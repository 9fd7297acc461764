// Package admin is the monitor's local administration API: a Unix socket
// (mode 0660) that the cradled subcommands (pair, status, listeners,
// revoke, reset, events, setup-code) and the simulated pairing button use
// to reach the running daemon.
//
// Both ends are typed: the daemon serves a Backend (Listen), and a Client
// has one method per command, as tailscale's client/local does. Errors
// cross the socket as a code (errors.go maps codes to the Go sentinels),
// so that errors.Is(err, pairing.ErrWindowDuration) holds on the client as it did
// in the daemon.
//
// The protocol is one JSON request per connection, answered by one JSON
// response: {"cmd": "...", "args": {...}} → {"ok": true, "result": ...} or
// {"ok": false, "error": "...", "code": "..."}. Requests are limited to
// MaxRequest bytes. The command names and argument shapes are in api.go
// and nowhere else.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// MaxRequest is the largest request accepted, in bytes.
const MaxRequest = 16 << 10

// request is one admin command on the wire.
type request struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

// response answers a request. Code names the error (see errors.go).
type response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Code   string          `json:"code,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// handler serves one command; the result is encoded as JSON.
type handler func(ctx context.Context, args json.RawMessage) (any, error)

// Server serves the admin socket.
type Server struct {
	ln       net.Listener
	path     string
	handlers map[string]handler
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Listen creates the socket at path (replacing a stale one) with mode 0660
// and serves b on it until Close.
func Listen(path string, b Backend, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin: %s is in use: is another cradled running with this state directory?", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: chmod %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, path: path, handlers: handlers(b), log: log, ctx: ctx, cancel: cancel}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	var resp response
	fail := func(err error) { resp.Error, resp.Code = err.Error(), codeOf(err) }
	if err := json.NewDecoder(io.LimitReader(c, MaxRequest)).Decode(&req); err != nil {
		fail(fmt.Errorf("%w: %v", ErrBadRequest, err))
	} else if h, ok := s.handlers[req.Cmd]; !ok {
		fail(fmt.Errorf("%w %q", ErrUnknownCommand, req.Cmd))
	} else if res, err := h(s.ctx, req.Args); err != nil {
		fail(err)
	} else if b, err := json.Marshal(res); err != nil {
		fail(fmt.Errorf("admin: encode result: %w", err))
	} else {
		resp.OK, resp.Result = true, b
	}
	s.log.Debug("admin request", "cmd", req.Cmd, "ok", resp.OK, "code", resp.Code)
	_ = json.NewEncoder(c).Encode(resp)
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, waits for requests in flight, and removes the
// socket. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.ln.Close()
		s.wg.Wait()
		os.Remove(s.path)
	})
	return nil
}

// call sends one request to the daemon at path and decodes its result
// into out (which may be nil). An error the daemon returned comes back as
// an *Error that unwraps to its sentinel.
func call(ctx context.Context, path, cmd string, args, out any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errConnRefused) {
			return ErrNotRunning
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w: %s: run it with sudo, or join the group cradle (sudo usermod -aG cradle $USER, then log in again)", ErrPermission, path)
		}
		return fmt.Errorf("admin: connect to %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := request{Cmd: cmd}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		req.Args = b
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("admin: send %s: %w", cmd, err)
	}
	var resp response
	if err := json.NewDecoder(io.LimitReader(c, 16<<20)).Decode(&resp); err != nil {
		return fmt.Errorf("admin: read answer to %s: %w", cmd, err)
	}
	if !resp.OK {
		return &Error{Code: resp.Code, Message: resp.Error}
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}
