package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// TXT keys. Values are plain ASCII; see docs/DISCOVERY.md.
const (
	keyProtocol    = "v"    // protocol version, decimal: "1"
	keyDeviceID    = "id"   // 7-character short id
	keyFingerprint = "fp"   // 56-character human form without dashes
	keyPairing     = "pair" // "1" while the pairing window is open, else "0"
)

// Limits on TXT data from the network, checked before any parsing. A
// record that breaks one is skipped as a whole.
const (
	maxTXTStrings     = 16   // our record has 4
	maxTXTString      = 255  // one DNS character-string (escapes counted as sent by miekg/dns)
	maxTXTTotal       = 1300 // about one mDNS packet
	maxProtocol       = 9999
	fingerprintTXTLen = 56
	deviceIDLen       = 7
)

// txtRecord is what a monitor's TXT record carries.
type txtRecord struct {
	Protocol    int
	DeviceID    string
	Fingerprint identity.Fingerprint
	PairingOpen bool
}

// fields returns the TXT strings in the order the monitor sends them.
func (r txtRecord) fields() []string {
	pair := "0"
	if r.PairingOpen {
		pair = "1"
	}
	return []string{
		keyProtocol + "=" + strconv.Itoa(r.Protocol),
		keyDeviceID + "=" + r.DeviceID,
		keyFingerprint + "=" + strings.ReplaceAll(r.Fingerprint.String(), "-", ""),
		keyPairing + "=" + pair,
	}
}

// parseTXT parses the TXT strings of a monitor, as miekg/dns presents
// them (non-printable bytes escaped as \DDD). It is strict about the four
// keys it needs and ignores others, so a later version may add keys.
// As RFC 6763 section 6.4 says, only the first occurrence of a key counts;
// keys are compared without regard to case.
func parseTXT(fields []string) (txtRecord, error) {
	var r txtRecord
	if len(fields) > maxTXTStrings {
		return r, fmt.Errorf("%w: %d strings (at most %d)", ErrMalformedTXT, len(fields), maxTXTStrings)
	}
	total := 0
	for _, f := range fields {
		if len(f) > maxTXTString {
			return r, fmt.Errorf("%w: a string of %d bytes (at most %d)", ErrMalformedTXT, len(f), maxTXTString)
		}
		total += len(f)
	}
	if total > maxTXTTotal {
		return r, fmt.Errorf("%w: %d bytes in all (at most %d)", ErrMalformedTXT, total, maxTXTTotal)
	}

	values := make(map[string]string, 4)
	for _, f := range fields {
		key, value, ok := strings.Cut(f, "=")
		if !ok || key == "" {
			continue // a boolean attribute or an empty string: not ours
		}
		key = strings.ToLower(key)
		if _, seen := values[key]; !seen {
			values[key] = value
		}
	}

	get := func(key string) (string, error) {
		v, ok := values[key]
		if !ok {
			return "", fmt.Errorf("%w: no %q key", ErrMalformedTXT, key)
		}
		return v, nil
	}
	var errs []error
	if v, err := get(keyProtocol); err != nil {
		errs = append(errs, err)
	} else if p, ok := parseDecimal(v); !ok || p < 1 || p > maxProtocol {
		errs = append(errs, fmt.Errorf("%w: protocol %q is not a number from 1 to %d", ErrMalformedTXT, v, maxProtocol))
	} else {
		r.Protocol = p
	}
	if v, err := get(keyFingerprint); err != nil {
		errs = append(errs, err)
	} else if len(v) != fingerprintTXTLen || !isBase32Upper(v) {
		errs = append(errs, fmt.Errorf("%w: fingerprint is not 56 characters A-Z, 2-7", ErrMalformedTXT))
	} else if fp, err := identity.ParseFingerprint(v); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrMalformedTXT, err))
	} else {
		r.Fingerprint = fp
	}
	if v, err := get(keyDeviceID); err != nil {
		errs = append(errs, err)
	} else if len(v) != deviceIDLen || !isBase32Upper(v) {
		errs = append(errs, fmt.Errorf("%w: device id is not 7 characters A-Z, 2-7", ErrMalformedTXT))
	} else {
		r.DeviceID = v
	}
	if v, err := get(keyPairing); err != nil {
		errs = append(errs, err)
	} else if v != "0" && v != "1" {
		errs = append(errs, fmt.Errorf("%w: pairing flag %q is not 0 or 1", ErrMalformedTXT, v))
	} else {
		r.PairingOpen = v == "1"
	}
	if err := errors.Join(errs...); err != nil {
		return txtRecord{}, err
	}
	if r.DeviceID != r.Fingerprint.DeviceID() {
		return txtRecord{}, fmt.Errorf("%w: device id %s does not belong to fingerprint %s", ErrMalformedTXT, r.DeviceID, r.Fingerprint.DeviceID())
	}
	return r, nil
}

// parseDecimal accepts 1 to 4 ASCII digits without sign or leading zero.
func parseDecimal(s string) (int, bool) {
	if len(s) == 0 || len(s) > 4 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isBase32Upper(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
