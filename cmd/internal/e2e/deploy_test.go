package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cradle-monitor/cradle/appliance/pairing"
)

const deployDir = "../../../deploy/"

// TestSystemdUnitsVerify runs systemd-analyze verify on the shipped units
// and on the image's (with ExecStart pointing at the built binaries and the
// repository's scripts). It prints bad values as warnings and still exits
// 0, so any output fails the test.
func TestSystemdUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze missing: make test installs systemd")
		}
		t.Skip("systemd-analyze missing")
	}
	image, err := filepath.Abs(deployDir + "image")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files [][2]string // file in deploy/, name to verify it as
	}{
		// the monitor with the sockets of the phones' page (443, 80)
		{"cradled.service", [][2]string{
			{"systemd/cradled.service", "cradled.service"},
			{"systemd/cradled-https.socket", "cradled-https.socket"},
			{"systemd/cradled-http.socket", "cradled-http.socket"},
		}},
		// on the image, with the wipe's drop-in (appended: the same
		// directives as the drop-in directory adds)
		{"cradled.service+cradle-wipe.conf", [][2]string{
			{"systemd/cradled.service+image/cradle-wipe.conf", "cradled.service"},
			{"systemd/cradled-https.socket", "cradled-https.socket"},
			{"systemd/cradled-http.socket", "cradled-http.socket"},
		}},
		// a template verifies as an instance
		{"cradle-listen@.service", [][2]string{{"systemd/cradle-listen@.service", "cradle-listen@Nursery.service"}}},
		{"cradle-firstboot.service", [][2]string{{"image/cradle-firstboot.service", "cradle-firstboot.service"}}},
		// the path unit with the service it starts
		{"cradle-setup-card.path", [][2]string{
			{"image/cradle-setup-card.path", "cradle-setup-card.path"},
			{"image/cradle-setup-card.service", "cradle-setup-card.service"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for _, f := range tc.files {
				var unit []byte
				for _, part := range strings.Split(f[0], "+") {
					b, err := os.ReadFile(deployDir + part)
					if err != nil {
						t.Fatal(err)
					}
					unit = append(append(unit, b...), '\n')
				}
				text := strings.ReplaceAll(string(unit), "/usr/bin/cradled", filepath.Join(binDir, "cradled"))
				text = strings.ReplaceAll(text, "/usr/bin/cradle ", filepath.Join(binDir, "cradle")+" ")
				text = strings.ReplaceAll(text, "/usr/local/sbin/", image+"/")
				path := filepath.Join(dir, f[1])
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, path)
			}
			out, err := exec.Command("systemd-analyze", append([]string{"verify"}, paths...)...).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

// unitValues returns every value of key in a unit file (in order; a
// space-separated value is split).
func unitValues(t *testing.T, file, key string) []string {
	t.Helper()
	b, err := os.ReadFile(deployDir + file)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			vs = append(vs, strings.Fields(v)...)
		}
	}
	return vs
}

// flagValue returns the value of --name in a command line's words.
func flagValue(words []string, name string) string {
	if i := slices.Index(words, name); i >= 0 && i+1 < len(words) {
		return words[i+1]
	}
	return ""
}

// TestDeployUnitRunsAsCradle: cradled.service runs as the user and groups
// the package's postinst makes, and its admin socket is in the unit's
// RuntimeDirectory, where group cradle reaches it.
func TestDeployUnitRunsAsCradle(t *testing.T) {
	const unit = "systemd/cradled.service"
	for key, want := range map[string][]string{
		"User":                  {"cradle"},
		"Group":                 {"cradle"},
		"SupplementaryGroups":   {"audio", "video", "gpio"},
		"StateDirectory":        {"cradle"},
		"RuntimeDirectory":      {"cradle"},
		"CapabilityBoundingSet": nil,
		"PrivateDevices":        nil, // it would hide the microphone, camera and GPIO
		"ProtectClock":          nil, // it implies a DeviceAllow= that closes them
		"DeviceAllow":           nil,
		// Go exits 2 after a panic or the watchdog's SIGABRT, which
		// RestartPreventExitStatus=2 (a configuration error) would leave
		// dead: it must die by the signal instead.
		"RestartPreventExitStatus": {"2"},
		"Environment":              {"GOTRACEBACK=crash"},
		"LimitCORE":                {"0"},
	} {
		if got := unitValues(t, unit, key); !slices.Equal(got, want) {
			t.Errorf("%s: %s=%q, want %q", unit, key, got, want)
		}
	}
	execStart := unitValues(t, unit, "ExecStart")
	if got := flagValue(execStart, "--state-dir"); got != "/var/lib/"+unitValues(t, unit, "StateDirectory")[0] {
		t.Errorf("ExecStart --state-dir %q is not the StateDirectory", got)
	}

	// The packaged configuration puts the admin socket in /run/cradle, and
	// cradled accepts it.
	toml, err := os.ReadFile(deployDir + "cradled.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(toml), "\nadmin_socket = \"/run/"+unitValues(t, unit, "RuntimeDirectory")[0]+"/cradled.sock\"\n") {
		t.Errorf("cradled.toml does not put admin_socket in the unit's RuntimeDirectory:\n%s", toml)
	}
	state := t.TempDir()
	mustRun(t, nil, "cradled", "--config", deployDir+"cradled.toml", "--state-dir", state, "id")

	// The package ships the udev rule that gives gpio the GPIO devices.
	nfpm, err := os.ReadFile(deployDir + "deb/cradled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(nfpm), "src: ../udev/60-cradle-gpio.rules\n    dst: /usr/lib/udev/rules.d/60-cradle-gpio.rules\n") {
		t.Errorf("cradled.yaml (the monitor's package) does not ship 60-cradle-gpio.rules in /usr/lib/udev/rules.d")
	}
	rules, err := os.ReadFile(deployDir + "udev/60-cradle-gpio.rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"`, `KERNEL=="gpiomem*", GROUP="gpio", MODE="0660"`} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("60-cradle-gpio.rules lacks %s", want)
		}
	}
}

// TestDebPostinstMakesUserAndGroups runs the postinst with getent,
// groupadd, useradd, udevadm and systemctl replaced by stubs that log
// their arguments: on a machine without them it makes the user and every
// group of the unit; on a second run (an upgrade) nothing.
func TestDebPostinstMakesUserAndGroups(t *testing.T) {
	stubs, log := t.TempDir(), filepath.Join(t.TempDir(), "log")
	stub := func(name, body string) {
		script := "#!/bin/sh\necho \"" + name + " $*\" >>\"$STUB_LOG\"\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub("getent", `[ -e "$STUB_EXISTS" ]`)
	for _, name := range []string{"groupadd", "useradd", "udevadm", "systemctl"} {
		stub(name, "exit 0")
	}
	exists := filepath.Join(t.TempDir(), "exists")
	postinst := func(args ...string) string {
		t.Helper()
		os.Remove(log)
		cmd := exec.Command("sh", append([]string{deployDir + "deb/cradled.postinst"}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+stubs+":"+os.Getenv("PATH"), "STUB_LOG="+log, "STUB_EXISTS="+exists)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postinst %v: %v\n%s", args, err, out)
		}
		b, _ := os.ReadFile(log)
		return string(b)
	}

	calls := postinst("configure", "")
	groups := append(unitValues(t, "systemd/cradled.service", "SupplementaryGroups"), unitValues(t, "systemd/cradled.service", "Group")...)
	for _, g := range groups {
		if !strings.Contains(calls, "groupadd --system "+g+"\n") {
			t.Errorf("postinst does not make group %s:\n%s", g, calls)
		}
	}
	var useradd string
	for _, line := range strings.Split(calls, "\n") {
		if strings.HasPrefix(line, "useradd ") {
			useradd = line
		}
	}
	words := strings.Fields(useradd)
	if len(words) == 0 || words[len(words)-1] != "cradle" || !slices.Contains(words, "--system") ||
		flagValue(words, "--gid") != "cradle" || flagValue(words, "--home-dir") != "/var/lib/cradle" ||
		flagValue(words, "--shell") != "/usr/sbin/nologin" || !slices.Contains(words, "--no-create-home") {
		t.Errorf("postinst's useradd: %q", useradd)
	}

	// Upgrade: everything exists.
	if err := os.WriteFile(exists, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if calls := postinst("configure", "0.0.1"); strings.Contains(calls, "groupadd") || strings.Contains(calls, "useradd") {
		t.Errorf("postinst on an upgrade made users or groups again:\n%s", calls)
	}
}

// TestDeploySetupCardFollowsTheCode: the image's path unit watches the
// file the monitor keeps its setup code in, and its service runs the same
// import as first boot; after the code changes (a factory reset), that
// import rewrites the card with the new code, payload and QR code, and the
// phones' pairing link (cradle-phone.txt and .png) with it.
func TestDeploySetupCardFollowsTheCode(t *testing.T) {
	execStart := unitValues(t, "systemd/cradled.service", "ExecStart")
	config, stateDir := flagValue(execStart, "--config"), flagValue(execStart, "--state-dir")
	codeFile := filepath.Join(stateDir, pairing.CodeFile)
	if got := unitValues(t, "image/cradle-setup-card.path", "PathChanged"); !slices.Equal(got, []string{codeFile}) {
		t.Errorf("cradle-setup-card.path: PathChanged=%q, want %s", got, codeFile)
	}
	if got := unitValues(t, "image/cradle-setup-card.service", "ConditionPathExists"); !slices.Equal(got, []string{codeFile}) {
		t.Errorf("cradle-setup-card.service: ConditionPathExists=%q, want %s (it must never make a code)", got, codeFile)
	}
	if got := unitValues(t, "image/cradle-setup-card.service", "ExecStart"); !slices.Equal(got, []string{"/usr/local/sbin/cradle-setup-card"}) {
		t.Errorf("cradle-setup-card.service: ExecStart=%q", got)
	}
	script, err := os.ReadFile(deployDir + "image/cradle-setup-card")
	if err != nil {
		t.Fatal(err)
	}
	want := `/usr/bin/cradled --config ` + config + ` --state-dir "$STATE" provision --import "$BOOT"`
	if !strings.Contains(string(script), want) || !strings.Contains(string(script), "\nSTATE="+stateDir+"\n") {
		t.Errorf("cradle-setup-card does not run %s with STATE=%s", want, stateDir)
	}
	for file, want := range map[string][]string{
		"image/cradle-firstboot": {"\n\t/usr/local/sbin/cradle-setup-card ||"},
		"image/build.sh": {
			`install -m 755 "$HERE/cradle-setup-card" "$ROOT/usr/local/sbin/cradle-setup-card"`,
			`"$HERE/cradle-setup-card.service" "$HERE/cradle-setup-card.path" "$ROOT/etc/systemd/system/"`,
			"in_root systemctl enable cradle-setup-card.path\n",
		},
	} {
		b, err := os.ReadFile(deployDir + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}

	// The import itself, as first boot and then the path unit run it.
	boot, etc, state := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := filepath.Join(etc, "cradled.toml")
	toml, err := os.ReadFile(deployDir + "cradled.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, toml, 0o644); err != nil {
		t.Fatal(err)
	}
	importCard := func() string {
		t.Helper()
		_, errs, code := run(t, nil, "cradled", "--config", cfg, "--state-dir", state, "provision", "--import", boot)
		if code != 0 {
			t.Fatalf("provision --import: exit %d: %s", code, errs)
		}
		return errs
	}
	mustRun(t, nil, "cradled", "--config", cfg, "provision", "--new", boot, "--room", "Nursery")
	importCard()
	card := func() (pairing.Code, pairing.Payload, string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(boot, "cradle-setup.txt"))
		if err != nil {
			t.Fatal(err)
		}
		var code pairing.Code
		var p pairing.Payload
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Setup code: "); ok {
				code, _ = pairing.ParseCode(v)
			}
			if v, ok := strings.CutPrefix(line, "Setup payload: "); ok {
				if p, err = pairing.ParsePayload(v); err != nil {
					t.Fatalf("payload %q: %v", v, err)
				}
			}
		}
		png, _ := os.ReadFile(filepath.Join(boot, "cradle-setup.png"))
		return code, p, string(png)
	}
	// phone returns the pairing link of cradle-phone.txt and the QR code.
	phone := func() (string, string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(boot, "cradle-phone.txt"))
		if err != nil {
			t.Fatal(err)
		}
		var link string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pairing link: "); ok {
				link = v
			}
		}
		png, _ := os.ReadFile(filepath.Join(boot, "cradle-phone.png"))
		return link, string(png)
	}
	oldCode, oldPayload, oldPNG := card()
	if oldCode == "" || oldPayload.Code != oldCode || oldPNG == "" {
		t.Fatalf("after first boot the card has code %q, payload %+v, PNG %d bytes", oldCode, oldPayload, len(oldPNG))
	}
	// The image's page is on the sockets' port 443: no port in the link.
	host := "nursery-" + strings.ToLower(oldPayload.Fingerprint.DeviceID()) + ".local"
	oldLink, oldPhonePNG := phone()
	if want := "https://" + host + "/#code=" + string(oldCode); oldLink != want || !strings.HasPrefix(oldPhonePNG, "\x89PNG") {
		t.Fatalf("after first boot cradle-phone.txt has link %q (PNG %d bytes), want %s", oldLink, len(oldPhonePNG), want)
	}

	// A factory reset: the monitor writes a new code (through a rename).
	newCode := pairing.Code("24681357")
	if oldCode == newCode {
		newCode = "13572468"
	}
	tmp := filepath.Join(state, ".setup-code.new")
	if err := os.WriteFile(tmp, []byte(string(newCode)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(state, pairing.CodeFile)); err != nil {
		t.Fatal(err)
	}
	errs := importCard()
	code, p, png := card()
	if code != newCode || p.Code != newCode || p.Fingerprint != oldPayload.Fingerprint || png == oldPNG {
		t.Errorf("after the reset the card has code %s, payload %+v (PNG changed: %t); want code %s, the same fingerprint, a new PNG",
			code, p, png != oldPNG, newCode)
	}
	if link, png := phone(); link != "https://"+host+"/#code="+string(newCode) || png == oldPhonePNG {
		t.Errorf("after the reset cradle-phone.txt has link %q (PNG changed: %t); want the new code", link, png != oldPhonePNG)
	}
	if strings.Contains(errs, string(newCode)) || strings.Contains(errs, newCode.String()) {
		t.Errorf("the import printed the setup code: %s", errs)
	}
	t.Logf("import after the new code: %s", strings.TrimSpace(errs))
	if stored, _, err := pairing.LoadOrCreateCode(state, ""); err != nil || stored != newCode {
		t.Errorf("the monitor's code is %q (%v) after the import, want %s", stored, err, newCode)
	}
}
