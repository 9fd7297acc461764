package identity

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// syncthingID is a device ID from Syncthing's tests (lib/protocol): our
// human form uses the same encoding and check characters.
const syncthingID = "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2"

func randomFingerprint(r *rand.Rand) Fingerprint {
	var f Fingerprint
	for i := range f {
		f[i] = byte(r.UintN(256))
	}
	return f
}

func TestFingerprintSyncthingVector(t *testing.T) {
	for _, in := range []string{
		syncthingID,
		strings.ToLower(syncthingID),
		strings.ReplaceAll(syncthingID, "-", " "),
		strings.ReplaceAll(syncthingID, "-", ""),
		"  " + syncthingID + "\n",
		"P56IOI7MZJNU2Y-IQGDREYDM2MGTI MGL3BXNPQ6W5BM-tbbz4tjxzwicq2",
	} {
		f, err := ParseFingerprint(in)
		if err != nil {
			t.Fatalf("ParseFingerprint(%q): %v", in, err)
		}
		if got := f.String(); got != syncthingID {
			t.Errorf("ParseFingerprint(%q).String() = %q, want %q", in, got, syncthingID)
		}
		if got := f.DeviceID(); got != "P56IOI7" {
			t.Errorf("DeviceID() = %q, want P56IOI7", got)
		}
	}
}

func TestFingerprintRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []Fingerprint{{}, func() (f Fingerprint) {
		for i := range f {
			f[i] = 0xff
		}
		return f
	}()}
	for range 2000 {
		cases = append(cases, randomFingerprint(r))
	}
	for _, f := range cases {
		s := f.String()
		if len(s) != humanLen || strings.Count(s, "-") != 7 {
			t.Fatalf("String() = %q: want 8 groups of 7", s)
		}
		if !strings.HasPrefix(s, f.DeviceID()) || len(f.DeviceID()) != 7 {
			t.Fatalf("DeviceID() = %q is not the first 7 characters of %q", f.DeviceID(), s)
		}
		got, err := ParseFingerprint(s)
		if err != nil || got != f {
			t.Fatalf("ParseFingerprint(%q) = %x, %v; want %x", s, got, err, f)
		}
		var u Fingerprint
		text, _ := f.MarshalText()
		if err := u.UnmarshalText(text); err != nil || u != f {
			t.Fatalf("text round trip of %x: %x, %v", f, u, err)
		}
	}
}

// TestParseRejectsEverySubstitution replaces each of the 56 characters by
// every other character of the alphabet (and a few characters outside it):
// no single mistyped character may be accepted.
func TestParseRejectsEverySubstitution(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		s := randomFingerprint(r).String()
		compact := []byte(strings.ReplaceAll(s, "-", ""))
		for pos := range compact {
			for _, c := range []byte(alphabet + "0189!=") {
				if c == compact[pos] {
					continue
				}
				typo := append([]byte(nil), compact...)
				typo[pos] = c
				if f, err := ParseFingerprint(string(typo)); !errors.Is(err, ErrBadFingerprint) {
					t.Fatalf("%s with %q at %d: got %s, %v; want ErrBadFingerprint", s, c, pos, f, err)
				}
			}
		}
	}
}

func TestParseFingerprintErrors(t *testing.T) {
	good := syncthingID
	for _, tc := range []struct {
		in, want string
	}{
		{"", "has 0 characters"},
		{good[:len(good)-1], "has 55 characters"},
		{good + "A", "has 57 characters"},
		{good[:52], "has 46 characters"}, // 52 unchecked characters minus 6 dashes
		{strings.ReplaceAll(good, "-", "")[:52], "has 52 characters"},
		{"0" + good[1:], "character '0' in group 1"},
		{good[:20] + "é" + good[21:], "character 'é' in group 3"},
		{good[:10] + "Z" + good[11:], "groups 1-2"},
		{good[:62] + "3", "groups 7-8"},
		{strings.Repeat("A", 300), "too long"},
		{"\xff" + good[1:], "not used in fingerprints"},
	} {
		_, err := ParseFingerprint(tc.in)
		if !errors.Is(err, ErrBadFingerprint) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFingerprint(%q) = %v; want ErrBadFingerprint saying %q", tc.in, err, tc.want)
		}
	}
}

// TestParseRejectsPaddingBits: the last data character holds one bit and
// four padding bits; a form with non-zero padding but valid check
// characters must still be refused so each fingerprint has one form.
func TestParseRejectsPaddingBits(t *testing.T) {
	compact := []byte(strings.ReplaceAll(Fingerprint{}.String(), "-", ""))
	compact[54] = 'B' // last data character: value 1, a padding bit set
	compact[55] = Luhn32(string(compact[42:55]))
	_, err := ParseFingerprint(string(compact))
	if !errors.Is(err, ErrBadFingerprint) {
		t.Fatalf("non-zero padding bits accepted: %v", err)
	}
}

func TestFingerprintLogValue(t *testing.T) {
	if got := (Fingerprint{}).LogValue().String(); got != "none" {
		t.Errorf("zero LogValue = %q, want none", got)
	}
	f, _ := ParseFingerprint(syncthingID)
	if got := f.LogValue().String(); got != "P56IOI7" {
		t.Errorf("LogValue = %q, want P56IOI7", got)
	}
	if f.IsZero() || !(Fingerprint{}).IsZero() {
		t.Error("IsZero wrong")
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add(syncthingID)
	f.Add(strings.ToLower(syncthingID))
	f.Add(Fingerprint{}.String())
	f.Add("P56IOI7 MZJNU2Y")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1024 {
			return
		}
		fp, err := ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, ErrBadFingerprint) {
				t.Fatalf("error %v does not wrap ErrBadFingerprint", err)
			}
			return
		}
		// Accepted input must be the canonical form up to case, dashes
		// and spaces: one fingerprint, one spelling.
		norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
		if want := strings.ReplaceAll(fp.String(), "-", ""); norm != want || !utf8.ValidString(s) {
			t.Fatalf("ParseFingerprint(%q) accepted a non-canonical form of %s", s, fp)
		}
		if again, err := ParseFingerprint(fp.String()); err != nil || again != fp {
			t.Fatalf("re-parse of %s: %v", fp, err)
		}
	})
}
