package discovery

import (
	"strings"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// HostName returns the .local host name a monitor answers address (A and
// AAAA) queries for, without the final dot: a phone opens
// https://<HostName>/. It is one DNS label in the hostname syntax every
// browser and resolver accepts (RFC 952/1123: a-z, 0-9 and inner hyphens,
// at most 63 bytes), then ".local":
//
//  1. the room name, lower-cased: ASCII letters and digits are kept,
//     common accented Latin letters lose their accent (é -> e, ß -> ss),
//     and every run of anything else (spaces, punctuation, other scripts)
//     becomes one hyphen; hyphens at either end are dropped;
//  2. "cradle" if nothing is left;
//  3. a hyphen and the short device id, lower-case, always, cutting the
//     room part (and any hyphen the cut leaves at its end) so that the
//     label fits in 63 bytes.
//
// So "Nursery" with device id AEEA6FQ is "nursery-aeea6fq.local", and
// "Детская" (no Latin letters) "cradle-aeea6fq.local". The device id makes
// the name unique: hashicorp/mdns does not probe for conflicts, and two
// monitors left with the default room name would otherwise both answer for
// "nursery.local", so a phone would reach either at random and send the
// other monitor the cookie it holds for that name (they do both answer for
// ShortHostName, which only the card needs before the first boot). The id also lets a
// parent match the name against the one on the card and in `cradled status`.
func HostName(room string, fp identity.Fingerprint) string {
	return hostLabel(room, fp.DeviceID()) + ".local"
}

// ShortHostName returns the monitor's second .local name, without the
// final dot: the room part of HostName alone (steps 1 and 2, cut to 63
// bytes), so "Nursery" is "nursery.local". It is known before the monitor
// has an identity: the image build prints it on the card, with a QR code,
// and the monitor answers address queries for it as well as for HostName.
//
// The trade-off: nothing makes this name unique. Two monitors with the
// same room name both answer for it (a phone reaches either, and the page's
// cookie for that name works on one of them only), and a room named like
// another device of the home ("printer") answers for that device's name
// too (hashicorp/mdns does not probe for conflicts). HostName stays
// unique: the card is rewritten with it at the monitor's first boot, and
// `cradled status` prints it; the short name only has to work until then.
func ShortHostName(room string) string {
	return roomLabel(room, maxLabel) + ".local"
}

// HostNames returns both names the monitor answers for: HostName, then
// ShortHostName. The page's certificate names both.
func HostNames(room string, fp identity.Fingerprint) []string {
	return []string{HostName(room, fp), ShortHostName(room)}
}

// hostFallback is the room part of the host name when the room name gives
// no letter or digit.
const hostFallback = "cradle"

// hostLabel is HostName's label, for a device id of the form
// identity.Fingerprint.DeviceID returns (base32: A-Z, 2-7).
func hostLabel(room, deviceID string) string {
	suffix := "-" + strings.ToLower(deviceID)
	return roomLabel(room, maxLabel-len(suffix)) + suffix
}

// roomLabel is HostName's steps 1 and 2, the room part cut to max bytes.
func roomLabel(room string, max int) string {
	var b strings.Builder
	sep := false // a separator is pending
	add := func(s string) {
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteString(s)
	}
	for _, r := range room {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			add(string(r))
		case 'A' <= r && r <= 'Z':
			add(string(r - 'A' + 'a'))
		default:
			if s, ok := latinFold[r]; ok {
				add(s)
			} else {
				sep = true
			}
		}
	}
	name := b.String()
	if len(name) > max {
		name = strings.TrimRight(name[:max], "-") // ASCII only: any cut is at a character
	}
	if name == "" {
		name = hostFallback
	}
	return name
}

// latinFold maps accented Latin letters that room names in European
// languages commonly hold to ASCII, lower-case.
var latinFold = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
		'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th"}
	for base, letters := range map[string]string{
		"a": "àáâãäåāăąÀÁÂÃÄÅĀĂĄ", "c": "çćĉċčÇĆĈĊČ", "d": "ďĎ", "e": "èéêëēĕėęěÈÉÊËĒĔĖĘĚ",
		"g": "ĝğġģĜĞĠĢ", "h": "ĥĤ", "i": "ìíîïĩīĭįıÌÍÎÏĨĪĬĮİ", "j": "ĵĴ", "k": "ķĶ", "l": "ĺļľĹĻĽ",
		"n": "ñńņňÑŃŅŇ", "o": "òóôõöōŏőÒÓÔÕÖŌŎŐ", "r": "ŕŗřŔŖŘ", "s": "śŝşšŚŜŞŠ", "t": "ţťŢŤ",
		"u": "ùúûüũūŭůűųÙÚÛÜŨŪŬŮŰŲ", "w": "ŵŴ", "y": "ýÿŷÝŸŶ", "z": "źżžŹŻŽ",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()
