package discovery

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestInstanceLabel(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes: cut to 31 runes (62 bytes)
	tests := []struct {
		in, label, name string
	}{
		{"Nursery", "Nursery", "Nursery"},
		{"  Nursery \n", "Nursery", "Nursery"},
		{"Baby's room", `Baby\'s\ room`, "Baby's room"},
		{"St. Mary (2)", `St\.\ Mary\ \(2\)`, "St. Mary (2)"},
		{"Chambre bébé", `Chambre\ b\195\169b\195\169`, "Chambre bébé"},
		{`a\b;c"d@e`, `a\\b\;c\"d\@e`, `a\b;c"d@e`},
		{long, strings.Repeat(`\195\169`, 31), strings.Repeat("é", 31)},
		{strings.Repeat("x", 70), strings.Repeat("x", 63), strings.Repeat("x", 63)},
	}
	for _, tt := range tests {
		label, err := instanceLabel(tt.in)
		if err != nil || label != tt.label {
			t.Errorf("instanceLabel(%q) = %q, %v; want %q", tt.in, label, err, tt.label)
			continue
		}
		name, ok := parseInstance(label + "." + serviceFQDN)
		if !ok || name != tt.name {
			t.Errorf("parseInstance(%q) = %q, %v; want %q", label+"."+serviceFQDN, name, ok, tt.name)
		}
	}
	for _, bad := range []string{"", "   ", "tab\there", "bad\xffutf8", "nul\x00"} {
		if _, err := instanceLabel(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("instanceLabel(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestParseInstance(t *testing.T) {
	tests := []struct {
		fqdn string
		name string // "" = not ours
	}{
		{"Nursery._cradle._udp.local.", "Nursery"},
		{"Nursery._CRADLE._UDP.LOCAL.", "Nursery"},
		{`Baby\'s\ room._cradle._udp.local.`, "Baby's room"},
		{`a\.b._cradle._udp.local.`, "a.b"},
		{"Nursery._cradle._udp.local", ""},                     // not fully qualified
		{"_cradle._udp.local.", ""},                            // the service, not an instance
		{"a.b._cradle._udp.local.", ""},                        // two labels
		{"Nursery._http._tcp.local.", ""},                      // another service
		{"Nursery._cradle._tcp.local.", ""},                    // another protocol
		{"Nursery._cradle._udp.example.com.", ""},              // another domain
		{`\000nul._cradle._udp.local.`, ""},                    // control character
		{`\255\255._cradle._udp.local.`, ""},                   // not UTF-8
		{"..", ""},                                             // malformed
		{strings.Repeat("a", 64) + "._cradle._udp.local.", ""}, // label too long
		{"", ""},
	}
	for _, tt := range tests {
		name, ok := parseInstance(tt.fqdn)
		if ok != (tt.name != "") || name != tt.name {
			t.Errorf("parseInstance(%q) = %q, %v; want %q", tt.fqdn, name, ok, tt.name)
		}
	}
}

// FuzzInstanceName checks that any room name survives the trip to an
// instance label and back, and that any name from the network that
// parseInstance accepts is one a monitor could have advertised.
func FuzzInstanceName(f *testing.F) {
	for _, s := range []string{"Nursery", "Baby's room", `St. Mary\ (2)`, "bébé", `\255._cradle._udp.local.`, "x._cradle._udp.local."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		if label, err := instanceLabel(s); err == nil {
			name, ok := parseInstance(label + "." + serviceFQDN)
			want := strings.TrimSpace(s)
			if !ok || !strings.HasPrefix(want, name) || len(name) > maxLabel || !utf8.ValidString(name) {
				t.Fatalf("room name %q: label %q parses back as %q, %v", s, label, name, ok)
			}
		}
		if name, ok := parseInstance(s); ok {
			label, err := instanceLabel(name)
			if err != nil {
				// Leading or trailing spaces are trimmed by instanceLabel only.
				if strings.TrimSpace(name) == "" {
					return
				}
				t.Fatalf("parseInstance(%q) = %q, which instanceLabel rejects: %v", s, name, err)
			}
			if again, ok := parseInstance(label + "." + serviceFQDN); !ok || again != strings.TrimSpace(name) {
				t.Fatalf("parseInstance(%q) = %q; relabelled %q gives %q, %v", s, name, label, again, ok)
			}
		}
	})
}
