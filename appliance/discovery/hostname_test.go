package discovery

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestHostLabel(t *testing.T) {
	const id = "AEEA6FQ"
	tests := []struct{ room, want string }{
		{"Nursery", "nursery-aeea6fq"},
		{"  Nursery \n", "nursery-aeea6fq"},
		{"Baby's room", "baby-s-room-aeea6fq"},
		{"St. Mary (2)", "st-mary-2-aeea6fq"},
		{"--Room--2--", "room-2-aeea6fq"},
		{"Chambre bébé", "chambre-bebe-aeea6fq"},
		{"Kinderzimmer Jörg Straße", "kinderzimmer-jorg-strasse-aeea6fq"},
		{"ŁÓDŹ", "lodz-aeea6fq"},
		{"Детская", "cradle-aeea6fq"},
		{"Kid's 子供部屋 2", "kid-s-2-aeea6fq"},
		{"!!!", "cradle-aeea6fq"},
		{"", "cradle-aeea6fq"},
		{"xn--nursery", "xn-nursery-aeea6fq"}, // never "--": not taken for punycode
		{"123", "123-aeea6fq"},
		{strings.Repeat("x", 70), strings.Repeat("x", 55) + "-aeea6fq"},
		{strings.Repeat("x", 54) + " yy", strings.Repeat("x", 54) + "-aeea6fq"}, // the cut leaves no "--"
		{strings.Repeat("é", 60), strings.Repeat("e", 55) + "-aeea6fq"},
	}
	for _, tt := range tests {
		if got := hostLabel(tt.room, id); got != tt.want {
			t.Errorf("hostLabel(%q) = %q, want %q", tt.room, got, tt.want)
		}
		checkHostLabel(t, tt.room, hostLabel(tt.room, id), id)
	}
	fp := testFingerprint(1)
	if got, want := HostName("Nursery", fp), "nursery-"+strings.ToLower(fp.DeviceID())+".local"; got != want {
		t.Errorf("HostName = %q, want %q", got, want)
	}
}

// TestShortHostName: the alias is the host label's room part, cut to a
// whole label, "cradle" when the room gives nothing; HostNames is both.
func TestShortHostName(t *testing.T) {
	for _, tt := range []struct{ room, want string }{
		{"Nursery", "nursery.local"},
		{"Baby's room", "baby-s-room.local"},
		{"Chambre bébé", "chambre-bebe.local"},
		{"Детская", "cradle.local"},
		{"", "cradle.local"},
		{strings.Repeat("x", 70), strings.Repeat("x", 63) + ".local"},
		{strings.Repeat("x", 62) + " yy", strings.Repeat("x", 62) + ".local"}, // the cut leaves no "-"
	} {
		got := ShortHostName(tt.room)
		if got != tt.want {
			t.Errorf("ShortHostName(%q) = %q, want %q", tt.room, got, tt.want)
		}
		checkLabel(t, tt.room, strings.TrimSuffix(got, ".local"))
	}
	fp := testFingerprint(1)
	if got, want := HostNames("Nursery", fp), []string{HostName("Nursery", fp), "nursery.local"}; !slices.Equal(got, want) {
		t.Errorf("HostNames = %q, want %q", got, want)
	}
}

// checkHostLabel fails unless label is a hostname label (RFC 952/1123)
// that ends with the device id.
func checkHostLabel(t *testing.T, room, label, id string) {
	t.Helper()
	checkLabel(t, room, label)
	if !strings.HasSuffix(label, "-"+strings.ToLower(id)) {
		t.Errorf("room %q: host label %q does not end in the device id", room, label)
	}
}

// checkLabel fails unless label is a hostname label (RFC 952/1123)
// without "--".
func checkLabel(t *testing.T, room, label string) {
	t.Helper()
	ok := len(label) > 0 && len(label) <= maxLabel && label[0] != '-' && label[len(label)-1] != '-' &&
		!strings.Contains(label, "--")
	for _, c := range []byte(label) {
		ok = ok && ('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-')
	}
	if _, isName := dns.IsDomainName(label + ".local."); !ok || !isName {
		t.Errorf("room %q: label %q is not a valid hostname label", room, label)
	}
}

// FuzzHostLabel: any room name, even one NewAdvertiser would refuse,
// gives a valid host label.
func FuzzHostLabel(f *testing.F) {
	for _, s := range []string{"Nursery", "Baby's room", "Chambre bébé", "Детская", "", "\xff\x00",
		strings.Repeat("a-", 40), strings.Repeat("ß", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, room string) {
		checkHostLabel(t, room, hostLabel(room, "AEEA6FQ"), "AEEA6FQ")
		short, ok := strings.CutSuffix(ShortHostName(room), ".local")
		if !ok {
			t.Errorf("room %q: alias %q is not in .local", room, short)
		}
		checkLabel(t, room, short)
	})
}
