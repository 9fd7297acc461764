package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashEnv names the store path for TestHelperProcess; crashEnv+"_SEED"
// seeds what it appends.
const crashEnv = "CRADLE_STORE_CRASH_CHILD"

// crashToken draws one change, written as a token the parent can replay:
// t<n> trusts fp(n) as "L<n>", r<n> revokes it, x resets trust, o<n>/c<n>
// open and close connection n, d<n> trusts web device "D<n>" (credential
// hash fp(n)), v<n> revokes it.
func crashToken(r *rand.Rand) string {
	n := r.IntN(8)
	switch k := r.IntN(24); {
	case k >= 22:
		return fmt.Sprint("d", n)
	case k >= 20:
		return fmt.Sprint("v", n)
	case k < 7:
		return fmt.Sprint("t", n)
	case k < 10:
		return fmt.Sprint("r", n)
	case k < 11:
		return "x"
	case k < 16:
		return fmt.Sprint("o", n)
	default:
		return fmt.Sprint("c", n)
	}
}

func tokenPayload(tok string) Payload {
	n, _ := strconv.Atoi(tok[1:])
	switch tok[0] {
	case 't':
		return ListenerTrusted{Fingerprint: fp(n), Name: fmt.Sprint("L", n)}
	case 'r':
		return ListenerRevoked{Fingerprint: fp(n), Reason: "crash test"}
	case 'x':
		return TrustReset{Reason: "crash test"}
	case 'd':
		return DeviceTrusted{ID: fmt.Sprint("D", n), Name: fmt.Sprint("phone ", n), CredentialHash: fp(n)}
	case 'v':
		return DeviceRevoked{ID: fmt.Sprint("D", n), Reason: "crash test"}
	case 'o':
		return ConnectionOpened{ConnID: tok[1:], Fingerprint: fp(n)}
	default:
		return ConnectionClosed{ConnID: tok[1:], Fingerprint: fp(n), Reason: "crash test"}
	}
}

// eventToken is the inverse of tokenPayload.
func eventToken(e Event) string {
	switch p := e.Payload.(type) {
	case ListenerTrusted:
		return fmt.Sprint("t", p.Fingerprint[0])
	case ListenerRevoked:
		return fmt.Sprint("r", p.Fingerprint[0])
	case TrustReset:
		return "x"
	case DeviceTrusted:
		return "d" + p.ID[1:]
	case DeviceRevoked:
		return "v" + p.ID[1:]
	case ConnectionOpened:
		return "o" + p.ConnID
	case ConnectionClosed:
		return "c" + p.ConnID
	}
	return fmt.Sprintf("?%v", e.Payload)
}

// TestHelperProcess is the child of TestCrash: it appends batches in a
// loop, printing "want <tokens>" before each Append and "ack <seq>
// <tokens>" after it returns, until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashEnv+"_SEED"), 10, 64)
	s, err := Open(path, Options{SnapshotEvery: 5})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	r := rand.New(rand.NewPCG(seed, 1))
	for {
		toks := make([]string, 1+r.IntN(3))
		ps := make([]Payload, len(toks))
		for i := range toks {
			toks[i] = crashToken(r)
			ps[i] = tokenPayload(toks[i])
		}
		line := strings.Join(toks, " ")
		fmt.Println("want", line)
		last, err := s.Append(context.Background(), ps...)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println("ack", last, line)
	}
}

type crashBatch struct {
	last uint64 // 0: not acknowledged
	toks []string
}

// runChild runs TestHelperProcess against path, kills it with SIGKILL
// kill after it is ready, and returns the batches it acknowledged and the
// one it was appending, if any.
func runChild(t *testing.T, path string, seed uint64, kill time.Duration) (acked []crashBatch, inflight *crashBatch) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, fmt.Sprint(crashEnv, "_SEED=", seed))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		rd := bufio.NewReader(out)
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				return // a line cut by the kill has no newline: dropped
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()

	var killAt <-chan time.Time
	deadline := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 0:
			case f[0] == "ready":
				killAt = time.After(kill)
			case f[0] == "want":
				inflight = &crashBatch{toks: f[1:]}
			case f[0] == "ack":
				last, _ := strconv.ParseUint(f[1], 10, 64)
				acked = append(acked, crashBatch{last: last, toks: f[2:]})
				inflight = nil
			default:
				t.Errorf("child: %s", l)
			}
		case <-killAt:
			cmd.Process.Kill()
			killAt = nil
		case <-deadline:
			cmd.Process.Kill()
			t.Errorf("child did not get ready or end within 30s")
			deadline = nil
		}
	}
	cmd.Wait()
	if t.Failed() {
		t.Fatalf("child stderr:\n%s", stderr.String())
	}
	return acked, inflight
}

// TestCrash kills a process that is appending at random points, then
// checks that every acknowledged append survived, that a batch is stored
// whole or not at all, and that the rebuilt allowlist and trusted devices
// are the ones the surviving events give.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	r := rand.New(rand.NewPCG(42, 0))
	var log []string                        // tokens of the verified log, by seq-1
	model := map[[32]byte]TrustedListener{} // the allowlist the verified log gives
	devices := map[string]TrustedDevice{}   // the devices it gives
	start := time.Now()
	const rounds = 60
	totalAcked := 0
	for round := range rounds {
		acked, inflight := runChild(t, path, uint64(round), time.Duration(20+r.IntN(61))*time.Millisecond)

		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		var got []Event
		if err := s.Events(uint64(len(log)), func(e Event) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		var toks []string
		for _, e := range got {
			toks = append(toks, eventToken(e))
		}
		// The acknowledged batches come first, at the seqs Append returned.
		i := 0
		for _, b := range acked {
			for _, tok := range b.toks {
				if i >= len(toks) || toks[i] != tok {
					t.Fatalf("round %d: acknowledged event %d (%s) is missing or wrong: log has %v", round, len(log)+i+1, tok, toks)
				}
				i++
			}
			if want := uint64(len(log) + i); b.last != want {
				t.Fatalf("round %d: Append returned seq %d for a batch ending at %d", round, b.last, want)
			}
		}
		totalAcked += i
		// Then, perhaps, the whole batch that was in flight.
		if rest := toks[i:]; len(rest) > 0 && (inflight == nil || !reflect.DeepEqual(rest, inflight.toks)) {
			t.Fatalf("round %d: after the acknowledged events the log has %v; want nothing or the whole in-flight batch %v", round, rest, inflight)
		}
		for _, e := range got {
			switch p := e.Payload.(type) {
			case ListenerTrusted:
				model[p.Fingerprint] = TrustedListener{Fingerprint: p.Fingerprint, Name: p.Name, PairedAt: e.Time, Seq: e.Seq}
			case ListenerRevoked:
				delete(model, p.Fingerprint)
			case TrustReset:
				clear(model)
				clear(devices)
			case DeviceTrusted:
				devices[p.ID] = TrustedDevice{ID: p.ID, Name: p.Name, CredentialHash: p.CredentialHash, PairedAt: e.Time, Seq: e.Seq}
			case DeviceRevoked:
				delete(devices, p.ID)
			}
		}
		log = append(log, toks...)

		st := s.State()
		want := map[[32]byte]TrustedListener(nil)
		if len(model) > 0 {
			want = model
		}
		if !reflect.DeepEqual(st.Allowlist, want) || st.Seq != uint64(len(log)) {
			t.Fatalf("round %d: allowlist at seq %d = %v\nwant at seq %d: %v", round, st.Seq, st.Allowlist, len(log), want)
		}
		wantDev := map[string]TrustedDevice(nil)
		if len(devices) > 0 {
			wantDev = devices
		}
		if !reflect.DeepEqual(st.Devices, wantDev) {
			t.Fatalf("round %d: devices = %v\nwant %v", round, st.Devices, wantDev)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d acknowledged events, %d in the log, %v", rounds, totalAcked, len(log), time.Since(start).Round(time.Millisecond))
}
