package pake

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/cloudflare/circl/group"
	"golang.org/x/crypto/scrypt"
)

// This file is the SPAKE2-P256-SHA256-HKDF-HMAC core of RFC 9382: the
// group, M and N, the transcript and the key schedule. It takes w, x and y
// as inputs so that the RFC's test vectors can drive it; pake.go wraps it in
// the two state machines.

var p256 = group.P256

// M and N from RFC 9382 section 6 (SEC1 compressed). negM and negN are their
// negations, so that pA - w*M is computed as pA + w*(-M) and no secret
// point goes through the variable-time big.Int negation of circl.
var (
	pointM = mustPoint("02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f")
	pointN = mustPoint("03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49")
	negM   = p256.NewElement().Neg(pointM)
	negN   = p256.NewElement().Neg(pointN)
)

func mustPoint(h string) group.Element {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	e := p256.NewElement()
	if err := e.UnmarshalBinary(b); err != nil || e.IsIdentity() {
		panic("pake: bad constant point " + h)
	}
	return e
}

// orderLimbs is the order n of the P-256 group as little-endian 64-bit limbs.
var orderLimbs = [4]uint64{0xf3b9cac2fc632551, 0xbce6faada7179e84, 0xffffffffffffffff, 0xffffffff00000000}

// reduce returns b mod n as 32 big-endian bytes, where b is a big-endian
// integer of any length and n the order of P-256. Its running time depends
// only on len(b), not on the value: one shift and one masked conditional
// subtraction per input bit. (circl's SetBigInt uses math/big, which is not
// constant time, and w is derived from the setup code.)
func reduce(b []byte) (out [scalarSize]byte) {
	var r [5]uint64 // invariant: r < n
	for _, v := range b {
		for i := 7; i >= 0; i-- {
			carry := uint64(v>>uint(i)) & 1 // r = 2r + bit < 2n < 2^257
			for j := range r {
				r[j], carry = r[j]<<1|carry, r[j]>>63
			}
			var t [5]uint64 // t = r - n, kept unless it borrows (r < n)
			var borrow uint64
			for j := range orderLimbs {
				t[j], borrow = bits.Sub64(r[j], orderLimbs[j], borrow)
			}
			t[4], borrow = bits.Sub64(r[4], 0, borrow)
			keep := borrow - 1 // all ones when r >= n
			for j := range r {
				r[j] = t[j]&keep | r[j]&^keep
			}
		}
	}
	for j := range 4 {
		binary.BigEndian.PutUint64(out[scalarSize-8*(j+1):], r[j])
	}
	return out
}

// scalarFrom returns b, which must be below n, as a circl scalar.
func scalarFrom(b [scalarSize]byte) (group.Scalar, error) {
	s := p256.NewScalar()
	if err := s.UnmarshalBinary(b[:]); err != nil {
		return nil, fmt.Errorf("pake: scalar not below the group order: %w", err)
	}
	return s, nil
}

// share returns eph*G + w*blind: pA (blind = M) or pB (blind = N).
func share(eph, w group.Scalar, blind group.Element) group.Element {
	p := p256.NewElement().MulGen(eph)
	return p.Add(p, p256.NewElement().Mul(blind, w))
}

// sharedPoint returns K = eph*(peer + w*negBlind), which is
// x*(pB - w*N) for A and y*(pA - w*M) for B (the cofactor h of P-256 is 1).
func sharedPoint(eph, w group.Scalar, peer, negBlind group.Element) group.Element {
	t := p256.NewElement().Mul(negBlind, w)
	t.Add(peer, t)
	return t.Mul(t, eph)
}

// encodePoint returns the 65-byte SEC1 uncompressed encoding of a point that
// is not the identity.
func encodePoint(e group.Element) ([]byte, error) {
	if e.IsIdentity() {
		return nil, errIdentity
	}
	b, err := e.MarshalBinary()
	if err != nil || len(b) != ShareSize {
		return nil, fmt.Errorf("pake: encoding a point: %v", err)
	}
	return b, nil
}

// decodeShare parses pA or pB: exactly 65 bytes, SEC1 uncompressed, on the
// curve, coordinates below p, not the identity.
func decodeShare(name string, b []byte) (group.Element, error) {
	if len(b) != ShareSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrBadMessage, name, len(b), ShareSize)
	}
	if b[0] != 0x04 {
		return nil, fmt.Errorf("%w: %s is not an uncompressed point", ErrBadMessage, name)
	}
	e := p256.NewElement()
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: %s is not a point on P-256", ErrBadMessage, name)
	}
	if e.IsIdentity() {
		return nil, fmt.Errorf("%w: %s is the identity element", ErrBadMessage, name)
	}
	return e, nil
}

// appendLV appends len(b) as 8 bytes little-endian, then b (RFC 9382 len()).
func appendLV(dst, b []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(b)))
	return append(dst, b...)
}

// transcript returns TT = len(A)||A||len(B)||B||len(pA)||pA||len(pB)||pB||
// len(K)||K||len(w)||w.
func transcript(idA, idB, pA, pB, k, w []byte) []byte {
	tt := make([]byte, 0, 6*8+len(idA)+len(idB)+len(pA)+len(pB)+len(k)+len(w))
	for _, f := range [][]byte{idA, idB, pA, pB, k, w} {
		tt = appendLV(tt, f)
	}
	return tt
}

// keys is the RFC 9382 key schedule of one run.
type keys struct {
	ke, ka, kcA, kcB []byte
}

// schedule derives Ke || Ka = SHA-256(TT) and
// KcA || KcB = HKDF-SHA256(salt = nil, IKM = Ka, info = "ConfirmationKeys" || AAD, L = 32).
func schedule(tt, aad []byte) (keys, error) {
	h := sha256.Sum256(tt)
	ka := h[KeySize:]
	kc, err := hkdf.Key(sha256.New, ka, nil, "ConfirmationKeys"+string(aad), 2*KeySize)
	if err != nil {
		return keys{}, fmt.Errorf("pake: hkdf: %w", err)
	}
	return keys{ke: h[:KeySize:KeySize], ka: ka, kcA: kc[:KeySize:KeySize], kcB: kc[KeySize:]}, nil
}

// mac returns HMAC-SHA256(key, tt): cA with KcA, cB with KcB.
func mac(key, tt []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(tt)
	return m.Sum(nil)
}

// MHF parameters (see doc.go): scrypt with N = 2^10, r = 8, p = 1 and a
// 40-byte output (64 bits more than n needs, as RFC 9382 asks, so that
// w = output mod n has no measurable bias).
const (
	mhfLabel = "cradle pairing v1 SPAKE2-P256-SHA256-HKDF-HMAC w"
	scryptN  = 1 << 10
	scryptR  = 8
	scryptP  = 1
	wideSize = scalarSize + 8 // MHF output and random bytes per scalar
)

// deriveW returns w = scrypt(code, salt) mod n as 32 bytes big-endian, where
// salt = len(label)||label||len(A)||A||len(B)||B with A the listener's and B
// the monitor's identity.
func deriveW(code string, idA, idB []byte) ([scalarSize]byte, error) {
	salt := appendLV(nil, []byte(mhfLabel))
	salt = appendLV(salt, idA)
	salt = appendLV(salt, idB)
	out, err := scrypt.Key([]byte(code), salt, scryptN, scryptR, scryptP, wideSize)
	if err != nil {
		return [scalarSize]byte{}, fmt.Errorf("pake: scrypt: %w", err)
	}
	w := reduce(out)
	clear(out)
	return w, nil
}
