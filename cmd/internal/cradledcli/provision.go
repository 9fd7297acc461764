package cradledcli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/skip2/go-qrcode"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/discovery"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/cmd/internal/clitool"
)

// Files on the boot partition (FAT, readable on any computer) of a card
// made by deploy/image/build.sh.
const (
	// SetupFile holds the setup code, the setup payload (once the monitor
	// has started once) and how to pair: the card is the monitor's sticker.
	SetupFile = "cradle-setup.txt"
	// SetupQRFile is the payload as a QR code (PNG), written at first boot.
	SetupQRFile = "cradle-setup.png"
	// NameFile holds the room name, one line; read at every boot.
	NameFile = "cradle-name.txt"
	// PhoneFile holds the phones' page: its address, the setup code, the
	// pairing link (the address with the code in its fragment) and how to
	// pair a phone. PhoneQRFile is the pairing link as a QR code (PNG): a
	// phone's camera opens the page with the code filled in. Both are
	// written at the image build with the room's short name
	// (discovery.ShortHostName: the device id does not exist yet), and
	// rewritten at first boot with the monitor's unique host name
	// (discovery.HostName), which it keeps.
	PhoneFile   = "cradle-phone.txt"
	PhoneQRFile = "cradle-phone.png"
	// bootDropIn is the configuration file, in the drop-in directory,
	// that carries the room name imported from NameFile.
	bootDropIn = "50-boot-partition.toml"
)

// provision is the `provision` command: --new DIR writes a fresh setup code
// and the room name to a boot partition being built; --import DIR, run at
// every boot before cradled starts, imports them and writes the payload
// and its QR code back.
func (e *env) provision(args []string) (runner, error) {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	newDir := fs.String("new", "", "write a fresh setup code and the room name into DIR (an image's boot partition)")
	importDir := fs.String("import", "", "import the setup code and room name from DIR; write the payload and QR code there")
	room := fs.String("room", "", "with --new: the room name (default: the configured name)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case *newDir != "" && *importDir == "" && fs.NArg() == 0:
		name := *room
		if name == "" {
			name = e.cfg.Name
		}
		return func(context.Context) error { return e.provisionNew(*newDir, name) }, nil
	case *importDir != "" && *newDir == "" && *room == "" && fs.NArg() == 0:
		return func(context.Context) error { return e.provisionImport(*importDir) }, nil
	}
	return nil, clitool.UsageError("provision needs either --new DIR [--room NAME] or --import DIR")
}

func (e *env) provisionNew(dir, name string) error {
	if err := checkRoomName(name); err != nil {
		return err
	}
	code, err := pairing.Generate(nil)
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, NameFile), []byte(name+"\n")); err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, SetupFile), []byte(setupText(name, code, ""))); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, SetupQRFile)) // a payload from an earlier code would be wrong
	if err := e.writePhoneCard(dir, name, discovery.ShortHostName(name), code, true); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "cradled provision: a fresh setup code for %q is in %s; the phones' page and its QR code in %s and %s\n",
		name, filepath.Join(dir, SetupFile), PhoneFile, PhoneQRFile)
	return nil
}

func (e *env) provisionImport(dir string) error {
	if _, err := monitor.WipeIfRequested(e.cfg.StateDir, e.logger()); err != nil {
		return err
	}
	name := e.cfg.Name
	switch n, err := readRoomName(filepath.Join(dir, NameFile)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		fmt.Fprintf(e.stderr, "cradled provision: %s: %v; the room name stays %q\n", NameFile, err, name)
	default:
		name = n
		if err := e.writeNameDropIn(name); err != nil {
			return err
		}
	}

	card, err := readCardCode(filepath.Join(dir, SetupFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(e.stderr, "cradled provision: %s: %v; ignoring it\n", SetupFile, err)
	}
	if card == "" && e.cfg.SetupCode != "" {
		card = pairing.Code(e.cfg.SetupCode)
	}
	if err := os.MkdirAll(e.cfg.StateDir, 0o700); err != nil {
		return err
	}
	code, created, err := pairing.LoadOrCreateCode(e.cfg.StateDir, string(card))
	if errors.Is(err, pairing.ErrProvisioned) {
		// The same rule as setup_code: a provisioned monitor keeps its
		// code until a factory reset. The card is rewritten to show it.
		fmt.Fprintf(e.stderr, "cradled provision: the monitor's setup code is not the card's (a factory reset made a new one, or the card was flashed again): writing the monitor's code to %s\n", SetupFile)
		code, created, err = pairing.LoadOrCreateCode(e.cfg.StateDir, "")
	}
	if err != nil {
		return err
	}
	id, idCreated, err := identity.LoadOrCreate(filepath.Join(e.cfg.StateDir, "identity"), control.RoleMonitor, name)
	if err != nil {
		return err
	}
	port, err := listenPort(e.cfg.Listen)
	if err != nil {
		return err
	}
	p := pairing.Payload{Version: pairing.PayloadVersion, Fingerprint: id.Fingerprint, Port: port, Code: code}
	png, err := qrcode.Encode(p.String(), qrcode.Medium, 384)
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, SetupFile), []byte(setupText(name, code, p.String()))); err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, SetupQRFile), png); err != nil {
		return err
	}
	if err := e.writePhoneCard(dir, name, discovery.HostName(name, id.Fingerprint), code, false); err != nil {
		return err
	}
	if created || idCreated {
		fmt.Fprintf(e.stdout, "cradled provision: monitor %q (device %s) provisioned; its setup code, payload, QR codes and phones' page are in %s\n", name, id.Fingerprint.DeviceID(), dir)
	}
	return nil
}

// setupText is the content of SetupFile. payload is empty before the
// monitor has made its identity (at the image build).
func setupText(name string, code pairing.Code, payload string) string {
	if payload == "" {
		payload = "(written here when the monitor first starts)"
	}
	return fmt.Sprintf(`Cradle monitor %q
Setup code: %s
Setup payload: %s

To pair: put this card in the monitor, power it on and wait until its LED blinks once a second (pairing mode); then, on a computer on the same network: cradle pair %q --code %s
Keep this card's code private: while the monitor is in pairing mode (15 min after its first start, later a press on its button), the code lets anyone on your network pair.

The button: a short press opens pairing (and gives a device that tried 3 wrong codes a new turn).
Hold it 10 s (the light flickers) to forget every listener and phone: a new setup code is written here.
Hold it 30 s (after the flicker the light stays on) to wipe the monitor before giving it away: a new identity, no history, and the Wi-Fi and SSH settings removed from this card; it restarts as at its first boot.
`, name, code, payload, name, code)
}

// writePhoneCard writes PhoneFile and PhoneQRFile for the page at host;
// early: the image build's short name.
func (e *env) writePhoneCard(dir, name, host string, code pairing.Code, early bool) error {
	port := e.cardPagePort()
	page := monitor.PageURL(host, port)
	link := phoneLink(page, code)
	byAddr := monitor.PageURL("<the monitor's address>", port)
	png, err := qrcode.Encode(link, qrcode.Medium, 384)
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, PhoneFile), []byte(phoneText(name, page, link, byAddr, code, early))); err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dir, PhoneQRFile), png)
}

// phoneLink is the page's address with the setup code in its fragment,
// which the browser keeps to itself: the page reads it and fills in its
// pairing form (appliance/page/assets/phones.js).
func phoneLink(page string, code pairing.Code) string {
	return page + "#code=" + string(code)
}

// cardPagePort is the page's port on the card: 443, the port of the
// image's socket (deploy/systemd/cradled-https.socket, which cradled takes
// instead of page_listen), so the address has no port; unless page_listen
// is set to another port than its default, for a monitor run without the
// sockets. A page_listen with no fixed port gives 443 too, with a warning.
func (e *env) cardPagePort() int {
	if e.pageListen == DefaultPageListen || e.pageListen == "off" || e.pageListen == "" {
		return 443
	}
	_, p, err := net.SplitHostPort(e.pageListen)
	n, perr := strconv.ParseUint(p, 10, 16)
	if err != nil || perr != nil || n == 0 {
		fmt.Fprintf(e.stderr, "cradled provision: page_listen %q has no fixed port: the card shows the page on port 443 (the image's socket)\n", e.pageListen)
		return 443
	}
	return int(n)
}

// phoneText is the content of PhoneFile.
func phoneText(name, page, link, byAddr string, code pairing.Code, early bool) string {
	note := ""
	if early {
		note = "(The monitor's short name: its first start writes its own, unique name here, and the QR code with it.)\n"
	}
	return fmt.Sprintf(`Cradle monitor %q: listen on a phone
Page: %s
Setup code: %s
Pairing link: %s
%s
To pair a phone: on the monitor's Wi-Fi, while its LED blinks once a second (pairing mode), scan %s with the phone's camera (or open the page and type the code), accept the certificate warning once, and tap Pair; where the name does not open, use %s with the address from your router's list of clients or from `+"`cradled status`"+`.
Keep this file private: the code lets anyone on your network pair while the monitor is in pairing mode.
`, name, page, code, link, note, PhoneQRFile, byAddr)
}

// readCardCode finds the "Setup code:" line of a SetupFile.
func readCardCode(path string) (pairing.Code, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Setup code:"); ok {
			return pairing.ParseCode(strings.TrimSpace(v))
		}
	}
	return "", errors.New("no \"Setup code:\" line")
}

// readRoomName returns the first line of a NameFile that is neither empty
// nor a # comment, trimmed (a byte order mark and CR from Windows editors
// are removed).
func readRoomName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return line, checkRoomName(line)
	}
	return "", errors.New("the file has no name in it")
}

func checkRoomName(name string) error {
	switch {
	case name == "":
		return errors.New("the room name is empty")
	case len(name) > identity.MaxNameLen:
		return fmt.Errorf("the room name %q is longer than %d bytes", name, identity.MaxNameLen)
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("the room name %q has characters that are not text", name)
	}
	return nil
}

// writeNameDropIn puts name into the configuration's drop-in directory,
// where it wins over the packaged cradled.toml.
func (e *env) writeNameDropIn(name string) error {
	var buf bytes.Buffer
	buf.WriteString("# Written at boot by `cradled provision --import` from the boot partition's " + NameFile + ".\n# Edit that file (on any computer) instead of this one.\n")
	if err := toml.NewEncoder(&buf).Encode(struct {
		Name string `toml:"name"`
	}{name}); err != nil {
		return err
	}
	dir := dropInDir(e.configPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dir, bootDropIn), buf.Bytes())
}

func listenPort(listen string) (uint16, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return 0, fmt.Errorf("listen %q: %w", listen, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("listen %q: the setup payload needs a fixed port", listen)
	}
	return uint16(n), nil
}

// writeIfChanged replaces path with data unless it already holds exactly
// that: the boot partition is FAT on an SD card, written only when needed,
// and never left half-written (a temporary file renamed into place).
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
