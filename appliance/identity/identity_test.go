package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, dir, role, name string) (*Identity, bool) {
	t.Helper()
	id, created, err := LoadOrCreate(dir, role, name)
	if err != nil {
		t.Fatalf("LoadOrCreate(%q, %q, %q): %v", dir, role, name, err)
	}
	return id, created
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "identity")
	id, created := mustLoad(t, dir, RoleMonitor, "Nursery")
	if !created {
		t.Fatal("first LoadOrCreate: created = false")
	}
	if id.Fingerprint.IsZero() || id.Fingerprint != FingerprintOf(id.Cert.Leaf) {
		t.Fatalf("Fingerprint %s does not match the leaf", id.Fingerprint)
	}
	if _, ok := id.Cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("new key is %T, want *ecdsa.PrivateKey", id.Cert.PrivateKey)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode %v, want 0700", got)
	}
	for _, f := range []string{KeyFile, CertFile} {
		if got := mode(t, filepath.Join(dir, f)); got != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, got)
		}
	}
	leaf := id.Cert.Leaf
	if leaf.Subject.CommonName != "Nursery" || leaf.Subject.OrganizationalUnit[0] != RoleMonitor {
		t.Errorf("subject %v, want CN=Nursery OU=monitor", leaf.Subject)
	}

	again, created := mustLoad(t, dir, RoleMonitor, "Nursery")
	if created {
		t.Error("second LoadOrCreate: created = true")
	}
	if again.Fingerprint != id.Fingerprint || !bytes.Equal(again.Cert.Certificate[0], id.Cert.Certificate[0]) {
		t.Error("reload changed the identity or the certificate")
	}

	// A new name re-issues the certificate, keeping the key and fingerprint.
	renamed, _ := mustLoad(t, dir, RoleMonitor, "Bedroom")
	if renamed.Fingerprint != id.Fingerprint {
		t.Error("renaming changed the fingerprint")
	}
	if renamed.Cert.Leaf.Subject.CommonName != "Bedroom" {
		t.Errorf("renamed CN = %q", renamed.Cert.Leaf.Subject.CommonName)
	}
	onDisk, _ := mustLoad(t, dir, RoleMonitor, "Bedroom")
	if !bytes.Equal(onDisk.Cert.Certificate[0], renamed.Cert.Certificate[0]) {
		t.Error("re-issued certificate was not stored")
	}

	if _, _, err := LoadOrCreate(dir, RoleListener, "Bedroom"); !errors.Is(err, ErrRoleMismatch) {
		t.Errorf("other role: err = %v, want ErrRoleMismatch", err)
	}
	if empty, _ := mustLoad(t, t.TempDir(), RoleListener, ""); empty.Name != RoleListener {
		t.Errorf("empty name became %q, want the role", empty.Name)
	}
}

func TestCertificateValidity(t *testing.T) {
	id, _ := mustLoad(t, t.TempDir(), RoleListener, "phone")
	leaf := id.Cert.Leaf
	if !leaf.NotBefore.Equal(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("NotBefore = %v, want 1970-01-01", leaf.NotBefore)
	}
	if leaf.NotAfter.Year() != 9999 || leaf.NotAfter.Month() != 12 || leaf.NotAfter.Day() != 31 {
		t.Errorf("NotAfter = %v, want 9999-12-31", leaf.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, now := range []time.Time{
		time.Unix(0, 0),
		time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			t.Errorf("certificate invalid at %v: %v", now, err)
		}
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestBadKeyFile(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, p string) { os.WriteFile(p, []byte("not a key"), 0o600) }},
		{"empty", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }},
		{"wrong PEM type", func(t *testing.T, p string) { writePEM(t, p, "CERTIFICATE", []byte{1, 2, 3}) }},
		{"bad DER", func(t *testing.T, p string) { writePEM(t, p, "PRIVATE KEY", []byte{0x30, 0x03, 1, 2, 3}) }},
		{"RSA key", func(t *testing.T, p string) { writePEM(t, p, "PRIVATE KEY", pkcs8(t, rsaKey)) }},
		{"P-384 key", func(t *testing.T, p string) { writePEM(t, p, "PRIVATE KEY", pkcs8(t, p384)) }},
		{"directory", func(t *testing.T, p string) { os.Mkdir(p, 0o700) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keyPath := filepath.Join(dir, KeyFile)
			tc.write(t, keyPath)
			before, _ := os.ReadFile(keyPath)
			_, _, err := LoadOrCreate(dir, RoleMonitor, "x")
			if !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("err = %v, want ErrBadKeyFile", err)
			}
			if !strings.Contains(err.Error(), keyPath) {
				t.Errorf("error %q does not name %s", err, keyPath)
			}
			after, _ := os.ReadFile(keyPath)
			if !bytes.Equal(before, after) {
				t.Error("the bad key file was overwritten")
			}
			if _, err := os.Stat(filepath.Join(dir, CertFile)); err == nil {
				t.Error("a certificate was written for a bad key")
			}
		})
	}
}

func TestKeyMissingButCertPresent(t *testing.T) {
	dir := t.TempDir()
	mustLoad(t, dir, RoleMonitor, "x")
	os.Remove(filepath.Join(dir, KeyFile))
	_, _, err := LoadOrCreate(dir, RoleMonitor, "x")
	if !errors.Is(err, ErrKeyMissing) || !strings.Contains(err.Error(), CertFile) {
		t.Fatalf("err = %v, want ErrKeyMissing naming %s", err, CertFile)
	}
}

func TestCertificateReissuedFromKey(t *testing.T) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherLeaf, _ := issue(other, RoleMonitor, "x")
	for _, tc := range []struct {
		name  string
		write func(path string) error
	}{
		{"missing", os.Remove},
		{"garbage", func(p string) error { return os.WriteFile(p, []byte("junk"), 0o600) }},
		{"other key", func(p string) error {
			return os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherLeaf.Raw}), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			id, _ := mustLoad(t, dir, RoleMonitor, "x")
			if err := tc.write(filepath.Join(dir, CertFile)); err != nil {
				t.Fatal(err)
			}
			again, created := mustLoad(t, dir, RoleMonitor, "x")
			if created || again.Fingerprint != id.Fingerprint {
				t.Fatalf("created=%v fingerprint %s -> %s: the key must be kept", created, id.Fingerprint, again.Fingerprint)
			}
			if third, _ := mustLoad(t, dir, RoleMonitor, "x"); !bytes.Equal(third.Cert.Certificate[0], again.Cert.Certificate[0]) {
				t.Error("re-issued certificate was not stored")
			}
		})
	}
}

func TestEd25519KeyAccepted(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	writePEM(t, filepath.Join(dir, KeyFile), "PRIVATE KEY", pkcs8(t, key))
	id, created := mustLoad(t, dir, RoleListener, "tablet")
	if created {
		t.Error("created = true for an existing key")
	}
	if !id.Cert.Leaf.PublicKey.(ed25519.PublicKey).Equal(key.Public()) {
		t.Error("certificate is not for the stored key")
	}
}

func TestBadRoleAndName(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		role, name string
		want       error
	}{
		{"parent", "x", ErrBadRole},
		{"", "x", ErrBadRole},
		{RoleMonitor, strings.Repeat("n", MaxNameLen+1), ErrBadName},
		{RoleMonitor, "bad\nname", ErrBadName},
		{RoleMonitor, "\xff", ErrBadName},
	} {
		if _, _, err := LoadOrCreate(dir, tc.role, tc.name); !errors.Is(err, tc.want) {
			t.Errorf("LoadOrCreate(%q, %q) = %v, want %v", tc.role, tc.name, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("invalid arguments left files behind: %v", entries)
	}
}

func TestIdentityLogsNoKey(t *testing.T) {
	id, _ := mustLoad(t, t.TempDir(), RoleMonitor, "Nursery")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "identity", id)
	want := "identity.role=monitor identity.name=Nursery identity.id=" + id.Fingerprint.DeviceID()
	if !strings.Contains(buf.String(), want) {
		t.Errorf("log line %q lacks %q", buf.String(), want)
	}
	if got := id.String(); got != `monitor "Nursery" (`+id.Fingerprint.DeviceID()+")" {
		t.Errorf("String() = %q", got)
	}
}
