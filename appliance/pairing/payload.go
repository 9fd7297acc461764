package pairing

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// Errors returned by ParsePayload. Each wraps one of these, so a listener
// app can tell "not ours", "update the app" and "mistyped" apart.
var (
	// ErrNotPayload: the text is not a Cradle setup payload (no "CR:" prefix,
	// or characters outside the payload alphabet).
	ErrNotPayload = errors.New("pairing: this is not a Cradle setup code: scan the QR code on the monitor's screen or label")
	// ErrPayloadVersion: a well-formed payload of a version this app does not know.
	ErrPayloadVersion = errors.New("pairing: this monitor uses a newer setup format: update the Cradle app")
	// ErrPayloadCheck: the check character does not match (a typing mistake).
	ErrPayloadCheck = errors.New("pairing: the setup text is mistyped (its check character does not match): copy or scan it again")
	// ErrPayloadInvalid: a payload of a known version whose content is wrong
	// (length, trailing bits, port 0, or a bad setup code).
	ErrPayloadInvalid = errors.New("pairing: the setup text is damaged: copy or scan it again")
)

// PayloadVersion is the version of the payload format this package writes.
const PayloadVersion = 1

const (
	payloadPrefix = "CR:"
	maxPayloadLen = 256 // ParsePayload rejects longer input before decoding
	payloadBinLen = 1 + 32 + 2 + 4
	payloadAlpha  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // RFC 4648 base32
)

var payloadB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Payload is what a listener needs to pair with a monitor: its fingerprint
// (to pin the TLS connection), its port and the setup code. It travels as a
// QR code or as copy-paste text; docs/PAIRING_PAYLOAD.md specifies the text
// byte by byte.
//
// The device id is not carried separately: it is the first 7 characters of
// the fingerprint's human form (identity.Fingerprint.DeviceID), so the
// fingerprint carries it (see DeviceID).
type Payload struct {
	Version     int // PayloadVersion; 0 in a Payload being built means PayloadVersion
	Fingerprint identity.Fingerprint
	Port        uint16
	Code        Code
}

// DeviceID returns the monitor's short device id, from its fingerprint.
func (p Payload) DeviceID() string { return p.Fingerprint.DeviceID() }

// Validate reports whether p can be encoded and would parse back.
func (p Payload) Validate() error {
	if p.Version != 0 && p.Version != PayloadVersion {
		return fmt.Errorf("%w: version %d", ErrPayloadVersion, p.Version)
	}
	if p.Port == 0 {
		return fmt.Errorf("%w: port 0", ErrPayloadInvalid)
	}
	if err := p.Code.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrPayloadInvalid, err)
	}
	return nil
}

// String returns the payload text, upper case: "CR:" + base32 + check
// character (67 characters). Call Validate first if p may be invalid; an
// invalid p encodes to text that ParsePayload rejects.
func (p Payload) String() string {
	var bin [payloadBinLen]byte
	bin[0] = PayloadVersion
	if p.Version != 0 {
		bin[0] = byte(p.Version)
	}
	copy(bin[1:33], p.Fingerprint[:])
	binary.BigEndian.PutUint16(bin[33:35], p.Port)
	binary.BigEndian.PutUint32(bin[35:39], p.Code.value())
	body := payloadB32.EncodeToString(bin[:])
	return payloadPrefix + body + string(luhn32(body))
}

// LogValue logs the payload without its setup code.
func (p Payload) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("version", p.Version),
		slog.Any("device", p.Fingerprint),
		slog.Int("port", int(p.Port)),
		slog.String("code", "[redacted]"),
	)
}

// QR renders the payload as a QR code for a terminal (two rows of modules
// per line, with Unicode half blocks). The text is upper case, so the QR
// code uses alphanumeric mode: version 4, 33x33 modules, at level M.
func (p Payload) QR() (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	q, err := qrcode.New(p.String(), qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("pairing: QR code: %w", err)
	}
	return q.ToSmallString(false), nil
}

// ParsePayload parses payload text, scanned or pasted. It accepts lower
// case and surrounding white space, nothing else: input longer than 256
// bytes, a missing "CR:" prefix or a foreign character is ErrNotPayload; a
// wrong check character ErrPayloadCheck; a version other than 1
// ErrPayloadVersion; anything else wrong ErrPayloadInvalid.
//
// The prefix, the base32 alphabet, the check character and the version in
// the first byte are the same in every version; a later version may change
// only what follows the version byte. So an old app tells a newer payload
// ("update the app") from a mistyped one.
func ParsePayload(s string) (Payload, error) {
	if len(s) > maxPayloadLen {
		return Payload{}, fmt.Errorf("%w: %d bytes is far too long", ErrNotPayload, len(s))
	}
	s = strings.TrimSpace(s)
	if len(s) < len(payloadPrefix) || !strings.EqualFold(s[:len(payloadPrefix)], payloadPrefix) {
		return Payload{}, fmt.Errorf("%w: it does not start with %q", ErrNotPayload, payloadPrefix)
	}
	body := []byte(s[len(payloadPrefix):])
	for i, c := range body {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
			body[i] = c
		}
		if strings.IndexByte(payloadAlpha, c) < 0 {
			return Payload{}, fmt.Errorf("%w: character %q is not used in setup codes", ErrNotPayload, c)
		}
	}
	// At least the two characters holding the version byte, and the check.
	if len(body) < 3 {
		return Payload{}, fmt.Errorf("%w: too short", ErrPayloadInvalid)
	}
	data, check := string(body[:len(body)-1]), body[len(body)-1]
	if luhn32(data) != check {
		return Payload{}, ErrPayloadCheck
	}
	// The version byte is the first 5 bits of data[0] and 3 of data[1].
	version := strings.IndexByte(payloadAlpha, data[0])<<3 | strings.IndexByte(payloadAlpha, data[1])>>2
	if version != PayloadVersion {
		return Payload{}, fmt.Errorf("%w (version %d)", ErrPayloadVersion, version)
	}
	var bin [payloadBinLen]byte
	if payloadB32.DecodedLen(len(data)) != payloadBinLen {
		return Payload{}, fmt.Errorf("%w: %d characters, want %d", ErrPayloadInvalid, len(s), len(payloadPrefix)+payloadB32.EncodedLen(payloadBinLen)+1)
	}
	// The last character carries 3 unused bits: they must be zero, so each
	// payload has exactly one text form.
	if n, err := payloadB32.Decode(bin[:], []byte(data)); err != nil || n != payloadBinLen || payloadB32.EncodeToString(bin[:]) != data {
		return Payload{}, fmt.Errorf("%w: bad encoding", ErrPayloadInvalid)
	}
	p := Payload{Version: int(bin[0]), Port: binary.BigEndian.Uint16(bin[33:35])}
	copy(p.Fingerprint[:], bin[1:33])
	if v := binary.BigEndian.Uint32(bin[35:39]); v < 1e8 {
		p.Code = codeFromUint(v)
	}
	if err := p.Validate(); err != nil {
		return Payload{}, err
	}
	return p, nil
}

// luhn32 is the payload's check character: the same Luhn mod 32 over
// base32 as the fingerprint's human form.
func luhn32(s string) byte { return identity.Luhn32(s) }
