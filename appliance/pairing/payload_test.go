package pairing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

// The worked example of docs/PAIRING_PAYLOAD.md.
const examplePayload = "CR:AEAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6HIXAF4JXDIY"

func examplePayloadValue() Payload {
	p := Payload{Version: 1, Port: 7447, Code: "24681357"}
	for i := range p.Fingerprint {
		p.Fingerprint[i] = byte(i)
	}
	return p
}

// rawPayload encodes arbitrary bytes in the payload frame, with a correct
// check character, to build payloads String would never write.
func rawPayload(bin []byte) string {
	body := payloadB32.EncodeToString(bin)
	return payloadPrefix + body + string(luhn32(body))
}

func exampleBin() []byte {
	var b bytes.Buffer
	b.WriteByte(1)
	for i := range 32 {
		b.WriteByte(byte(i))
	}
	binary.Write(&b, binary.BigEndian, uint16(7447))
	binary.Write(&b, binary.BigEndian, uint32(24681357))
	return b.Bytes()
}

func TestPayloadExample(t *testing.T) {
	p := examplePayloadValue()
	if got := p.String(); got != examplePayload {
		t.Fatalf("String = %s\nwant     %s", got, examplePayload)
	}
	if got := rawPayload(exampleBin()); got != examplePayload {
		t.Fatalf("byte layout differs from the doc: %s", got)
	}
	if got := p.DeviceID(); got != "AAAQEAY" {
		t.Fatalf("DeviceID = %s", got)
	}
	for _, in := range []string{examplePayload, strings.ToLower(examplePayload), " \t" + examplePayload + "\r\n", "cR:" + examplePayload[3:]} {
		got, err := ParsePayload(in)
		if err != nil {
			t.Fatalf("ParsePayload(%q): %v", in, err)
		}
		if got != p {
			t.Fatalf("ParsePayload(%q) = %+v, want %+v", in, got, p)
		}
	}
	// Version 0 means "current" when building.
	p.Version = 0
	if p.String() != examplePayload {
		t.Fatal("Version 0 does not encode as the current version")
	}
}

func TestParsePayloadErrors(t *testing.T) {
	withBin := func(f func(b []byte) []byte) string { return rawPayload(f(exampleBin())) }
	setCode := func(v uint32) string {
		return withBin(func(b []byte) []byte { binary.BigEndian.PutUint32(b[35:], v); return b })
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNotPayload},
		{"too long", "CR:" + strings.Repeat("A", 254), ErrNotPayload},
		{"wrong prefix", "MT:" + examplePayload[3:], ErrNotPayload},
		{"no colon", "CR" + examplePayload[3:], ErrNotPayload},
		{"fingerprint text", "AAAQEAY-EAUDAOB-CAJBIFQ-YDIOB4B-IBCEQTC-QKRMFYX-YDENBWH-A5DYPQG", ErrNotPayload},
		{"padding", examplePayload + "=", ErrNotPayload},
		{"inner space", examplePayload[:20] + " " + examplePayload[20:], ErrNotPayload},
		{"digit 1", examplePayload[:20] + "1" + examplePayload[21:], ErrNotPayload},
		{"non-ASCII", examplePayload[:20] + "é" + examplePayload[21:], ErrNotPayload},
		{"prefix only", "CR:", ErrPayloadInvalid},
		{"two chars", "CR:AA", ErrPayloadInvalid},
		{"mistyped", examplePayload[:20] + "Z" + examplePayload[21:], ErrPayloadCheck},
		{"check changed", examplePayload[:66] + "A", ErrPayloadCheck},
		{"truncated", examplePayload[:60], ErrPayloadCheck},
		{"version 2", withBin(func(b []byte) []byte { b[0] = 2; return b }), ErrPayloadVersion},
		{"version 2 shorter", rawPayload([]byte{2, 9, 9}), ErrPayloadVersion},
		{"version 0", withBin(func(b []byte) []byte { b[0] = 0; return b }), ErrPayloadVersion},
		{"version 255", withBin(func(b []byte) []byte { b[0] = 255; return b }), ErrPayloadVersion},
		{"one byte short", withBin(func(b []byte) []byte { return b[:len(b)-1] }), ErrPayloadInvalid},
		{"byte beyond", withBin(func(b []byte) []byte { return append(b, 0) }), ErrPayloadInvalid},
		{"bytes beyond", withBin(func(b []byte) []byte { return append(b, 1, 2, 3, 4, 5) }), ErrPayloadInvalid},
		{"port 0", withBin(func(b []byte) []byte { b[33], b[34] = 0, 0; return b }), ErrPayloadInvalid},
		{"code 0", setCode(0), ErrCodeTrivial},
		{"code trivial", setCode(11111111), ErrCodeTrivial},
		{"code sequence", setCode(12345678), ErrCodeTrivial},
		{"code too big", setCode(100000000), ErrCodeLength},
		{"code max", setCode(0xffffffff), ErrPayloadInvalid},
	}
	// Non-zero unused bits in the last data character.
	last := strings.IndexByte(payloadAlpha, examplePayload[65])
	body := examplePayload[3:65] + string(payloadAlpha[last|1])
	tests = append(tests, struct {
		name string
		in   string
		want error
	}{"unused bits set", payloadPrefix + body + string(luhn32(body)), ErrPayloadInvalid})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePayload(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParsePayload(%q) = %+v, %v; want %v", tt.in, p, err, tt.want)
			}
			if p != (Payload{}) {
				t.Fatalf("returned a payload with an error: %+v", p)
			}
			if errors.Is(tt.want, ErrCodeTrivial) || errors.Is(tt.want, ErrCodeLength) {
				if !errors.Is(err, ErrPayloadInvalid) {
					t.Fatalf("code error %v does not wrap ErrPayloadInvalid", err)
				}
			}
		})
	}
}

// TestPayloadCheckCatchesEverySubstitution mistypes each data character in
// turn with every other character.
func TestPayloadCheckCatchesEverySubstitution(t *testing.T) {
	for i := 3; i < len(examplePayload); i++ {
		for _, c := range []byte(payloadAlpha) {
			if c == examplePayload[i] {
				continue
			}
			in := examplePayload[:i] + string(c) + examplePayload[i+1:]
			if _, err := ParsePayload(in); !errors.Is(err, ErrPayloadCheck) {
				t.Fatalf("position %d -> %c: err %v, want ErrPayloadCheck", i, c, err)
			}
		}
	}
}

func TestPayloadValidate(t *testing.T) {
	ok := examplePayloadValue()
	tests := []struct {
		name string
		edit func(*Payload)
		want error
	}{
		{"ok", func(*Payload) {}, nil},
		{"version 0", func(p *Payload) { p.Version = 0 }, nil},
		{"version 2", func(p *Payload) { p.Version = 2 }, ErrPayloadVersion},
		{"port 0", func(p *Payload) { p.Port = 0 }, ErrPayloadInvalid},
		{"no code", func(p *Payload) { p.Code = "" }, ErrCodeLength},
		{"dashed code", func(p *Payload) { p.Code = "2468-1357" }, ErrCodeDigits},
		{"trivial code", func(p *Payload) { p.Code = "87654321" }, ErrCodeTrivial},
	}
	for _, tt := range tests {
		p := ok
		tt.edit(&p)
		err := p.Validate()
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
		if _, qerr := p.QR(); (qerr == nil) != (err == nil) {
			t.Errorf("%s: QR err %v, Validate err %v", tt.name, qerr, err)
		}
	}
}

func TestPayloadQR(t *testing.T) {
	for _, fill := range []byte{0x00, 0x5a, 0xff} {
		p := examplePayloadValue()
		for i := range p.Fingerprint {
			p.Fingerprint[i] = fill
		}
		q, err := p.QR()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(q, "\n"), "\n")
		// In alphanumeric mode (or numeric, for runs of digits) 67
		// characters fit in version 4 (33 modules) at level M; byte mode
		// would need version 5 (37). With the 4-module quiet zone on each
		// side, a line is at most 41 characters.
		w := utf8.RuneCountInString(lines[0])
		if w > 41 || len(lines) != (w+1)/2 {
			t.Fatalf("fill %#x: QR is %d modules wide, %d lines; want at most 41 (version 4)", fill, w, len(lines))
		}
	}
}

func TestPayloadLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	p := examplePayloadValue()
	log.Info("pairing", "payload", p, "code", p.Code)
	out := buf.String()
	for _, secret := range []string{"24681357", "2468-1357", examplePayload} {
		if strings.Contains(out, secret) {
			t.Fatalf("log leaks %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "AAAQEAY") || !strings.Contains(out, "7447") {
		t.Fatalf("log lacks device or port: %s", out)
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add(examplePayload)
	f.Add(strings.ToLower(examplePayload))
	f.Add(" " + examplePayload + "\n")
	f.Add(rawPayload([]byte{2, 9, 9}))
	f.Add(rawPayload(append(exampleBin(), 0)))
	f.Add("CR:")
	f.Add("MT:Y.K9042C00KA0648G00")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePayload(s)
		if err != nil {
			if p != (Payload{}) {
				t.Fatalf("payload %+v with error %v", p, err)
			}
			for _, e := range []error{ErrNotPayload, ErrPayloadVersion, ErrPayloadCheck, ErrPayloadInvalid} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("error %v wraps no payload sentinel", err)
		}
		if len(s) > maxPayloadLen {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed an invalid payload %+v: %v", p, err)
		}
		out := p.String()
		if !strings.EqualFold(out, strings.TrimSpace(s)) {
			t.Fatalf("round trip: %q -> %q", s, out)
		}
		if out != strings.ToUpper(out) {
			t.Fatalf("String is not upper case: %q", out)
		}
		if back, err := ParsePayload(out); err != nil || back != p {
			t.Fatalf("re-parse: %+v, %v", back, err)
		}
	})
}
