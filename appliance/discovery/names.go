package discovery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// Names of the service in DNS-SD.
const (
	// ServiceType is the DNS-SD service type monitors advertise.
	ServiceType = "_cradle._udp"
	domain      = "local."
	serviceFQDN = ServiceType + "." + domain

	maxLabel     = 63   // bytes in one DNS label
	maxNameInput = 1024 // presentation form of a 255-byte name, escapes included
)

// instanceLabel turns a room name into the instance label that
// hashicorp/mdns puts in front of the service name. The label is in the
// presentation form miekg/dns itself produces when it unpacks a name (a
// space is `\ `, a dot `\.`, a byte above '~' `\DDD`), so the names in
// queries that phones send back match it byte for byte. Names longer than
// a DNS label are cut at a character boundary.
func instanceLabel(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fmt.Errorf("%w: the instance (room) name is empty", ErrInvalidConfig)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Errorf("%w: the instance (room) name %q has invalid or control characters", ErrInvalidConfig, name)
	}
	for len(name) > maxLabel {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	wire := make([]byte, 0, len(name)+2)
	wire = append(wire, byte(len(name)))
	wire = append(wire, name...)
	wire = append(wire, 0)
	s, _, err := dns.UnpackDomainName(wire, 0)
	if err != nil {
		return "", fmt.Errorf("%w: the instance (room) name %q: %w", ErrInvalidConfig, name, err)
	}
	return strings.TrimSuffix(s, "."), nil
}

// parseInstance returns the room name in an instance's full name, e.g.
// `Baby\'s\ room._cradle._udp.local.`, and false if the name is not one
// instance of our service in .local (or not a well-formed name).
func parseInstance(fqdn string) (string, bool) {
	if len(fqdn) > maxNameInput || !dns.IsFqdn(fqdn) {
		return "", false
	}
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(fqdn, buf, 0, nil, false)
	if err != nil {
		return "", false
	}
	var labels []string
	for off := 0; off < n && buf[off] != 0; {
		l := int(buf[off])
		if off+1+l > n || len(labels) == 4 {
			return "", false
		}
		labels = append(labels, string(buf[off+1:off+1+l]))
		off += 1 + l
	}
	if len(labels) != 4 || !strings.EqualFold(labels[1], "_cradle") ||
		!strings.EqualFold(labels[2], "_udp") || !strings.EqualFold(labels[3], "local") {
		return "", false
	}
	name := labels[0]
	if name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", false
	}
	return name, true
}
