package pake

import "testing"

// BenchmarkPairing is one complete pairing, both sides, as deployed: two
// MHF runs (one per side), four scalar multiplications per side, and the
// key schedule.
func BenchmarkPairing(b *testing.B) {
	p := testParams("31415926")
	for b.Loop() {
		if o := pair(b, p, p); o.err != nil {
			b.Fatalf("%s: %v", o.stage, o.err)
		}
	}
}

// BenchmarkPairingGroupOnly is BenchmarkPairing without the MHF.
func BenchmarkPairingGroupOnly(b *testing.B) {
	for b.Loop() {
		l := &Initiator{coreExchange(b, []byte("A"), []byte("B"), nil)}
		m := &Responder{coreExchange(b, []byte("A"), []byte("B"), nil)}
		if o := pairWith(b, l, m); o.err != nil {
			b.Fatalf("%s: %v", o.stage, o.err)
		}
	}
}

// BenchmarkMHF is the derivation of w from the setup code (scrypt) alone,
// which each side runs once per attempt.
func BenchmarkMHF(b *testing.B) {
	p := testParams("31415926")
	for b.Loop() {
		if _, err := deriveW(p.Code, p.ListenerID[:], p.MonitorID[:]); err != nil {
			b.Fatal(err)
		}
	}
}
