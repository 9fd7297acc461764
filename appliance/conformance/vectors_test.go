package conformance

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/transport"

	"crypto/x509"
	"encoding/base64"
)

// vectorDir holds the vectors published for other implementations; these
// tests check this repository's code against the same files, so the two
// cannot drift.
var vectorDir = filepath.Join("..", "..", "docs", "conformance")

func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fingerprint(t *testing.T, s string) identity.Fingerprint {
	t.Helper()
	var fp identity.Fingerprint
	if b := unhex(t, s); len(b) != len(fp) {
		t.Fatalf("fingerprint %s: %d bytes", s, len(b))
	} else {
		copy(fp[:], b)
	}
	return fp
}

func TestFingerprintVectors(t *testing.T) {
	var v struct {
		Valid []struct {
			Name, Human    string
			FingerprintHex string `json:"fingerprint_hex"`
			DeviceID       string `json:"device_id"`
		}
		LowerCaseAndSpaces []struct {
			Input          string
			FingerprintHex string `json:"fingerprint_hex"`
		} `json:"lower_case_and_spaces"`
		Invalid     []struct{ Name, Human string }
		Certificate struct {
			DER            string `json:"der_base64"`
			FingerprintHex string `json:"fingerprint_hex"`
			Human          string
		}
	}
	load(t, "fingerprints.json", &v)
	for _, c := range v.Valid {
		fp := fingerprint(t, c.FingerprintHex)
		if fp.String() != c.Human || fp.DeviceID() != c.DeviceID {
			t.Errorf("%s: human %s id %s, want %s %s", c.Name, fp, fp.DeviceID(), c.Human, c.DeviceID)
		}
		if got, err := identity.ParseFingerprint(c.Human); err != nil || got != fp {
			t.Errorf("%s: parse %s = %v, %v", c.Name, c.Human, got, err)
		}
	}
	for _, c := range v.LowerCaseAndSpaces {
		if got, err := identity.ParseFingerprint(c.Input); err != nil || got != fingerprint(t, c.FingerprintHex) {
			t.Errorf("parse %q = %v, %v", c.Input, got, err)
		}
	}
	for _, c := range v.Invalid {
		if got, err := identity.ParseFingerprint(c.Human); !errors.Is(err, identity.ErrBadFingerprint) {
			t.Errorf("%s: %q parsed as %v, %v", c.Name, c.Human, got, err)
		}
	}
	der, err := base64.StdEncoding.DecodeString(v.Certificate.DER)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if fp := identity.FingerprintOf(cert); fp != fingerprint(t, v.Certificate.FingerprintHex) || fp.String() != v.Certificate.Human {
		t.Errorf("certificate fingerprint %s, want %s", fp, v.Certificate.Human)
	}
}

func TestSetupPayloadVectors(t *testing.T) {
	var v struct {
		Valid []struct {
			Name, Text     string
			Version        int
			FingerprintHex string `json:"fingerprint_hex"`
			DeviceID       string `json:"device_id"`
			Port           uint16
			Code           string
			NotCanonical   bool `json:"not_canonical"`
		}
		Invalid    []struct{ Name, Text, Error string }
		SetupCodes struct{ Valid, Invalid []string } `json:"setup_codes"`
	}
	load(t, "setup_payloads.json", &v)
	for _, c := range v.Valid {
		p, err := pairing.ParsePayload(c.Text)
		want := pairing.Payload{Version: c.Version, Fingerprint: fingerprint(t, c.FingerprintHex), Port: c.Port, Code: pairing.Code(c.Code)}
		if err != nil || p != want || p.DeviceID() != c.DeviceID {
			t.Errorf("%s: parse = %+v, %v; want %+v", c.Name, p, err, want)
		}
		if !c.NotCanonical && want.String() != c.Text {
			t.Errorf("%s: written as %s, want %s", c.Name, want.String(), c.Text)
		}
	}
	classes := map[string]error{"not_payload": pairing.ErrNotPayload, "check": pairing.ErrPayloadCheck,
		"version": pairing.ErrPayloadVersion, "invalid": pairing.ErrPayloadInvalid}
	for _, c := range v.Invalid {
		want, ok := classes[c.Error]
		if !ok {
			t.Fatalf("%s: unknown class %q", c.Name, c.Error)
		}
		if p, err := pairing.ParsePayload(c.Text); !errors.Is(err, want) {
			t.Errorf("%s: parse = %+v, %v; want %v", c.Name, p, err, want)
		}
	}
	for _, s := range v.SetupCodes.Valid {
		if _, err := pairing.ParseCode(s); err != nil {
			t.Errorf("setup code %s rejected: %v", s, err)
		}
	}
	for _, s := range v.SetupCodes.Invalid {
		if c, err := pairing.ParseCode(s); err == nil {
			t.Errorf("setup code %s accepted as %v", s, c)
		}
	}
}

// repeat is a random source that returns one byte forever.
type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestPAKEVector(t *testing.T) {
	var v struct {
		Vector struct {
			Code  string
			A     string `json:"listener_id_A"`
			B     string `json:"monitor_id_B"`
			AAD   string `json:"binding_AAD"`
			PA    string `json:"pA"`
			PB    string `json:"pB"`
			Ke    string
			CA    string `json:"cA"`
			CB    string `json:"cB"`
			Label string `json:"exporter_label"`
		}
		Randomness struct {
			X string `json:"x_source_hex"`
			Y string `json:"y_source_hex"`
		}
		Messages []string
	}
	load(t, "pake.json", &v)
	x, y := unhex(t, v.Randomness.X), unhex(t, v.Randomness.Y)
	if !bytes.Equal(x, bytes.Repeat([]byte{0x11}, 40)) || !bytes.Equal(y, bytes.Repeat([]byte{0x22}, 40)) {
		t.Fatal("randomness is not the documented repeated bytes")
	}
	if v.Vector.Label != transport.ExporterLabel {
		t.Errorf("exporter label %q, transport uses %q", v.Vector.Label, transport.ExporterLabel)
	}
	if transport.ExporterLabel != pake.ExporterLabel {
		t.Errorf("transport and pake disagree on the exporter label")
	}
	p := pake.Params{Code: v.Vector.Code, ListenerID: fingerprint(t, v.Vector.A), MonitorID: fingerprint(t, v.Vector.B), Binding: unhex(t, v.Vector.AAD)}
	l, err := pake.NewInitiator(p, repeat(0x11))
	if err != nil {
		t.Fatal(err)
	}
	m, err := pake.NewResponder(p, repeat(0x22))
	if err != nil {
		t.Fatal(err)
	}
	pA, _ := l.Start()
	pB, err := m.Respond(pA)
	if err != nil {
		t.Fatal(err)
	}
	cA, err := l.Finish(pB)
	if err != nil {
		t.Fatal(err)
	}
	cB, mk, err := m.Confirm(cA)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := l.Verify(cB)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{{"pA", pA, v.Vector.PA}, {"pB", pB, v.Vector.PB}, {"cA", cA, v.Vector.CA}, {"cB", cB, v.Vector.CB}, {"Ke (listener)", lk, v.Vector.Ke}, {"Ke (monitor)", mk, v.Vector.Ke}} {
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("%s = %x, want %s", c.name, c.got, c.want)
		}
	}
	want := []control.Message{
		control.PairStart{Name: "Kitchen phone", PA: pA}, control.PairReply{PB: pB},
		control.PairConfirm{CA: cA}, control.PairDone{CB: cB, DeviceID: "AAAQEAY", Name: "Nursery"},
	}
	for i, s := range v.Messages {
		if b, err := control.Encode(want[i]); err != nil || string(b) != s {
			t.Errorf("message %d: encoded %s, %v; want %s", i, b, err, s)
		}
	}
}

func TestMessageVectors(t *testing.T) {
	var v struct {
		Messages struct{ Payloads []string }
	}
	load(t, "frames.json", &v)
	seen := map[control.Type]bool{}
	for _, s := range v.Messages.Payloads {
		m, err := control.Decode([]byte(s))
		if err != nil {
			t.Errorf("decode %s: %v", s, err)
			continue
		}
		seen[m.MessageType()] = true
		if b, err := control.Encode(m); err != nil || string(b) != s {
			t.Errorf("re-encoded %s as %s, %v", s, b, err)
		}
	}
	if len(seen) != 28 {
		t.Errorf("vectors cover %d message types, want 28", len(seen))
	}
}

func TestExporterVectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			Suite   string `json:"cipher_suite"`
			Hash    string
			Secret  string `json:"exporter_secret"`
			Label   string
			Context string `json:"context_hex"`
			Length  int
			Output  string
		}
	}
	load(t, "exporter.json", &v)
	hashes := map[string]crypto.Hash{"SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384}
	for _, c := range v.Vectors {
		got, err := ExporterFromSecret(hashes[c.Hash], unhex(t, c.Secret), c.Label, unhex(t, c.Context), c.Length)
		if err != nil || hex.EncodeToString(got) != c.Output {
			t.Errorf("%s: %x, %v; want %s", c.Suite, got, err, c.Output)
		}
	}
	if _, err := ExporterFromSecret(crypto.SHA1, make([]byte, 20), "x", nil, 32); !errors.Is(err, ErrExporter) {
		t.Errorf("SHA-1: %v", err)
	}
}
