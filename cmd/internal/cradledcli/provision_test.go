package cradledcli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"

	"github.com/cradle-monitor/cradle/appliance/pairing"
)

func payloadOf(t *testing.T, text string) pairing.Payload {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "Setup payload: "); ok {
			p, err := pairing.ParsePayload(v)
			if err != nil {
				t.Fatalf("payload %q: %v", v, err)
			}
			return p
		}
	}
	t.Fatalf("no payload line in %q", text)
	return pairing.Payload{}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The image build writes a fresh code and the room name to the boot
// partition; first boot imports them, makes the identity and writes the
// payload and its QR code back; later boots import a new room name and
// keep the code.
func TestProvision(t *testing.T) {
	boot, etc, state := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := filepath.Join(etc, "cradled.toml")
	os.WriteFile(cfg, []byte("name = \"Nursery\"\nlisten = \":48080\"\n"), 0o644)

	// Image build: two builds make two different codes.
	if out, errs, code := runCLI("--config", cfg, "provision", "--new", boot, "--room", "Twins' room"); code != 0 {
		t.Fatalf("provision --new: exit %d %s %s", code, out, errs)
	}
	first, err := readCardCode(filepath.Join(boot, SetupFile))
	if err != nil {
		t.Fatal(err)
	}
	runCLI("--config", cfg, "provision", "--new", boot, "--room", "Twins' room")
	card, err := readCardCode(filepath.Join(boot, SetupFile))
	if err != nil {
		t.Fatal(err)
	}
	if card == first {
		t.Errorf("two image builds made the same setup code")
	}
	if got := readFile(t, filepath.Join(boot, NameFile)); got != "Twins' room\n" {
		t.Errorf("%s = %q", NameFile, got)
	}
	text := readFile(t, filepath.Join(boot, SetupFile))
	if !strings.Contains(text, `cradle pair "Twins' room" --code `+card.String()) {
		t.Errorf("setup file has no pairing instruction:\n%s", text)
	}
	// The phones' page, by the room's short name: no device id yet.
	checkPhoneCard(t, boot, "twins-room.local", card)

	// First boot.
	out, errs, code := runCLI("--config", cfg, "--state-dir", state, "provision", "--import", boot)
	if code != 0 {
		t.Fatalf("provision --import: exit %d %s %s", code, out, errs)
	}
	if strings.Contains(out+errs, card.String()) || strings.Contains(out+errs, string(card)) {
		t.Errorf("provision printed the setup code: %s %s", out, errs)
	}
	stored, _, err := pairing.LoadOrCreateCode(state, "")
	if err != nil || stored != card {
		t.Fatalf("monitor's code %q (%v), want the card's %q", stored, err, card)
	}
	text = readFile(t, filepath.Join(boot, SetupFile))
	p := payloadOf(t, text)
	id, _, _ := runCLI("--config", cfg, "--state-dir", state, "id")
	if p.Code != card || p.Port != 48080 || p.Fingerprint.String() != strings.TrimSpace(id) {
		t.Errorf("payload %+v: want code %s, port 48080, fingerprint %s", p, card, id)
	}
	png := readFile(t, filepath.Join(boot, SetupQRFile))
	if !strings.HasPrefix(png, "\x89PNG") {
		t.Errorf("%s is not a PNG", SetupQRFile)
	}
	// First boot: the phones' page by the monitor's unique host name.
	deviceID := strings.ToLower(p.Fingerprint.DeviceID())
	checkPhoneCard(t, boot, "twins-room-"+deviceID+".local", card)
	dropIn := filepath.Join(etc, "cradled.d", bootDropIn)
	if got := readFile(t, dropIn); !strings.Contains(got, `name = "Twins' room"`) {
		t.Errorf("drop-in %q", got)
	}

	// Second boot, nothing changed: nothing is rewritten.
	before := map[string]os.FileInfo{}
	for _, f := range []string{SetupFile, SetupQRFile, PhoneFile, PhoneQRFile} {
		before[f], _ = os.Stat(filepath.Join(boot, f))
	}
	if _, errs, code := runCLI("--config", cfg, "--state-dir", state, "provision", "--import", boot); code != 0 {
		t.Fatal(errs)
	}
	for f, st1 := range before {
		if st2, _ := os.Stat(filepath.Join(boot, f)); !st2.ModTime().Equal(st1.ModTime()) {
			t.Errorf("%s rewritten without a change", f)
		}
	}

	// A new name on the card (from a Windows editor), and a card from
	// another build: the name is imported, the monitor keeps its code and
	// the card is rewritten to show it.
	os.WriteFile(filepath.Join(boot, NameFile), []byte("\xef\xbb\xbf# room\r\nLanding\r\n"), 0o644)
	os.WriteFile(filepath.Join(boot, SetupFile), []byte(setupText("x", wrongCode(card), "")), 0o644)
	if _, errs, code := runCLI("--config", cfg, "--state-dir", state, "provision", "--import", boot); code != 0 || !strings.Contains(errs, "writing the monitor's code") {
		t.Fatalf("import of another card: exit %d %q", code, errs)
	}
	text = readFile(t, filepath.Join(boot, SetupFile))
	if p2 := payloadOf(t, text); p2 != p {
		t.Errorf("payload changed to %+v", p2)
	}
	if !strings.Contains(text, `cradle pair "Landing" --code `+card.String()) {
		t.Errorf("setup file after rename:\n%s", text)
	}
	checkPhoneCard(t, boot, "landing-"+deviceID+".local", card)
	var sb bytes.Buffer
	e := &env{stdout: &sb, stderr: &sb}
	if err := e.loadConfigs(cfg, true, map[string]bool{}); err != nil || e.cfg.Name != "Landing" {
		t.Errorf("configured name %q (%v), want the drop-in's Landing", e.cfg.Name, err)
	}
	// --name on the command line still wins over the drop-in.
	e = &env{stdout: &sb, stderr: &sb}
	if err := e.loadConfigs(cfg, true, map[string]bool{"name": true}); err != nil || e.cfg.Name != "" {
		t.Errorf("flag-set name overridden by the drop-in: %q", e.cfg.Name)
	}

	// Usage errors.
	for _, args := range [][]string{{"provision"}, {"provision", "--new", boot, "--import", boot}, {"provision", "--import", boot, "--room", "x"}} {
		if _, _, code := runCLI(append([]string{"--config", cfg, "--state-dir", state}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, errs, code := runCLI("--config", cfg, "provision", "--new", boot, "--room", "bad\x07name"); code != 1 || !strings.Contains(errs, "not text") {
		t.Errorf("bad room name: exit %d %q", code, errs)
	}
}

// checkPhoneCard fails unless the card's PhoneFile shows the page at
// https://host/ with code, and PhoneQRFile is the QR code of its pairing
// link https://host/#code=DIGITS.
func checkPhoneCard(t *testing.T, boot, host string, code pairing.Code) {
	t.Helper()
	page := "https://" + host + "/"
	link := page + "#code=" + string(code)
	text := readFile(t, filepath.Join(boot, PhoneFile))
	for _, want := range []string{"\nPage: " + page + "\n", "\nSetup code: " + code.String() + "\n", "\nPairing link: " + link + "\n", "scan " + PhoneQRFile} {
		if !strings.Contains(text, want) {
			t.Errorf("%s has no %q:\n%s", PhoneFile, want, text)
		}
	}
	want, err := qrcode.Encode(link, qrcode.Medium, 384)
	if err != nil {
		t.Fatal(err)
	}
	if png := readFile(t, filepath.Join(boot, PhoneQRFile)); png != string(want) {
		t.Errorf("%s is not the QR code of %s", PhoneQRFile, link)
	}
}

// TestPhoneCardPort: the card's page has no port (the image's socket
// serves 443) unless page_listen names another port than the default.
func TestPhoneCardPort(t *testing.T) {
	for _, tt := range []struct{ listen, want, warn string }{
		{"", "https://nursery.local/", ""}, // the default :8443: the image's socket
		{`page_listen = ":8443"`, "https://nursery.local/", ""},
		{`page_listen = "off"`, "https://nursery.local/", ""},
		{`page_listen = ":443"`, "https://nursery.local/", ""},
		{`page_listen = "192.168.1.20:9443"`, "https://nursery.local:9443/", ""},
		{`page_listen = "127.0.0.1:0"`, "https://nursery.local/", "no fixed port"},
	} {
		boot, etc := t.TempDir(), t.TempDir()
		cfg := filepath.Join(etc, "cradled.toml")
		os.WriteFile(cfg, []byte("name = \"Nursery\"\n"+tt.listen+"\n"), 0o644)
		_, errs, code := runCLI("--config", cfg, "provision", "--new", boot)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", tt.listen, code, errs)
		}
		if text := readFile(t, filepath.Join(boot, PhoneFile)); !strings.Contains(text, "\nPage: "+tt.want+"\n") {
			t.Errorf("%s: %s has no page %s:\n%s", tt.listen, PhoneFile, tt.want, text)
		}
		if tt.warn == "" && errs != "" || !strings.Contains(errs, tt.warn) {
			t.Errorf("%s: stderr %q, want %q", tt.listen, errs, tt.warn)
		}
	}
}

func wrongCode(c pairing.Code) pairing.Code {
	if c == "24681357" {
		return "13572468"
	}
	return "24681357"
}

// pair_when_new = false in the file turns off the daemon's default.
func TestPairWhenNewConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("pair_when_new = false\n"), 0o644)
	var sb bytes.Buffer
	e := &env{stdout: &sb, stderr: &sb}
	e.cfg.PairWhenNew = true // the flag's default
	if err := e.loadConfigs(cfg, true, map[string]bool{}); err != nil || e.cfg.PairWhenNew {
		t.Errorf("pair_when_new = false: PairWhenNew %v (%v)", e.cfg.PairWhenNew, err)
	}
	e = &env{stdout: &sb, stderr: &sb}
	e.cfg.PairWhenNew = true
	if err := e.loadConfigs(cfg, true, map[string]bool{"pair-when-new": true}); err != nil || !e.cfg.PairWhenNew {
		t.Errorf("--pair-when-new given: the file overrode it")
	}
}
