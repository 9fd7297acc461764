// Package pake is Cradle's pairing handshake: SPAKE2 (RFC 9382) with the
// ciphersuite SPAKE2-P256-SHA256-HKDF-HMAC, keyed by the monitor's 8-digit
// setup code and bound to the QUIC connection it runs on.
//
// Someone who watches or relays the messages learns nothing that lets them
// test setup codes offline: each run of the protocol is one online guess,
// and a run relayed onto another connection fails at key confirmation.
//
// The package is a pure core: two single-use state machines (Initiator and
// Responder) that turn incoming messages into outgoing ones. It does no I/O,
// keeps no clock and logs nothing; the caller frames and carries the four
// messages. What follows specifies the protocol completely, so that another
// implementation (a phone app) can interoperate.
//
// # Notation
//
// || is concatenation. len(s) is the length of s in bytes as an 8-byte
// little-endian integer (RFC 9382). Hex strings are bytes. Integers are
// encoded big-endian with a fixed length.
//
// # Group and constants
//
// The group is P-256 (secp256r1) with generator G, cofactor 1 and order
//
//	n = ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
//
// M and N are the P-256 points of RFC 9382 section 6 (SEC1 compressed):
//
//	M = 02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f
//	N = 03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49
//
// Hash is SHA-256, KDF is HKDF-SHA256 (RFC 5869), MAC is HMAC-SHA256.
// Points travel and enter the transcript in SEC1 uncompressed form:
// 0x04 || X || Y, 65 bytes.
//
// # Inputs
//
// SPAKE2's party A is the listener (the parent's device), party B the
// monitor. Both ends need:
//
//   - code: the setup code as 8 ASCII digits, separators removed
//     ("31415926").
//   - A: the listener's identity, the 32-byte SHA-256 fingerprint of its
//     certificate's public key, as seen on this connection.
//   - B: the monitor's identity, likewise (32 bytes).
//   - AAD: 32 bytes of TLS 1.3 exporter output (RFC 8446 section 7.5) of
//     the QUIC connection the messages travel on, with the label
//     "EXPORTER-cradle-pairing-v1" (ExporterLabel) and an empty context.
//
// # Password to w
//
// Each side derives w from the code with scrypt (RFC 7914), salted with a
// label and both identities:
//
//	label = "cradle pairing v1 SPAKE2-P256-SHA256-HKDF-HMAC w"  (48 ASCII bytes)
//	salt  = len(label) || label || len(A) || A || len(B) || B   (136 bytes)
//	out   = scrypt(password = code, salt, N = 1024, r = 8, p = 1, dkLen = 40)
//	w     = out (a 320-bit big-endian integer) mod n
//
// The 40-byte output is 64 bits longer than n, as RFC 9382 asks, so w is
// unbiased. w = 0 (probability 2^-256) aborts. In the transcript, w is 32
// bytes big-endian. The scrypt cost (1 MiB of memory, about 4 ms on the
// development PC, an estimated 40 ms on a Pi Zero 2 W) is low on purpose:
// SPAKE2 already prevents
// offline guessing from the messages, so the MHF only slows an attacker
// who has read w out of a device's memory, and the 10^8 codes would fall to
// any affordable cost.
//
// # Messages
//
// Four messages, each of fixed size, in this order:
//
//	1  listener -> monitor  pA  65 bytes  x*G + w*M, x uniform in [1, n-1]
//	2  monitor -> listener  pB  65 bytes  y*G + w*N, y uniform in [1, n-1]
//	3  listener -> monitor  cA  32 bytes  HMAC-SHA256(KcA, TT)
//	4  monitor -> listener  cB  32 bytes  HMAC-SHA256(KcB, TT)
//
// Scalars are drawn as 40 random bytes reduced mod n (zero is redrawn).
// A received pA or pB is rejected unless it is exactly 65 bytes, starts
// with 0x04, has both coordinates below the field prime and lies on the
// curve (which excludes the identity). Messages of any other size are
// rejected before parsing.
//
// # Shared point, transcript and keys
//
// The listener computes K = x*(pB - w*N); the monitor K = y*(pA - w*M).
// If K is the identity (only a peer that knows w can cause it) the run
// fails: the listener aborts, the monitor answers pB and fails at cA.
// Both build the transcript TT (339 bytes, offsets in brackets):
//
//	TT = len(A)  || A    [0:8]   [8:40]
//	  || len(B)  || B    [40:48] [48:80]
//	  || len(pA) || pA   [80:88] [88:153]
//	  || len(pB) || pB   [153:161] [161:226]
//	  || len(K)  || K    [226:234] [234:299]
//	  || len(w)  || w    [299:307] [307:339]
//
// and the RFC 9382 key schedule:
//
//	Ke || Ka   = SHA-256(TT)                                   16 + 16 bytes
//	KcA || KcB = HKDF-SHA256(salt = none, IKM = Ka,
//	                         info = "ConfirmationKeys" || AAD, L = 32)  16 + 16 bytes
//	cA = HMAC-SHA256(KcA, TT)
//	cB = HMAC-SHA256(KcB, TT)
//
// (HKDF with no salt uses 32 zero bytes, RFC 5869.) The identities bind the
// run to the two certificates; AAD binds it to the connection. A run
// relayed between two connections, or with a certificate swapped, gives
// different keys on the two sides and fails like a wrong code.
//
// # Key confirmation, listener first
//
// The monitor compares cA in constant time. If it is wrong, the monitor
// sends no cB (nothing that depends on the keys) and the run has failed.
// If it is right, the monitor sends cB and is paired. The listener
// compares cB in constant time and is paired only if it matches. Only then
// does either side use Ke (16 bytes), the shared secret; derive any further
// key from it with HKDF and a label of its own.
//
// # Test vectors
//
// The tests run both state machines on the four P-256 vectors of RFC 9382
// Appendix B (identities as ASCII strings, no AAD) and match pA, pB, K, TT,
// Hash(TT), Ke, Ka, KcA, KcB, cA and cB. testdata/cradle-v1.json is a
// Cradle vector that also covers the scrypt step, 32-byte identities and
// the AAD; it was checked against an independent implementation. Another
// implementation should reproduce every field of it.
//
// # Constant time
//
// Scalar multiplications are the constant-time nistec code of Go's
// standard library, reached through circl's group.P256; w and the
// ephemeral scalars are reduced mod n by a constant-time routine of this
// package (circl's big.Int reduction is not); points that depend on
// secrets are never negated (the public -M and -N are precomputed); MACs
// are compared with hmac.Equal. What remains variable-time is circl's
// conversion of affine coordinates through math/big, which depends only on
// whether a coordinate's top 64-bit word is zero.
//
// # Caller's duties
//
//  1. Run pairing on a mutually authenticated QUIC connection. Take A and B
//     from the certificates verified on that connection, and Binding from
//     the same connection's ExportKeyingMaterial(ExporterLabel, nil,
//     BindingSize).
//  2. Use a new Initiator or Responder for every attempt. Any error ends a
//     session; every later call returns ErrState.
//  3. On the monitor, count every session that does not end in Confirm
//     returning a key as a failed attempt, persist the count, and close
//     pairing after a small limit: each session is one guess at the code.
//     Run one session at a time.
//  4. Bound each session with a deadline (the package has no clock).
//  5. Report ErrConfirmation to the user as "wrong code or interference";
//     do not say more, and never log the code, w or keys.
package pake
