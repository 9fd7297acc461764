package control

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel…"},
		{"hello", 0, "…"},
		{"hello", -1, "…"},
		{"crèche", 3, "cr…"},          // è is 2 bytes (3-4): a cut at 3 falls inside it
		{"crèche", 4, "crè…"},         // a cut right after it keeps it
		{"日本語", 4, "日…"},              // 3-byte characters: 4 and 5 fall inside the second
		{"日本語", 5, "日…"},              //
		{"日本語", 6, "日本…"},             //
		{"baby 👶 cries", 7, "baby …"}, // a 4-byte emoji at 5-8
	} {
		got := Truncate(tc.s, tc.n)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
	// Every cut of a multi-byte string is valid UTF-8 and at most n bytes
	// of it (plus the mark).
	s := strings.Repeat("é日👶a", 5)
	for n := 0; n <= len(s); n++ {
		got := Truncate(s, n)
		if !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q: not valid UTF-8", s, n, got)
		}
		if kept := strings.TrimSuffix(got, "…"); len(kept) > n || !strings.HasPrefix(s, kept) {
			t.Fatalf("Truncate(%q, %d) = %q: want a prefix of at most %d bytes", s, n, got, n)
		}
	}
}
