package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

// Defaults for zero Options fields.
const (
	DefaultWait      = 5 * time.Second
	DefaultDeadAfter = 3250 * time.Millisecond // the default heartbeat: 3 × 1 s + 1 s/4
)

// Options tune Run. The zero value runs every check that needs no
// secret and no long wait.
type Options struct {
	// Fingerprint is the monitor's; a zero one accepts any monitor (and
	// the report says the identity was not checked).
	Fingerprint identity.Fingerprint
	// SetupCode, with the monitor's pairing window open, lets Run pair a
	// fresh identity and check the pairing rules (this closes the window,
	// and leaves one more listener on the monitor's allowlist).
	SetupCode string
	// Trusted is an identity on the monitor's allowlist, for the checks of
	// a trusted connection; nil skips them (unless SetupCode pairs one).
	Trusted *identity.Identity
	// Timeouts runs the checks that wait for the monitor's own timeouts:
	// the 2 s hello timeout and the heartbeat (DeadAfter).
	Timeouts bool
	// Wait bounds each wait for an answer (default DefaultWait).
	Wait time.Duration
	// DeadAfter is the monitor's heartbeat deadline, for the timeout
	// check (default DefaultDeadAfter).
	DeadAfter time.Duration
}

// Result is one check's outcome.
type Result struct {
	Name    string
	Err     error  // nil: passed
	Skipped string // why it did not run; then Err is nil
	Note    string // what a passed check measured, if anything
}

// Report lists every check in the order run.
type Report struct {
	Results                 []Result
	Passed, Failed, Skipped int
}

// OK reports whether no check failed.
func (r Report) OK() bool { return r.Failed == 0 }

// ErrUnreachable: Run could not complete a QUIC handshake with the
// address at all, so no check ran.
var ErrUnreachable = errors.New("conformance: no Cradle monitor answered at that address")

// Run drives the monitor at addr ("host:port") through the behaviours of
// docs/PROTOCOL.md and writes one line per check to w ("PASS name",
// "FAIL name: why", "SKIP name: why") and a summary. It returns the report;
// the error is non-nil only when nothing could be checked (ErrUnreachable,
// ctx cancelled, or w failing).
func Run(ctx context.Context, addr string, opts Options, w io.Writer) (Report, error) {
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = DefaultDeadAfter
	}
	r := &runner{ctx: ctx, addr: addr, opts: opts, out: w}
	var err error
	if r.stranger, err = NewIdentity("cradle conformance"); err != nil {
		return Report{}, err
	}
	first, err := r.dial(r.stranger)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	first.close()
	if opts.Fingerprint.IsZero() {
		r.skip("monitor identity pinned", "no fingerprint given: any monitor accepted")
	} else {
		r.pass("monitor identity pinned")
	}
	for _, c := range r.checks() {
		if err := ctx.Err(); err != nil {
			return r.rep, err
		}
		if c.skip != "" {
			r.skip(c.name, c.skip)
			continue
		}
		r.record(c.name, c.run())
	}
	_, err = fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", r.rep.Passed, r.rep.Failed, r.rep.Skipped)
	return r.rep, err
}

type runner struct {
	ctx      context.Context
	addr     string
	opts     Options
	out      io.Writer
	rep      Report
	stranger *identity.Identity
	paired   *identity.Identity // trusted, from opts or from pairing
}

type check struct {
	name string
	skip string
	run  func() error
}

// skipped is returned by a check that found it cannot run here.
type skipped string

func (s skipped) Error() string { return string(s) }

// measured is returned by a check that passed, with what it measured.
type measured string

func (m measured) Error() string { return string(m) }

func (r *runner) record(name string, err error) {
	var s skipped
	if errors.As(err, &s) {
		r.skip(name, string(s))
		return
	}
	var note measured
	if errors.As(err, &note) {
		r.rep.Results = append(r.rep.Results, Result{Name: name, Note: string(note)})
		r.rep.Passed++
		fmt.Fprintf(r.out, "PASS  %s (%s)\n", name, note)
		return
	}
	r.rep.Results = append(r.rep.Results, Result{Name: name, Err: err})
	if err != nil {
		r.rep.Failed++
		fmt.Fprintf(r.out, "FAIL  %s: %v\n", name, err)
		return
	}
	r.rep.Passed++
	fmt.Fprintf(r.out, "PASS  %s\n", name)
}

func (r *runner) pass(name string) { r.record(name, nil) }

func (r *runner) skip(name, why string) {
	r.rep.Results = append(r.rep.Results, Result{Name: name, Skipped: why})
	r.rep.Skipped++
	fmt.Fprintf(r.out, "SKIP  %s: %s\n", name, why)
}

func (r *runner) dial(id *identity.Identity) (*wire, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.Wait)
	defer cancel()
	return dialWire(ctx, r.addr, id, r.opts.Fingerprint)
}

// session dials as id, says hello and returns the connection after its
// hello_ack.
func (r *runner) session(id *identity.Identity) (*wire, control.HelloAck, error) {
	c, err := r.dial(id)
	if err != nil {
		return nil, control.HelloAck{}, err
	}
	ack, err := c.hello(r.opts.Wait, "cradle conformance", id)
	if err != nil {
		c.close()
		return nil, control.HelloAck{}, err
	}
	return c, ack, nil
}

// closes runs a connection that says hello (if hello is set), sends
// payload, and must then get error{code, ref} and the close with code.
func (r *runner) closes(hello bool, payload []byte, fin bool, code control.Code, ref control.Type) func() error {
	return func() error {
		var c *wire
		var err error
		if hello {
			c, _, err = r.session(r.stranger)
		} else {
			c, err = r.dial(r.stranger)
		}
		if err != nil {
			return err
		}
		defer c.close()
		if len(payload) > 0 {
			if err := c.write(payload); err != nil {
				return err
			}
		}
		if fin {
			c.st.Close()
		}
		return c.expectClose(r.opts.Wait+transport.CloseLinger, code, ref)
	}
}

func (r *runner) checks() []check {
	encoded := func(m control.Message) []byte {
		b, _ := control.Encode(m)
		return frameOf(string(b))
	}
	cs := []check{
		{name: "hello_ack is the monitor's first frame, protocol 1, role monitor, untrusted", run: r.checkHelloAck},
		{name: "ping is answered with pong echoing seq and sent; the monitor pings with sent < 2^53", run: r.checkHeartbeat},
		{name: "unknown message types: two answered with error unknown_message, the third closes with unknown_message (9)", run: r.checkUnknown},
		{name: "trust gate: stream_start from an unpaired listener gets error untrusted, then close untrusted (2)",
			run: r.closes(true, encoded(control.StreamStart{Session: "c", Kind: control.StreamAudio}), false, control.CodeUntrusted, control.TypeStreamStart)},
		{name: historyStrangerName, run: r.checkHistoryStranger},
		{name: "unsupported protocol version gets error protocol_error, then close protocol_error (12)",
			run: r.closes(false, encoded(control.Hello{Protocol: 99, Role: control.RoleListener}), false, control.CodeProtocol, control.TypeHello)},
		{name: "a first message other than hello gets error protocol_error, then close protocol_error (12)",
			run: r.closes(false, encoded(control.Ping{Seq: 1}), false, control.CodeProtocol, control.TypePing)},
		{name: "a frame over 64 KiB gets error frame_too_large, then close frame_too_large (7)",
			run: r.closes(true, []byte{0, 1, 0, 1}, false, control.CodeFrameTooLarge, "")},
		{name: "a frame that is not JSON gets error malformed_frame, then close malformed_frame (8)",
			run: r.closes(true, frameOf("not json"), false, control.CodeMalformedFrame, "")},
		{name: "a zero-length frame gets error malformed_frame, then close malformed_frame (8)",
			run: r.closes(true, []byte{0, 0, 0, 0}, false, control.CodeMalformedFrame, "")},
		{name: "a truncated frame then end of stream gets error malformed_frame, then close malformed_frame (8)",
			run: r.closes(true, append([]byte{0, 0, 0, 100}, "0123456789"...), true, control.CodeMalformedFrame, "")},
		{name: "end of stream without bye gets error protocol_error, then close protocol_error (12)",
			run: r.closes(true, nil, true, control.CodeProtocol, "")},
		{name: "bye is answered with the close, code none (0)", run: r.checkBye},
		{name: "pair_confirm without pair_start gets error protocol_error and the connection stays", run: r.checkConfirmFirst},
		{name: "pair_start with a name over 64 bytes gets error bad_request and the connection stays", run: r.checkLongName},
		{name: "a stranger while the pairing window is closed gets hello_ack, then close pairing_closed (3)", run: r.checkWindowClosed},
	}
	if r.opts.SetupCode == "" {
		cs = append(cs, check{name: "pairing with the setup code on the same connection, then trusted", skip: "no setup code given"})
	} else {
		cs = append(cs, check{name: "pairing with the setup code on the same connection, then trusted", run: r.checkPairing},
			check{name: "one successful pairing closes the pairing window (a stranger is closed with pairing_closed)", run: r.checkWindowClosedAfterPairing})
	}
	cs = append(cs, check{name: "a paired listener is trusted on a new connection and gets status", run: r.checkTrusted},
		check{name: historyPagesName, run: r.checkHistoryPages}, check{name: historyBadName, run: r.checkHistoryBad})
	if !r.opts.Timeouts {
		cs = append(cs,
			check{name: "no hello within 2 s gets error idle_timeout, then close idle_timeout (10)", skip: "timeouts not requested"},
			check{name: "a silent listener is closed with idle_timeout (10) by the heartbeat", skip: "timeouts not requested"},
			check{name: deafName, skip: "timeouts not requested"})
	} else {
		cs = append(cs,
			check{name: "no hello within 2 s gets error idle_timeout, then close idle_timeout (10)", run: r.checkHelloTimeout},
			check{name: "a silent listener is closed with idle_timeout (10) by the heartbeat", run: r.checkSilent},
			check{name: deafName, run: r.checkDeaf})
	}
	return cs
}

func (r *runner) checkHelloAck() error {
	c, err := r.dial(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	// Ping right after hello: the pong must still come after hello_ack.
	if err := c.send(control.Hello{Protocol: control.ProtocolVersion, Role: control.RoleListener,
		DeviceID: r.stranger.Fingerprint.DeviceID(), Name: "cradle conformance"}); err != nil {
		return err
	}
	if err := c.send(control.Ping{Seq: 1, Sent: 1}); err != nil {
		return err
	}
	m, err := c.next(r.opts.Wait)
	if err != nil {
		return fmt.Errorf("no answer to hello: %w", err)
	}
	ack, ok := m.(control.HelloAck)
	if !ok {
		return fmt.Errorf("first frame is %s, want hello_ack", describe(m))
	}
	switch {
	case ack.Protocol != control.ProtocolVersion || ack.Role != control.RoleMonitor:
		return fmt.Errorf("hello_ack says protocol %d role %q, want 1 and monitor", ack.Protocol, ack.Role)
	case ack.Trusted:
		return errors.New("hello_ack trusts a listener the monitor has never seen")
	case !r.opts.Fingerprint.IsZero() && ack.DeviceID != r.opts.Fingerprint.DeviceID():
		return fmt.Errorf("hello_ack device_id %q, want the monitor's %q", ack.DeviceID, r.opts.Fingerprint.DeviceID())
	}
	return nil
}

func (r *runner) checkHeartbeat() error {
	c, _, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	const sent = control.MaxJSONInt - 7 // the largest values must come back exactly
	if err := c.send(control.Ping{Seq: 42, Sent: sent}); err != nil {
		return err
	}
	gotPong, gotPing := false, false
	deadline := time.Now().Add(r.opts.Wait)
	for !gotPong || !gotPing {
		m, err := c.next(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("pong %v, monitor ping %v: %w", gotPong, gotPing, err)
		}
		switch m := m.(type) {
		case control.Pong:
			if m.Seq != 42 || m.Echo != sent {
				return fmt.Errorf("pong %s, want seq 42 echo %d", describe(m), int64(sent))
			}
			gotPong = true
		case control.Ping:
			if m.Seq == 0 || m.Sent < 0 || m.Sent > control.MaxJSONInt {
				return fmt.Errorf("monitor ping %s: seq must start at 1 and sent fit in 0..2^53-1", describe(m))
			}
			gotPing = true
			_ = c.send(control.Pong{Seq: m.Seq, Echo: m.Sent})
		}
	}
	return nil
}

func (r *runner) checkUnknown() error {
	c, _, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	for i := 1; i <= 2; i++ {
		if err := c.write(frameOf(`{"type":"x_conformance","body":{"n":1}}`)); err != nil {
			return err
		}
		if err := c.expectError(r.opts.Wait, control.CodeUnknownMessage, "x_conformance"); err != nil {
			return fmt.Errorf("unknown message %d: %w", i, err)
		}
		if err := c.alive(r.opts.Wait, uint64(i)); err != nil {
			return fmt.Errorf("after unknown message %d: %w", i, err)
		}
	}
	if err := c.write(frameOf(`{"type":"x_conformance"}`)); err != nil {
		return err
	}
	return c.expectClose(r.opts.Wait+transport.CloseLinger, control.CodeUnknownMessage, "x_conformance")
}

func (r *runner) checkBye() error {
	c, _, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.send(control.Bye{Code: control.CodeNone.String(), Reason: "conformance"}); err != nil {
		return err
	}
	_, code, err := c.closing(r.opts.Wait + transport.CloseLinger)
	if err != nil {
		return err
	}
	if code != control.CodeNone {
		return fmt.Errorf("closed with %v, want none (0)", code)
	}
	return nil
}

func (r *runner) checkConfirmFirst() error {
	return r.refusedAndAlive(control.PairConfirm{CA: make([]byte, 32)}, control.CodeProtocol, 7)
}

// refusedAndAlive sends m on a stranger's connection, expects the error
// code for it, and checks the connection still answers.
func (r *runner) refusedAndAlive(m control.Message, code control.Code, seq uint64) error {
	c, _, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.send(m); err != nil {
		return err
	}
	if err := c.expectError(r.opts.Wait, code, m.MessageType()); err != nil {
		return err
	}
	return c.alive(r.opts.Wait, seq)
}

func (r *runner) checkLongName() error {
	return r.refusedAndAlive(control.PairStart{Name: strings.Repeat("n", 65), PA: make([]byte, 65)}, control.CodeBadRequest, 8)
}

func (r *runner) checkWindowClosed() error {
	c, ack, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	if ack.PairingOpen {
		return skipped("the pairing window is open")
	}
	return r.pairStartClosed(c)
}

// pairStartClosed: a monitor whose window is closed has nothing to
// offer a stranger once it answered hello: it closes the connection
// with pairing_closed (its error frame first).
func (r *runner) pairStartClosed(c *wire) error {
	return c.expectClose(r.opts.Wait+transport.CloseLinger, control.CodePairingClosed, "")
}

// pakeListener starts the listener's side of SPAKE2 bound to c.
func (r *runner) pakeListener(c *wire, id *identity.Identity, code string) (*pake.Initiator, error) {
	cs := c.qc.ConnectionState().TLS
	binding, err := cs.ExportKeyingMaterial(transport.ExporterLabel, nil, transport.ExporterLen)
	if err != nil {
		return nil, err
	}
	monitor, err := identity.PeerFingerprint(cs)
	if err != nil {
		return nil, err
	}
	return pake.NewInitiator(pake.Params{Code: code, ListenerID: id.Fingerprint, MonitorID: monitor, Binding: binding}, nil)
}

func (r *runner) checkPairing() error {
	id, err := NewIdentity("cradle conformance (paired)")
	if err != nil {
		return err
	}
	c, ack, err := r.session(id)
	if err != nil {
		return err
	}
	defer c.close()
	if !ack.PairingOpen {
		return errors.New("hello_ack says the pairing window is closed: open it (press the button) and run again")
	}
	l, err := r.pakeListener(c, id, strings.ReplaceAll(r.opts.SetupCode, "-", ""))
	if err != nil {
		return err
	}
	pA, err := l.Start()
	if err != nil {
		return err
	}
	if err := c.send(control.PairStart{Name: "cradle conformance", PA: pA}); err != nil {
		return err
	}
	m, err := c.await(r.opts.Wait)
	if err != nil {
		return err
	}
	reply, ok := m.(control.PairReply)
	if !ok {
		return fmt.Errorf("pair_start answered with %s, want pair_reply", describe(m))
	}
	cA, err := l.Finish(reply.PB)
	if err != nil {
		return fmt.Errorf("pair_reply: %w", err)
	}
	if err := c.send(control.PairConfirm{CA: cA}); err != nil {
		return err
	}
	if m, err = c.await(r.opts.Wait); err != nil {
		return err
	}
	done, ok := m.(control.PairDone)
	if !ok {
		return fmt.Errorf("pair_confirm answered with %s, want pair_done (is the setup code right?)", describe(m))
	}
	if _, err := l.Verify(done.CB); err != nil {
		return fmt.Errorf("pair_done: the monitor's confirmation is wrong: %w", err)
	}
	// Trusted from now on, on this same connection: status arrives, and
	// stream_stop (trusted-only) does not close the connection.
	if err := c.send(control.StreamStop{Session: "conformance"}); err != nil {
		return err
	}
	if err := r.statusArrives(c); err != nil {
		return fmt.Errorf("after pair_done: %w", err)
	}
	if err := c.alive(r.opts.Wait, 10); err != nil {
		return fmt.Errorf("after pair_done, a trusted-only message closed the connection: %w", err)
	}
	r.paired = id
	return nil
}

func (r *runner) statusArrives(c *wire) error {
	deadline := time.Now().Add(r.opts.Wait)
	for {
		m, err := c.next(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("no status: %w", err)
		}
		switch m := m.(type) {
		case control.Status:
			return nil
		case control.Ping:
			_ = c.send(control.Pong{Seq: m.Seq, Echo: m.Sent})
		}
	}
}

func (r *runner) checkWindowClosedAfterPairing() error {
	if r.paired == nil {
		return errors.New("pairing did not succeed")
	}
	c, ack, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	if ack.PairingOpen {
		return errors.New("hello_ack says the pairing window is still open")
	}
	return r.pairStartClosed(c)
}

func (r *runner) checkTrusted() error {
	id := r.opts.Trusted
	if id == nil {
		id = r.paired
	}
	if id == nil {
		return skipped("no trusted identity given and no pairing done")
	}
	c, ack, err := r.session(id)
	if err != nil {
		return err
	}
	defer c.close()
	if !ack.Trusted {
		return errors.New("hello_ack says untrusted")
	}
	return r.statusArrives(c)
}

func (r *runner) checkHelloTimeout() error {
	c, err := r.dial(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.write([]byte{0, 0}); err != nil { // half a header: the stream exists
		return err
	}
	start := time.Now()
	if err := c.expectClose(transport.DefaultHelloTimeout+r.opts.Wait, control.CodeIdleTimeout, ""); err != nil {
		return err
	}
	if d := time.Since(start); d > transport.DefaultHelloTimeout+r.opts.Wait {
		return fmt.Errorf("closed after %v", d)
	}
	return nil
}

const deafName = "a listener that sends pings but answers none of the monitor's is closed with idle_timeout (10) within deadAfter"

// checkDeaf plays a listener whose answers no longer reach the monitor
// while its own pings still do (section 3.2: only a pong to the monitor's
// own ping is a sign of life): it reads everything, pings every 500 ms and
// answers nothing. The monitor must close it with idle_timeout within
// DeadAfter (and Wait) of its first unanswered ping.
func (r *runner) checkDeaf() error {
	id := r.opts.Trusted
	if id == nil {
		id = r.paired
	}
	if id == nil {
		id = r.stranger
	}
	c, _, err := r.session(id)
	if err != nil {
		return err
	}
	defer c.close()
	start := time.Now()
	limit := r.opts.DeadAfter + r.opts.Wait
	go func() { // read and drop everything, pings included
		for {
			if _, err := c.next(limit + time.Second); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for seq := uint64(1); ; seq++ {
		_ = c.send(control.Ping{Seq: seq, Sent: int64(seq) * 1000})
		select {
		case <-c.qc.Context().Done():
		case <-tick.C:
			if time.Since(start) > limit {
				return fmt.Errorf("still open after %v without a pong to the monitor's pings, though pinging it", limit)
			}
			continue
		case <-time.After(limit):
			return fmt.Errorf("still open after %v without a pong to the monitor's pings, though pinging it", limit)
		}
		break
	}
	if d := time.Since(start); d < r.opts.DeadAfter/2 {
		return fmt.Errorf("closed after only %v", d)
	}
	cause := context.Cause(c.qc.Context())
	if code, ok := appCode(cause); !ok || code != control.CodeIdleTimeout {
		return fmt.Errorf("closed with %v, want idle_timeout (10)", cause)
	}
	return nil
}

func (r *runner) checkSilent() error {
	// A paired identity if there is one: a stranger is closed at once
	// while the window is closed (pairing_closed), not by the heartbeat.
	id := r.opts.Trusted
	if id == nil {
		id = r.paired
	}
	if id == nil {
		id = r.stranger
	}
	c, _, err := r.session(id)
	if err != nil {
		return err
	}
	defer c.close()
	start := time.Now()
	limit := r.opts.DeadAfter + r.opts.Wait
	select { // read nothing, answer nothing
	case <-c.qc.Context().Done():
	case <-time.After(limit):
		return fmt.Errorf("still open after %v of silence", limit)
	}
	if d := time.Since(start); d < r.opts.DeadAfter/2 {
		return fmt.Errorf("closed after only %v", d)
	}
	cause := context.Cause(c.qc.Context())
	if code, ok := appCode(cause); !ok || code != control.CodeIdleTimeout {
		return fmt.Errorf("closed with %v, want idle_timeout (10)", cause)
	}
	return nil
}
