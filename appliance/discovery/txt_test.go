package discovery

import (
	"errors"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// testFingerprint is a fixed fingerprint for tests.
func testFingerprint(seed byte) identity.Fingerprint {
	var f identity.Fingerprint
	for i := range f {
		f[i] = seed + byte(i)*7
	}
	return f
}

func TestTXTRoundTrip(t *testing.T) {
	for _, r := range []txtRecord{
		{Protocol: 1, Fingerprint: testFingerprint(1), PairingOpen: false},
		{Protocol: 1, Fingerprint: testFingerprint(2), PairingOpen: true},
		{Protocol: 9999, Fingerprint: testFingerprint(3)},
	} {
		r.DeviceID = r.Fingerprint.DeviceID()
		fields := r.fields()
		got, err := parseTXT(fields)
		if err != nil {
			t.Fatalf("parseTXT(%q): %v", fields, err)
		}
		if got != r {
			t.Errorf("parseTXT(%q) = %+v, want %+v", fields, got, r)
		}
		if n := len(strings.Join(fields, "")); n > 100 {
			t.Errorf("TXT record is %d bytes: keep it small", n)
		}
	}
}

func TestTXTFields(t *testing.T) {
	fp := testFingerprint(1)
	got := txtRecord{Protocol: 1, DeviceID: fp.DeviceID(), Fingerprint: fp, PairingOpen: true}.fields()
	want := []string{"v=1", "id=" + fp.DeviceID(), "fp=" + strings.ReplaceAll(fp.String(), "-", ""), "pair=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields() = %q, want %q", got, want)
	}
	if len(got[2]) != 3+56 {
		t.Errorf("fp= value is %d characters, want 56", len(got[2])-3)
	}
}

func TestParseTXT(t *testing.T) {
	fp := testFingerprint(1)
	id := fp.DeviceID()
	fpText := strings.ReplaceAll(fp.String(), "-", "")
	other := testFingerprint(9)
	valid := []string{"v=1", "id=" + id, "fp=" + fpText, "pair=0"}
	with := func(extra ...string) []string { return append(append([]string{}, extra...), valid...) }
	replace := func(i int, s string) []string { f := append([]string{}, valid...); f[i] = s; return f }
	mutate := func(s string, i int, c byte) string { b := []byte(s); b[i] = c; return string(b) }

	tests := []struct {
		name   string
		fields []string
		ok     bool
		pair   bool
	}{
		{"valid", valid, true, false},
		{"pairing open", replace(3, "pair=1"), true, true},
		{"keys any case", []string{"V=1", "ID=" + id, "Fp=" + fpText, "PAIR=1"}, true, true},
		{"unknown keys ignored", append(with("x=y", "flag", ""), "zz="), true, false},
		{"first of duplicate keys wins", with("pair=1"), true, true},
		{"duplicate bad value first", with("v=x"), false, false},
		{"missing v", valid[1:], false, false},
		{"missing pair", valid[:3], false, false},
		{"empty", nil, false, false},
		{"v zero", replace(0, "v=0"), false, false},
		{"v leading zero", replace(0, "v=01"), false, false},
		{"v negative", replace(0, "v=-1"), false, false},
		{"v too big", replace(0, "v=10000"), false, false},
		{"v empty", replace(0, "v="), false, false},
		{"id lower case", replace(1, "id="+strings.ToLower(id)), false, false},
		{"id short", replace(1, "id="+id[:6]), false, false},
		{"id not the fingerprint's", replace(1, "id="+other.DeviceID()), false, false},
		{"fp with dashes", replace(2, "fp="+fp.String()), false, false},
		{"fp lower case", replace(2, "fp="+strings.ToLower(fpText)), false, false},
		{"fp bad check character", replace(2, "fp="+mutate(fpText, 5, fpText[5]^1)), false, false},
		{"fp short", replace(2, "fp="+fpText[:55]), false, false},
		{"fp escaped byte", replace(2, `fp=\255`+fpText[4:]), false, false},
		{"pair yes", replace(3, "pair=yes"), false, false},
		{"pair empty", replace(3, "pair="), false, false},
		{"pair boolean attribute", replace(3, "pair"), false, false},
		{"too many strings", with(strings.Split(strings.Repeat("a=b,", 13), ",")...), false, false},
		{"string too long", with("x=" + strings.Repeat("a", 254)), false, false},
		{"too long in all", with(strings.Split(strings.Repeat(strings.Repeat("a", 200)+",", 7), ",")[:7]...), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseTXT(tt.fields)
			if tt.ok != (err == nil) {
				t.Fatalf("parseTXT(%q) = %+v, %v; want ok=%v", tt.fields, r, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedTXT) {
					t.Errorf("error %v does not wrap ErrMalformedTXT", err)
				}
				if r != (txtRecord{}) {
					t.Errorf("a rejected record returned %+v", r)
				}
				return
			}
			if r.DeviceID != id || r.Fingerprint != fp || r.Protocol != 1 || r.PairingOpen != tt.pair {
				t.Errorf("parseTXT(%q) = %+v", tt.fields, r)
			}
		})
	}
}

// FuzzParseTXT feeds the TXT parser strings as miekg/dns presents them,
// one per line. Whatever it accepts must survive a round trip.
func FuzzParseTXT(f *testing.F) {
	fp := testFingerprint(1)
	fpText := strings.ReplaceAll(fp.String(), "-", "")
	f.Add("v=1\nid=" + fp.DeviceID() + "\nfp=" + fpText + "\npair=0")
	f.Add("pair=1\nfp=" + fpText + "\nID=" + fp.DeviceID() + "\nv=2\nx=\\000")
	f.Add("v=1\nv=2\nid=AAAAAAA\nfp=" + strings.Repeat("A", 56) + "\npair=1")
	f.Add("=\n\n==\nv=\\255\\\"")
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		r, err := parseTXT(strings.Split(in, "\n"))
		if err != nil {
			return
		}
		again, err := parseTXT(r.fields())
		if err != nil || again != r {
			t.Fatalf("accepted %q as %+v, but its own fields give %+v, %v", in, r, again, err)
		}
	})
}

func BenchmarkParseTXT(b *testing.B) {
	fp := testFingerprint(1)
	fields := txtRecord{Protocol: 1, DeviceID: fp.DeviceID(), Fingerprint: fp}.fields()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseTXT(fields); err != nil {
			b.Fatal(err)
		}
	}
}
