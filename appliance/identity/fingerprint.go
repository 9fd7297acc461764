package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// Fingerprint is the SHA-256 of a certificate's SubjectPublicKeyInfo (DER).
// Hashing the key rather than the whole certificate means a certificate
// re-issued for the same key (a new name, say) keeps its fingerprint.
//
// Its human form (String) is Syncthing's device-ID layout: the 32 bytes in
// base32 (52 characters), cut into 4 parts of 13, each followed by a Luhn
// mod 32 check character, printed as 8 groups of 7 joined by '-'.
type Fingerprint [32]byte

// ErrBadFingerprint is wrapped by every ParseFingerprint error; the
// message says what is wrong (length, a character, a check character).
var ErrBadFingerprint = errors.New("identity: bad fingerprint")

const (
	alphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	dataLen     = 52 // base32 of 32 bytes, unpadded
	partLen     = 13 // data characters per check character
	checkedLen  = 56 // dataLen + 4 check characters
	groupLen    = 7
	humanLen    = checkedLen + checkedLen/groupLen - 1 // with dashes
	shortLen    = 7
	maxParseLen = 256 // longer inputs are rejected before any work
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// FingerprintOf returns the fingerprint of cert's public key.
func FingerprintOf(cert *x509.Certificate) Fingerprint {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// IsZero reports whether f is the zero Fingerprint (no peer, or "any").
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// String returns the human form, e.g. "MFZWI3D-BONSGYC-...": 8 groups of 7.
func (f Fingerprint) String() string {
	data := b32.EncodeToString(f[:])
	var checked [checkedLen]byte
	for p := range 4 {
		part := data[p*partLen : (p+1)*partLen]
		copy(checked[p*(partLen+1):], part)
		checked[p*(partLen+1)+partLen] = Luhn32(part)
	}
	var b strings.Builder
	b.Grow(humanLen)
	for g := range checkedLen / groupLen {
		if g > 0 {
			b.WriteByte('-')
		}
		b.Write(checked[g*groupLen : (g+1)*groupLen])
	}
	return b.String()
}

// DeviceID returns the short id: the first 7 characters of the human form.
// It is for matching on the command line and in mDNS names, not for trust:
// only the full fingerprint identifies a device.
func (f Fingerprint) DeviceID() string {
	return b32.EncodeToString(f[:5])[:shortLen] // 7 chars = 35 bits, in f[:5]
}

// LogValue logs the short id ("none" for the zero fingerprint).
func (f Fingerprint) LogValue() slog.Value {
	if f.IsZero() {
		return slog.StringValue("none")
	}
	return slog.StringValue(f.DeviceID())
}

// MarshalText returns the human form, so configs and JSON hold it readably.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses the human form with ParseFingerprint.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	p, err := ParseFingerprint(string(b))
	if err != nil {
		return err
	}
	*f = p
	return nil
}

// ParseFingerprint parses the human form. It accepts lower case and ignores
// dashes and spaces, but requires all 56 characters including the 4 check
// characters, so a mistyped character is reported rather than accepted.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	if len(s) > maxParseLen {
		return f, fmt.Errorf("%w: %d bytes is far too long (a fingerprint is 8 groups of 7 characters)", ErrBadFingerprint, len(s))
	}
	s = strings.TrimSpace(s)
	norm := make([]byte, 0, checkedLen)
	n := 0 // characters seen, not counting separators
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
			continue
		case 'a' <= r && r <= 'z':
			r -= 'a' - 'A'
		}
		if r == utf8.RuneError || !strings.ContainsRune(alphabet, r) {
			return f, fmt.Errorf("%w: character %q in group %d is not used in fingerprints (only letters A-Z and digits 2-7)",
				ErrBadFingerprint, r, n/groupLen+1)
		}
		n++
		if len(norm) < checkedLen {
			norm = append(norm, byte(r))
		}
	}
	if n != checkedLen {
		return f, fmt.Errorf("%w: has %d characters, want %d (8 groups of 7)", ErrBadFingerprint, n, checkedLen)
	}
	data := make([]byte, 0, dataLen)
	for p := range 4 {
		part := norm[p*(partLen+1) : p*(partLen+1)+partLen]
		if Luhn32(string(part)) != norm[p*(partLen+1)+partLen] {
			return f, fmt.Errorf("%w: check character of groups %d-%d does not match: a character in groups %d-%d is mistyped",
				ErrBadFingerprint, 2*p+1, 2*p+2, 2*p+1, 2*p+2)
		}
		data = append(data, part...)
	}
	// The last data character carries 1 bit and 4 padding bits, which
	// must be zero so that every fingerprint has exactly one human form.
	if k, err := b32.Decode(f[:], data); err != nil || k != len(f) || b32.EncodeToString(f[:]) != string(data) {
		return Fingerprint{}, fmt.Errorf("%w: groups 7-8 do not encode a fingerprint", ErrBadFingerprint)
	}
	return f, nil
}

// Luhn32 returns the Luhn mod 32 check character for s, a string of
// RFC 4648 base32 characters, computed as Syncthing does (factors 1, 2,
// 1, ... from the left). Any single substituted character changes the
// result, because both x -> x and x -> fold(2x) are permutations of 0..31.
// The setup payload uses the same check.
func Luhn32(s string) byte {
	const n = len(alphabet)
	factor, sum := 1, 0
	for i := range len(s) {
		addend := factor * strings.IndexByte(alphabet, s[i])
		factor = 3 - factor
		sum += addend/n + addend%n
	}
	return alphabet[(n-sum%n)%n]
}
