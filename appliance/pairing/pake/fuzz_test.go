package pake

import (
	"bytes"
	"errors"
	"testing"
)

// The fuzz targets feed arbitrary bytes to each method that parses a peer
// message. All run on the first RFC 9382 vector, so the committed seeds
// include the honest messages (testdata/fuzz/Fuzz*/rfc-*) and the fuzzer
// starts from the success path as well as from the rejections.

const fuzzMaxLen = 4 * ShareSize // longer inputs are rejected on length alone

func fuzzPair(t testing.TB) (*Initiator, *Responder) {
	v := rfcVectors[0]
	return corePair(t, []byte(v.idA), []byte(v.idB), nil, unhex32(t, v.w), unhex32(t, v.x), unhex32(t, v.y))
}

func fuzzSeeds(f *testing.F, honest string) {
	h := unhex(f, honest)
	f.Add(h)
	f.Add([]byte{})
	f.Add(h[:len(h)-1])
	f.Add(append(bytes.Clone(h), 0))
	flipped := bytes.Clone(h)
	flipped[len(flipped)/2] ^= 0x80
	f.Add(flipped)
}

func FuzzMonitorRespond(f *testing.F) {
	fuzzSeeds(f, rfcVectors[0].pA)
	f.Fuzz(func(t *testing.T, pA []byte) {
		if len(pA) > fuzzMaxLen {
			return
		}
		_, m := fuzzPair(t)
		pB, err := m.Respond(pA)
		switch {
		case err == nil:
			if len(pA) != ShareSize || len(pB) != ShareSize {
				t.Fatalf("accepted a %d-byte pA, answered %d bytes", len(pA), len(pB))
			}
			if _, err := decodeShare("pA", pA); err != nil {
				t.Fatalf("Respond accepted a pA that decodeShare rejects: %v", err)
			}
			wantErr := ErrConfirmation
			cA := make([]byte, ConfirmSize)
			if bytes.Equal(pA, unhex(t, rfcVectors[0].pA)) {
				cA, wantErr = unhex(t, rfcVectors[0].cA), nil
			}
			if _, _, err := m.Confirm(cA); !errors.Is(err, wantErr) {
				t.Fatalf("Confirm: %v, want %v", err, wantErr)
			}
		case errors.Is(err, ErrBadMessage):
			if _, _, err := m.Confirm(make([]byte, ConfirmSize)); !errors.Is(err, ErrState) {
				t.Fatalf("Confirm after a rejected pA: %v", err)
			}
		default:
			t.Fatalf("Respond: unexpected error %v", err)
		}
	})
}

func FuzzListenerFinish(f *testing.F) {
	fuzzSeeds(f, rfcVectors[0].pB)
	f.Fuzz(func(t *testing.T, pB []byte) {
		if len(pB) > fuzzMaxLen {
			return
		}
		l, _ := fuzzPair(t)
		if _, err := l.Start(); err != nil {
			t.Fatal(err)
		}
		cA, err := l.Finish(pB)
		switch {
		case err == nil:
			if len(pB) != ShareSize || len(cA) != ConfirmSize {
				t.Fatalf("accepted a %d-byte pB, gave a %d-byte cA", len(pB), len(cA))
			}
			if bytes.Equal(pB, unhex(t, rfcVectors[0].pB)) != bytes.Equal(cA, unhex(t, rfcVectors[0].cA)) {
				t.Fatalf("cA %x for pB %x", cA, pB)
			}
		case errors.Is(err, ErrBadMessage), errors.Is(err, ErrConfirmation):
			if _, err := l.Verify(make([]byte, ConfirmSize)); !errors.Is(err, ErrState) {
				t.Fatalf("Verify after a rejected pB: %v", err)
			}
		default:
			t.Fatalf("Finish: unexpected error %v", err)
		}
	})
}

func FuzzMonitorConfirm(f *testing.F) {
	fuzzSeeds(f, rfcVectors[0].cA)
	f.Fuzz(func(t *testing.T, cA []byte) {
		if len(cA) > fuzzMaxLen {
			return
		}
		_, m := fuzzPair(t)
		if _, err := m.Respond(unhex(t, rfcVectors[0].pA)); err != nil {
			t.Fatal(err)
		}
		cB, key, err := m.Confirm(cA)
		honest := bytes.Equal(cA, unhex(t, rfcVectors[0].cA))
		switch {
		case honest && err == nil:
			if !bytes.Equal(cB, unhex(t, rfcVectors[0].cB)) || !bytes.Equal(key, unhex(t, rfcVectors[0].ke)) {
				t.Fatalf("honest cA gave cB %x key %x", cB, key)
			}
		case honest:
			t.Fatalf("honest cA rejected: %v", err)
		case err == nil:
			t.Fatalf("forged cA %x accepted", cA)
		case len(cA) != ConfirmSize && !errors.Is(err, ErrBadMessage):
			t.Fatalf("%d-byte cA: %v, want ErrBadMessage", len(cA), err)
		case len(cA) == ConfirmSize && !errors.Is(err, ErrConfirmation):
			t.Fatalf("wrong cA: %v, want ErrConfirmation", err)
		case cB != nil || key != nil:
			t.Fatal("failed Confirm returned cB or a key")
		}
	})
}

func FuzzListenerVerify(f *testing.F) {
	fuzzSeeds(f, rfcVectors[0].cB)
	f.Fuzz(func(t *testing.T, cB []byte) {
		if len(cB) > fuzzMaxLen {
			return
		}
		l, _ := fuzzPair(t)
		if _, err := l.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Finish(unhex(t, rfcVectors[0].pB)); err != nil {
			t.Fatal(err)
		}
		key, err := l.Verify(cB)
		honest := bytes.Equal(cB, unhex(t, rfcVectors[0].cB))
		switch {
		case honest && (err != nil || !bytes.Equal(key, unhex(t, rfcVectors[0].ke))):
			t.Fatalf("honest cB: key %x, %v", key, err)
		case honest:
		case err == nil:
			t.Fatalf("forged cB %x accepted", cB)
		case len(cB) != ConfirmSize && !errors.Is(err, ErrBadMessage):
			t.Fatalf("%d-byte cB: %v, want ErrBadMessage", len(cB), err)
		case len(cB) == ConfirmSize && !errors.Is(err, ErrConfirmation):
			t.Fatalf("wrong cB: %v, want ErrConfirmation", err)
		case key != nil:
			t.Fatal("failed Verify returned a key")
		}
	})
}

// FuzzReduce checks the constant-time reduction against math/big.
func FuzzReduce(f *testing.F) {
	f.Add(order.Bytes())
	f.Add(bytes.Repeat([]byte{0xff}, wideSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 128 {
			return
		}
		if want, got := bigMod(b), reduce(b); !bytes.Equal(got[:], want) {
			t.Fatalf("reduce(%x) = %x, want %x", b, got, want)
		}
	})
}
