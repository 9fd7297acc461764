package pake

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testParams returns valid Params with fixed fingerprints and binding.
func testParams(code string) Params {
	p := Params{Code: code, Binding: make([]byte, BindingSize)}
	for i := range IDSize {
		p.ListenerID[i] = 0xa0 | byte(i&0xf)
		p.MonitorID[i] = 0xb0 | byte(i&0xf)
		p.Binding[i] = byte(i)
	}
	return p
}

// outcome is how far a pairing run got.
type outcome struct {
	stage      string // the step that failed, "" on success
	err        error
	lKey, mKey []byte
}

// pair runs a whole pairing between a listener built from lp and a monitor
// built from mp, as the network would carry it.
func pair(t testing.TB, lp, mp Params) outcome {
	t.Helper()
	l, err := NewInitiator(lp, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewResponder(mp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pairWith(t, l, m)
}

func pairWith(t testing.TB, l *Initiator, m *Responder) outcome {
	t.Helper()
	pA, err := l.Start()
	if err != nil {
		return outcome{stage: "Start", err: err}
	}
	if len(pA) != ShareSize {
		t.Fatalf("pA is %d bytes", len(pA))
	}
	pB, err := m.Respond(pA)
	if err != nil {
		return outcome{stage: "Respond", err: err}
	}
	if len(pB) != ShareSize {
		t.Fatalf("pB is %d bytes", len(pB))
	}
	cA, err := l.Finish(pB)
	if err != nil {
		return outcome{stage: "Finish", err: err}
	}
	if len(cA) != ConfirmSize {
		t.Fatalf("cA is %d bytes", len(cA))
	}
	cB, mKey, err := m.Confirm(cA)
	if err != nil {
		if cB != nil || mKey != nil {
			t.Errorf("Confirm failed but returned cB %x key %x", cB, mKey)
		}
		return outcome{stage: "Confirm", err: err}
	}
	lKey, err := l.Verify(cB)
	if err != nil {
		return outcome{stage: "Verify", err: err}
	}
	return outcome{lKey: lKey, mKey: mKey}
}

func TestPairing(t *testing.T) {
	p := testParams("31415926")
	first := pair(t, p, p)
	if first.err != nil {
		t.Fatalf("%s: %v", first.stage, first.err)
	}
	if len(first.lKey) != KeySize || !bytes.Equal(first.lKey, first.mKey) {
		t.Fatalf("keys differ: listener %x monitor %x", first.lKey, first.mKey)
	}
	second := pair(t, p, p)
	if second.err != nil {
		t.Fatalf("%s: %v", second.stage, second.err)
	}
	if bytes.Equal(first.lKey, second.lKey) {
		t.Error("two runs with the same parameters gave the same key")
	}
}

// TestMismatch: every disagreement fails at the monitor's Confirm with
// ErrConfirmation, so the monitor never sends cB.
func TestMismatch(t *testing.T) {
	good := testParams("31415926")
	other := testParams("31415926")
	other.Binding[0] ^= 1
	swapped := testParams("31415926")
	swapped.ListenerID, swapped.MonitorID = good.MonitorID, good.ListenerID
	stranger := testParams("31415926")
	stranger.ListenerID[31] ^= 1
	impostor := testParams("31415926")
	impostor.MonitorID[0] ^= 1
	for _, c := range []struct {
		name   string
		lp, mp Params
	}{
		{"wrong code", testParams("31415927"), good},
		{"relayed onto another connection", good, other},
		{"swapped identities", swapped, good},
		{"other listener fingerprint", stranger, good},
		{"other monitor fingerprint", good, impostor},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := pair(t, c.lp, c.mp)
			if o.stage != "Confirm" || !errors.Is(o.err, ErrConfirmation) {
				t.Fatalf("got %s: %v, want Confirm: ErrConfirmation", o.stage, o.err)
			}
		})
	}
}

// rfcW is w of the first RFC vector, used where the MHF is beside the point.
var rfcW = [scalarSize]byte{
	0x2e, 0xe5, 0x79, 0x12, 0x09, 0x9d, 0x31, 0x56, 0x0b, 0x3a, 0x44, 0xb1, 0x18, 0x4b, 0x9b, 0x48,
	0x66, 0xe9, 0x04, 0xc4, 0x9d, 0x12, 0xac, 0x50, 0x42, 0xc9, 0x7d, 0xca, 0x46, 0x1b, 0x1a, 0x5f,
}

func mustRandomScalar(t testing.TB) [scalarSize]byte {
	t.Helper()
	s, err := randomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func coreExchange(t testing.TB, idA, idB, aad []byte) *exchange {
	t.Helper()
	s, err := newExchange(idA, idB, aad, rfcW, mustRandomScalar(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTranscriptBinding holds w fixed and changes one input of the
// transcript or key schedule on one side, so each binding is tested on its
// own (through the public API, identities also change w).
func TestTranscriptBinding(t *testing.T) {
	a, b := []byte("listener-fingerprint............"), []byte("monitor-fingerprint.............")
	x, y := []byte("exporter-X......................"), []byte("exporter-Y......................")
	for _, c := range []struct {
		name                       string
		lA, lB, lAAD, mA, mB, mAAD []byte
		ok                         bool
	}{
		{"same", a, b, x, a, b, x, true},
		{"AAD differs", a, b, x, a, b, y, false},
		{"identities swapped", a, b, x, b, a, x, false},
		{"A differs", a, b, x, y, b, x, false},
		{"B differs", a, b, x, a, y, x, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &Initiator{coreExchange(t, c.lA, c.lB, c.lAAD)}
			m := &Responder{coreExchange(t, c.mA, c.mB, c.mAAD)}
			o := pairWith(t, l, m)
			if c.ok && o.err != nil {
				t.Fatalf("%s: %v", o.stage, o.err)
			}
			if !c.ok && (o.stage != "Confirm" || !errors.Is(o.err, ErrConfirmation)) {
				t.Fatalf("got %s: %v, want Confirm: ErrConfirmation", o.stage, o.err)
			}
		})
	}
}

// TestTampering alters one message in flight.
func TestTampering(t *testing.T) {
	other := p256.NewElement().MulGen(p256.RandomNonZeroScalar(rand.Reader))
	otherPoint, err := encodePoint(other)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 1; return b }
	replace := func([]byte) []byte { return otherPoint }
	for _, c := range []struct {
		name      string
		msg       string // which message is altered
		alter     func([]byte) []byte
		wantStage string
		wantErr   error
	}{
		{"pA replaced", "pA", replace, "Confirm", ErrConfirmation},
		{"pB replaced", "pB", replace, "Confirm", ErrConfirmation},
		{"cA bit flipped", "cA", flip, "Confirm", ErrConfirmation},
		{"cB bit flipped", "cB", flip, "Verify", ErrConfirmation},
		{"cA truncated", "cA", func(b []byte) []byte { return b[:ConfirmSize-1] }, "Confirm", ErrBadMessage},
		{"cB extended", "cB", func(b []byte) []byte { return append(b, 0) }, "Verify", ErrBadMessage},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &Initiator{coreExchange(t, []byte("A"), []byte("B"), nil)}
			m := &Responder{coreExchange(t, []byte("A"), []byte("B"), nil)}
			alter := func(name string, b []byte) []byte {
				if name == c.msg {
					return c.alter(b)
				}
				return b
			}
			stage, err := func() (string, error) {
				pA, err := l.Start()
				if err != nil {
					return "Start", err
				}
				pB, err := m.Respond(alter("pA", pA))
				if err != nil {
					return "Respond", err
				}
				cA, err := l.Finish(alter("pB", pB))
				if err != nil {
					return "Finish", err
				}
				cB, _, err := m.Confirm(alter("cA", cA))
				if err != nil {
					return "Confirm", err
				}
				_, err = l.Verify(alter("cB", cB))
				return "Verify", err
			}()
			if stage != c.wantStage || !errors.Is(err, c.wantErr) {
				t.Fatalf("got %s: %v, want %s: %v", stage, err, c.wantStage, c.wantErr)
			}
		})
	}
}

// TestStateMachine: repeated and out-of-order calls return ErrState and
// end the session, so even the right next call fails afterwards.
func TestStateMachine(t *testing.T) {
	// h carries the honest messages of one run between the steps.
	type h struct {
		l          *Initiator
		m          *Responder
		pA, pB, cA []byte
	}
	type step func(*h) error
	// Steps keep the honest messages: a failed step stores nothing.
	keep := func(dst *[]byte, b []byte, err error) error {
		if err == nil {
			*dst = b
		}
		return err
	}
	start := func(x *h) error { b, err := x.l.Start(); return keep(&x.pA, b, err) }
	respond := func(x *h) error { b, err := x.m.Respond(x.pA); return keep(&x.pB, b, err) }
	finish := func(x *h) error { b, err := x.l.Finish(x.pB); return keep(&x.cA, b, err) }
	confirm := func(x *h) error { _, _, err := x.m.Confirm(x.cA); return err }
	verify := func(x *h) error { _, err := x.l.Verify(make([]byte, ConfirmSize)); return err }
	// then runs steps that must succeed, then one that must fail.
	then := func(ok []step, last step) step {
		return func(x *h) error {
			for _, s := range ok {
				if err := s(x); err != nil {
					return fmt.Errorf("honest step failed: %v", err)
				}
			}
			return last(x)
		}
	}
	for _, c := range []struct {
		name string
		ok   []step // run first; must succeed
		bad  step   // must fail with ErrState
		next step   // must fail with ErrState too: the session is over
	}{
		{"Finish before Start", nil, finish, start},
		{"Verify before Start", nil, verify, start},
		{"Verify before Finish", []step{start, respond}, verify, finish},
		{"Confirm before Respond", []step{start}, confirm, respond},
		{"Start twice", []step{start}, start, then([]step{respond}, finish)},
		{"pA replayed", []step{start, respond}, respond, then([]step{finish}, confirm)},
		{"pB replayed", []step{start, respond, finish}, finish, verify},
		{"Confirm after success", []step{start, respond, finish, confirm}, confirm, confirm},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := &h{l: &Initiator{coreExchange(t, nil, nil, nil)}, m: &Responder{coreExchange(t, nil, nil, nil)}}
			for i, s := range c.ok {
				if err := s(x); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if err := c.bad(x); !errors.Is(err, ErrState) {
				t.Fatalf("got %v, want ErrState", err)
			}
			if err := c.next(x); !errors.Is(err, ErrState) {
				t.Fatalf("next call: %v, want ErrState", err)
			}
		})
	}

	t.Run("every method after success", func(t *testing.T) {
		x := &h{l: &Initiator{coreExchange(t, nil, nil, nil)}, m: &Responder{coreExchange(t, nil, nil, nil)}}
		for i, s := range []step{start, respond, finish} {
			if err := s(x); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		cB, _, err := x.m.Confirm(x.cA)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.l.Verify(cB); err != nil {
			t.Fatal(err)
		}
		for i, s := range []step{start, respond, finish, confirm, verify} {
			if err := s(x); !errors.Is(err, ErrState) {
				t.Errorf("step %d after success: %v, want ErrState", i, err)
			}
		}
	})

	t.Run("one guess per session", func(t *testing.T) {
		x := &h{l: &Initiator{coreExchange(t, nil, nil, nil)}, m: &Responder{coreExchange(t, nil, nil, nil)}}
		for i, s := range []step{start, respond, finish} {
			if err := s(x); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		bad := bytes.Clone(x.cA)
		bad[0] ^= 1
		if _, _, err := x.m.Confirm(bad); !errors.Is(err, ErrConfirmation) {
			t.Fatalf("Confirm(bad): %v", err)
		}
		if _, _, err := x.m.Confirm(x.cA); !errors.Is(err, ErrState) {
			t.Fatalf("Confirm retried with the right cA: %v, want ErrState", err)
		}
	})
}

// TestInvalidShares: malformed pA and pB are rejected with ErrBadMessage
// before any secret is used, and the session ends.
func TestInvalidShares(t *testing.T) {
	valid, err := encodePoint(pointM)
	if err != nil {
		t.Fatal(err)
	}
	compressed, err := pointM.MarshalBinaryCompress()
	if err != nil {
		t.Fatal(err)
	}
	offCurve := bytes.Clone(valid)
	offCurve[ShareSize-1] ^= 1
	prime := "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"
	unreduced := append([]byte{4}, unhex(t, prime)...)
	unreduced = append(unreduced, valid[33:]...)
	badPrefix := bytes.Clone(valid)
	badPrefix[0] = 0x06 // hybrid encoding, not accepted
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"identity (SEC1 0x00)", []byte{0}},
		{"compressed", compressed},
		{"64 bytes", valid[:64]},
		{"66 bytes", append(bytes.Clone(valid), 0)},
		{"65 zero bytes", make([]byte, ShareSize)},
		{"0x04 and zeros", append([]byte{4}, make([]byte, 64)...)},
		{"prefix 0x06", badPrefix},
		{"off the curve", offCurve},
		{"x = p", unreduced},
	}
	for _, c := range cases {
		t.Run("pA "+c.name, func(t *testing.T) {
			m := &Responder{coreExchange(t, nil, nil, nil)}
			if _, err := m.Respond(c.b); !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Respond: %v, want ErrBadMessage", err)
			}
			if _, _, err := m.Confirm(make([]byte, ConfirmSize)); !errors.Is(err, ErrState) {
				t.Fatalf("Confirm after a bad pA: %v, want ErrState", err)
			}
		})
		t.Run("pB "+c.name, func(t *testing.T) {
			l := &Initiator{coreExchange(t, nil, nil, nil)}
			if _, err := l.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Finish(c.b); !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Finish: %v, want ErrBadMessage", err)
			}
		})
	}
}

// TestDegenerateShares: a peer that knows w can send w*M or w*N so that
// K is the identity; the session must still fail.
func TestDegenerateShares(t *testing.T) {
	w, err := scalarFrom(rfcW)
	if err != nil {
		t.Fatal(err)
	}
	wM, err := encodePoint(p256.NewElement().Mul(pointM, w))
	if err != nil {
		t.Fatal(err)
	}
	wN, err := encodePoint(p256.NewElement().Mul(pointN, w))
	if err != nil {
		t.Fatal(err)
	}

	m := &Responder{coreExchange(t, nil, nil, nil)}
	if _, err := m.Respond(wM); err != nil {
		t.Fatalf("Respond(w*M): %v (must answer like any other guess)", err)
	}
	// The confirmation an attacker would compute for K = I.
	if _, _, err := m.Confirm(mac(m.s.k.kcA, m.s.tt)); !errors.Is(err, ErrConfirmation) {
		t.Fatalf("Confirm: %v, want ErrConfirmation", err)
	}

	l := &Initiator{coreExchange(t, nil, nil, nil)}
	if _, err := l.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Finish(wN); !errors.Is(err, ErrConfirmation) {
		t.Fatalf("Finish(w*N): %v, want ErrConfirmation", err)
	}
}

func TestParamsValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		modify func(*Params)
	}{
		{"7 digits", func(p *Params) { p.Code = "1234567" }},
		{"9 digits", func(p *Params) { p.Code = "123456789" }},
		{"separator", func(p *Params) { p.Code = "1234-567" }},
		{"letter", func(p *Params) { p.Code = "1234567a" }},
		{"fullwidth digits", func(p *Params) { p.Code = "１２３４５６７８" }},
		{"empty code", func(p *Params) { p.Code = "" }},
		{"no listener id", func(p *Params) { p.ListenerID = [IDSize]byte{} }},
		{"no monitor id", func(p *Params) { p.MonitorID = [IDSize]byte{} }},
		{"same ids", func(p *Params) { p.MonitorID = p.ListenerID }},
		{"no binding", func(p *Params) { p.Binding = nil }},
		{"short binding", func(p *Params) { p.Binding = p.Binding[:16] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testParams("31415926")
			c.modify(&p)
			if _, err := NewInitiator(p, nil); !errors.Is(err, ErrParams) {
				t.Errorf("NewInitiator: %v, want ErrParams", err)
			}
			if _, err := NewResponder(p, nil); !errors.Is(err, ErrParams) {
				t.Errorf("NewResponder: %v, want ErrParams", err)
			}
		})
	}
}

func TestDeriveW(t *testing.T) {
	p := testParams("31415926")
	a, b := p.ListenerID[:], p.MonitorID[:]
	w, err := deriveW(p.Code, a, b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := deriveW(p.Code, a, b)
	if w != again {
		t.Fatal("deriveW is not deterministic")
	}
	for name, in := range map[string][3]string{
		"other code":      {"31415927", string(a), string(b)},
		"swapped ids":     {p.Code, string(b), string(a)},
		"other listener":  {p.Code, "x" + string(a[1:]), string(b)},
		"ids concatenate": {p.Code, string(a) + string(b[:1]), string(b[1:])},
	} {
		other, err := deriveW(in[0], []byte(in[1]), []byte(in[2]))
		if err != nil {
			t.Fatal(err)
		}
		if other == w {
			t.Errorf("%s: same w", name)
		}
	}
}

var order = func() *big.Int {
	n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
	return n
}()

// bigMod is reduce done with math/big.
func bigMod(b []byte) []byte {
	return new(big.Int).Mod(new(big.Int).SetBytes(b), order).FillBytes(make([]byte, scalarSize))
}

func TestReduce(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		want := bigMod(b)
		if got := reduce(b); !bytes.Equal(got[:], want) {
			t.Fatalf("reduce(%x) = %x, want %x", b, got, want)
		}
	}
	n := order.Bytes()
	nMinus1 := new(big.Int).Sub(order, big.NewInt(1)).Bytes()
	nPlus1 := new(big.Int).Add(order, big.NewInt(1)).Bytes()
	twoN := new(big.Int).Lsh(order, 1).Bytes()
	for _, b := range [][]byte{nil, {0}, {1}, n, nMinus1, nPlus1, twoN, bytes.Repeat([]byte{0xff}, 32),
		bytes.Repeat([]byte{0xff}, wideSize), bytes.Repeat([]byte{0xff}, 64), append(n, 0)} {
		check(b)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(65))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		check(b)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestRandomSource(t *testing.T) {
	p := testParams("31415926")
	if _, err := NewInitiator(p, iotestErrReader{}); err == nil {
		t.Error("NewInitiator with a failing random source succeeded")
	}
	if _, err := NewResponder(p, zeroReader{}); err == nil {
		t.Error("NewResponder with an all-zero random source succeeded")
	}
	if _, err := NewResponder(p, io.LimitReader(rand.Reader, wideSize-1)); err == nil {
		t.Error("NewResponder with a short random source succeeded")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }
