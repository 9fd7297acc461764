package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSoakPowerCut (make soak): 100 rounds of a power cut. Each round
// starts the real cradled on the same state directory and port, checks
// its trusted listeners against a model, then starts trust changes (a new
// listener pairing with `cradle pair`, `cradled revoke` of a trusted one,
// or both at once) or just lets a listener stream, and SIGKILLs the
// monitor at a random moment while they run. The listener processes are
// then killed too, so nothing can finish against the next monitor.
//
// A change is acknowledged when its command exited 0: `cradle pair`
// prints success only after the monitor's pair_done, `cradled revoke`
// only after the admin socket's answer. After every restart each
// acknowledged change must be there (a paired listener listed with its
// name, a revoked one gone), and nothing else may have changed: no
// listener that never paired appears, none that was not revoked vanishes.
// An unacknowledged change may have happened or not; the next check
// learns which. A listener streams `cradle listen` across all rounds and
// is never revoked. CRADLE_SOAK_KILL_ROUNDS overrides the 100 rounds,
// CRADLE_SOAK_SEED the random seed (logged). Bounded at 8 minutes.
func TestSoakPowerCut(t *testing.T) {
	if os.Getenv("CRADLE_SOAK") == "" {
		t.Skip("soak test: run with make soak")
	}
	rounds := envPositive(t, "CRADLE_SOAK_KILL_ROUNDS", 100)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRADLE_SOAK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CRADLE_SOAK_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (CRADLE_SOAK_SEED=%d repeats this run)", seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, seed))
	const budget = 8 * time.Minute
	began := time.Now()

	dir := t.TempDir()
	state := filepath.Join(dir, "monitor")
	addr := freeUDPAddr(t)
	mon := startMonitor(t, nil, state, addr, "--media", "test", "--log-level", "info")
	code := mon.code(t)
	m := &trustModel{t: t, trusted: map[string]string{}, pending: map[string]string{}}

	// The listener that streams through every round.
	anchor := filepath.Join(dir, "anchor")
	mon.admin(t, "pair")
	mustRun(t, nil, "cradle", "--state-dir", anchor, "--name", "anchor", "pair", mon.addr, "--code", code)
	m.trusted[listenerFP(t, anchor)] = "anchor"
	listen := start(t, nil, "cradle", "--state-dir", anchor, "listen", "Nursery", "--output", "none")
	firstAudio := regexp.MustCompile(`first audio`)
	// The anchor's output from the running monitor's start on: a line
	// at or after since that says "first audio" is from this monitor.
	since, _ := listen.waitLine(0, firstAudio, 15*time.Second)

	var stats struct {
		rounds, streamKills             int
		pairs, pairsAcked, pairsLanded  int
		revokes, revokesAcked, revsDone int
	}
	est := map[string]time.Duration{"pair": 300 * time.Millisecond, "revoke": 100 * time.Millisecond}
	next := 0 // the next new listener's number
	for round := range rounds {
		if time.Since(began) > budget {
			t.Fatalf("round %d: over the %v budget", round, budget)
		}
		// Choose this round's work.
		var ops []*trustOp
		kind := rng.IntN(10)
		revocable := slices.DeleteFunc(slices.Sorted(maps.Keys(m.trusted)), func(fp string) bool { return m.trusted[fp] == "anchor" })
		if kind < 8 { // pair, revoke, or both at once
			if kind < 5 || len(revocable) == 0 || kind == 7 {
				name := fmt.Sprintf("l%d", next)
				next++
				sd := filepath.Join(dir, name)
				fp := listenerFP(t, sd)
				mon.admin(t, "pair")
				ops = append(ops, &trustOp{kind: "pair", name: name, fp: fp,
					cmd: cmdOf("cradle", "--mdns=false", "--state-dir", sd, "--name", name, "pair", mon.addr, "--code", code)})
			}
			if kind >= 5 && len(revocable) > 0 {
				fp := revocable[rng.IntN(len(revocable))]
				ops = append(ops, &trustOp{kind: "revoke", name: m.trusted[fp], fp: fp,
					cmd: cmdOf("cradled", "--state-dir", state, "revoke", fp)})
			}
		}
		var delay time.Duration
		if len(ops) == 0 {
			// Streaming: cut the power while the anchor hears the tone.
			listen.waitLine(since, firstAudio, 15*time.Second)
			delay = time.Duration(rng.Int64N(int64(2 * time.Second)))
			stats.streamKills++
		} else {
			// A moment while the changes run: up to a little past how long
			// an uninterrupted one of them takes.
			longest := time.Duration(0)
			for _, op := range ops {
				longest = max(longest, est[op.kind])
			}
			delay = time.Duration(rng.Int64N(int64(longest*6/5) + 1))
			for _, op := range ops {
				m.begin(op)
				op.start(t)
			}
		}
		time.Sleep(delay)
		mon.signal(syscall.SIGKILL)
		<-mon.done
		for _, op := range ops {
			acked := op.finish()
			m.end(op, acked)
			switch op.kind {
			case "pair":
				stats.pairs++
				if acked {
					stats.pairsAcked++
					est["pair"] = (est["pair"]*7 + op.took) / 8
				}
			case "revoke":
				stats.revokes++
				if acked {
					stats.revokesAcked++
					est["revoke"] = (est["revoke"]*7 + op.took) / 8
				}
			}
		}
		stats.rounds++

		mon = startMonitor(t, nil, state, addr, "--media", "test", "--log-level", "info")
		since = len(listen.snapshot(0))
		landed := m.check(round, mon)
		for _, op := range ops {
			if landed[op] && op.kind == "pair" {
				stats.pairsLanded++
			}
			if landed[op] && op.kind == "revoke" {
				stats.revsDone++
			}
		}
	}
	// The anchor streams again from the last monitor.
	listen.waitLine(since, firstAudio, 15*time.Second)

	t.Logf("%d power cuts in %v (%d while streaming only): pairings %d, acknowledged %d, landed %d (acknowledged or not); revocations %d, acknowledged %d, landed %d; %d listeners trusted at the end; typical pair %v, revoke %v",
		stats.rounds, time.Since(began).Round(time.Second), stats.streamKills,
		stats.pairs, stats.pairsAcked, stats.pairsLanded, stats.revokes, stats.revokesAcked, stats.revsDone,
		len(m.trusted), est["pair"].Round(time.Millisecond), est["revoke"].Round(time.Millisecond))
	// A run that never acknowledged anything tested nothing.
	if rounds >= 20 && (stats.pairsAcked < rounds/10 || stats.revokesAcked < rounds/20) {
		t.Errorf("too few acknowledged changes to test durability: %d pairings, %d revocations", stats.pairsAcked, stats.revokesAcked)
	}
}

// trustModel is what the monitor must trust: the acknowledged changes,
// plus the outcome of unacknowledged ones as the monitor reported it.
type trustModel struct {
	t       *testing.T
	trusted map[string]string // fingerprint -> name
	pending map[string]string // fingerprints of unacknowledged changes -> what
	ops     []*trustOp        // ended since the last check
}

func (m *trustModel) begin(op *trustOp) { m.pending[op.fp] = op.kind + " " + op.name }

// end records an operation's result: an acknowledged change is now
// certain; an unacknowledged one stays pending until the next check.
func (m *trustModel) end(op *trustOp, acked bool) {
	op.acked = acked
	m.ops = append(m.ops, op)
	if !acked {
		return
	}
	delete(m.pending, op.fp)
	switch op.kind {
	case "pair":
		m.trusted[op.fp] = op.name
	case "revoke":
		delete(m.trusted, op.fp)
	}
}

// check compares the monitor's listeners with the model, then settles
// the pending changes by what the monitor says. It returns the
// operations whose change is in effect.
func (m *trustModel) check(round int, mon *monitor) map[*trustOp]bool {
	t := m.t
	t.Helper()
	var ls []struct{ Name, Fingerprint string }
	if err := json.Unmarshal([]byte(mon.admin(t, "listeners", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range ls {
		got[l.Fingerprint] = l.Name
	}
	describe := func() string {
		var b strings.Builder
		for _, op := range m.ops {
			fmt.Fprintf(&b, "\n  %s %s (%s): acknowledged %v after %v, exit %d: %s", op.kind, op.name, op.fp[:7], op.acked, op.took.Round(time.Millisecond), op.exit, strings.TrimSpace(op.out))
		}
		return b.String()
	}
	for fp, name := range m.trusted {
		_, unsure := m.pending[fp]
		switch gname, ok := got[fp]; {
		case !ok && !unsure:
			t.Errorf("round %d: listener %s (%s) vanished after a power cut; it was not revoked. This round:%s", round, name, fp[:7], describe())
		case ok && gname != name:
			t.Errorf("round %d: listener %s is listed as %q", round, name, gname)
		}
	}
	for fp, gname := range got {
		if _, ok := m.trusted[fp]; !ok {
			if _, unsure := m.pending[fp]; !unsure {
				t.Errorf("round %d: listener %q (%s) is trusted but was never paired, or its revocation was acknowledged. This round:%s", round, gname, fp[:7], describe())
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	landed := map[*trustOp]bool{}
	for _, op := range m.ops {
		_, in := got[op.fp]
		landed[op] = in == (op.kind == "pair")
	}
	for fp := range m.pending {
		if name, ok := got[fp]; ok {
			m.trusted[fp] = name
		} else {
			delete(m.trusted, fp)
		}
	}
	clear(m.pending)
	m.ops = nil
	return landed
}

// trustOp is one pairing or revocation, run as its command.
type trustOp struct {
	kind, name, fp string
	cmd            *exec.Cmd
	out            string
	began          time.Time
	took           time.Duration
	done           chan error
	buf            bytes.Buffer
	exit           int
	acked          bool
}

func cmdOf(bin string, args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(binDir, bin), args...)
}

func (op *trustOp) start(t *testing.T) {
	op.cmd.Stdout, op.cmd.Stderr = &op.buf, &op.buf
	op.began = time.Now()
	if err := op.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	op.done = make(chan error, 1)
	go func() {
		err := op.cmd.Wait()
		op.took = time.Since(op.began)
		op.done <- err
	}()
}

// finish kills the command if it still runs and reports whether it had
// succeeded: exited 0 on its own.
func (op *trustOp) finish() bool {
	op.cmd.Process.Signal(syscall.SIGKILL)
	<-op.done
	op.exit = op.cmd.ProcessState.ExitCode()
	op.out = op.buf.String()
	return op.cmd.ProcessState.Success()
}

// listenerFP creates (or reads) the identity in a listener's state
// directory and returns its fingerprint.
func listenerFP(t *testing.T, stateDir string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, nil, "cradle", "--state-dir", stateDir, "id"))
}

// freeUDPAddr is a loopback address with a UDP port nobody uses now.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}
