package control

import "unicode/utf8"

// Truncate shortens s, a string a peer chose (a name, an error's code or
// message), for a log line: it keeps at most n bytes of s, cut on a rune
// boundary so that no UTF-8 character is split, and marks the cut with
// "…". A string of at most n bytes is returned as it is.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
