package image

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// card lays out the files a monitor that lived with a family has on its
// card (root file system and boot partition), under root.
func card(t *testing.T, root string, wipe bool) map[string]string {
	t.Helper()
	files := map[string]string{
		"etc/wpa_supplicant/wpa_supplicant-wlan0.conf":           "network={\n\tssid=\"Home\"\n\tpsk=\"family-secret\"\n}\n",
		"boot/firmware/wpa_supplicant.conf":                      "psk=\"family-secret\"\n",
		"root/.ssh/authorized_keys":                              "ssh-ed25519 AAAA parent@laptop\n",
		"boot/firmware/authorized_keys":                          "ssh-ed25519 AAAA parent@laptop\n",
		"etc/ssh/ssh_host_ed25519_key":                           "host key\n",
		"etc/ssh/ssh_host_ed25519_key.pub":                       "host key pub\n",
		"var/lib/cradle/events.db":                               "history",
		"var/lib/cradle/identity/key.pem":                        "key",
		"var/lib/cradle/setup-code":                              "1234-5678",
		"boot/firmware/cradle-setup.txt":                         "Setup code: 1234-5678\n",
		"boot/firmware/cradle-setup.png":                         "png",
		"boot/firmware/cradle-phone.txt":                         "page",
		"boot/firmware/cradle-phone.png":                         "png",
		"boot/firmware/cradle-name.txt":                          "Emma's room\n",
		"etc/cradle/cradled.d/50-boot-partition.toml":            "name = \"Emma's room\"\n",
		"etc/machine-id":                                         "0123456789abcdef\n",
		"usr/local/share/cradle-image/wpa_supplicant-wlan0.conf": "# placeholder: no network\n",
		"boot/firmware/config.txt":                               "arm_64bit=1\n", // not the family's
	}
	if wipe {
		files["var/lib/cradle/wipe-requested"] = "wipe\n"
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func runWipe(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command("sh", "cradle-wipe")
	cmd.Env = append(os.Environ(), "CRADLE_WIPE_ROOT="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cradle-wipe: %v\n%s", err, out)
	}
	return string(out)
}

// TestWipeScriptClearsTheCard: with a wipe asked for, no credential, no
// history, no setup code and no room name is left on the card, the Wi-Fi
// settings are the image's placeholder, and what the image itself put
// there stays.
func TestWipeScriptClearsTheCard(t *testing.T) {
	root := t.TempDir()
	card(t, root, true)
	out := runWipe(t, root)
	t.Logf("%s", out)
	for _, gone := range []string{
		"boot/firmware/wpa_supplicant.conf", "root/.ssh/authorized_keys", "boot/firmware/authorized_keys",
		"etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub",
		"var/lib/cradle/events.db", "var/lib/cradle/identity", "var/lib/cradle/setup-code", "var/lib/cradle/wipe-requested",
		"boot/firmware/cradle-setup.txt", "boot/firmware/cradle-setup.png", "boot/firmware/cradle-phone.txt",
		"boot/firmware/cradle-phone.png", "boot/firmware/cradle-name.txt", "etc/cradle/cradled.d/50-boot-partition.toml",
	} {
		if _, err := os.Stat(filepath.Join(root, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still on the card after a wipe (%v)", gone, err)
		}
	}
	wifi, err := os.ReadFile(filepath.Join(root, "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"))
	if err != nil || strings.Contains(string(wifi), "family-secret") || !strings.Contains(string(wifi), "placeholder") {
		t.Errorf("Wi-Fi settings after a wipe: %q %v, want the placeholder", wifi, err)
	}
	if id, err := os.ReadFile(filepath.Join(root, "etc/machine-id")); err != nil || len(id) != 0 {
		t.Errorf("machine-id after a wipe: %q %v, want empty (a new one at boot)", id, err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/cradle")); err != nil {
		t.Errorf("the state directory itself should stay (systemd's StateDirectory): %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/firmware/config.txt")); err != nil {
		t.Errorf("the image's own boot files must stay: %v", err)
	}
}

// TestWipeScriptOnlyWhenAsked: after any other stop of the monitor (an
// upgrade, a crash) the hook leaves everything as it was.
func TestWipeScriptOnlyWhenAsked(t *testing.T) {
	root := t.TempDir()
	files := card(t, root, false)
	runWipe(t, root)
	for name, content := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || string(got) != content {
			t.Errorf("%s changed without a wipe: %q %v", name, got, err)
		}
	}
}
