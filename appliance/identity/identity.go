package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Roles a device can have; the role is recorded in the certificate.
const (
	RoleMonitor  = "monitor"
	RoleListener = "listener"
)

// File names inside the identity directory.
const (
	KeyFile  = "identity.key" // PKCS#8 private key, PEM, mode 0600
	CertFile = "identity.crt" // self-signed certificate, PEM, mode 0600
)

// MaxNameLen is the longest device name, in bytes (the X.509 CommonName limit).
const MaxNameLen = 64

// Errors returned by LoadOrCreate. All of them are wrapped with the path
// involved and what to do.
var (
	// ErrBadRole: the role is neither RoleMonitor nor RoleListener.
	ErrBadRole = errors.New("identity: role must be \"monitor\" or \"listener\"")
	// ErrBadName: the name is too long, not UTF-8 or has control characters.
	ErrBadName = errors.New("identity: bad device name")
	// ErrBadKeyFile: the key file exists but cannot be used. The identity
	// is never regenerated silently: that would break every pairing.
	ErrBadKeyFile = errors.New("identity: key file is unusable")
	// ErrKeyMissing: the certificate exists but the key is gone.
	ErrKeyMissing = errors.New("identity: key file is missing")
	// ErrRoleMismatch: the directory holds the identity of the other role.
	ErrRoleMismatch = errors.New("identity: identity belongs to another role")
)

// Validity of every certificate: wide enough that a Pi whose clock reads
// 1970 (no RTC, before NTP) or a far-future date still accepts it. Peers
// pin fingerprints, so dates carry no security meaning here.
var (
	NotBefore = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	NotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// Identity is a device's key pair and self-signed certificate.
type Identity struct {
	Cert        tls.Certificate // Leaf is set
	Fingerprint Fingerprint
	Role        string
	Name        string
}

// String describes id without its key, e.g. `monitor "Nursery" (P56IOI7)`.
func (id *Identity) String() string {
	return fmt.Sprintf("%s %q (%s)", id.Role, id.Name, id.Fingerprint.DeviceID())
}

// LogValue logs role, name and short id, never the key.
func (id *Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("role", id.Role), slog.String("name", id.Name), slog.Any("id", id.Fingerprint))
}

// LoadOrCreate loads the identity stored in dir, or creates one on first
// start (created is then true). dir is created with mode 0700; the key and
// certificate are written atomically with mode 0600, key first.
//
// The key is the identity: if it exists but cannot be read or parsed,
// LoadOrCreate fails with ErrBadKeyFile and never makes a new one. The
// certificate is derived from the key, so a missing or damaged certificate,
// or one with an old name, is re-issued from the same key (same fingerprint).
// A directory created for the other role fails with ErrRoleMismatch.
//
// An empty name stands for the role.
func LoadOrCreate(dir, role, name string) (id *Identity, created bool, err error) {
	if role != RoleMonitor && role != RoleListener {
		return nil, false, fmt.Errorf("%w, not %q", ErrBadRole, role)
	}
	if err := checkName(name); err != nil {
		return nil, false, err
	}
	if name == "" {
		name = role
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("identity: create directory: %w", err)
	}
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)

	key, err := loadKey(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, cerr := os.Stat(certPath); cerr == nil {
			return nil, false, fmt.Errorf("%w: %s exists but %s does not; restore the key from a backup, "+
				"or delete %s to create a new identity (every paired device must then pair again)",
				ErrKeyMissing, certPath, keyPath, certPath)
		}
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, false, fmt.Errorf("identity: generate key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, fmt.Errorf("identity: encode key: %w", err)
		}
		if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, false, err
		}
		created = true
	case err != nil:
		return nil, false, err
	}

	leaf := loadCert(certPath, key)
	if leaf != nil && !slices.Equal(leaf.Subject.OrganizationalUnit, []string{role}) {
		return nil, false, fmt.Errorf("%w: %s holds a %v identity, not a %s one; give each role its own state directory",
			ErrRoleMismatch, dir, leaf.Subject.OrganizationalUnit, role)
	}
	if leaf == nil || leaf.Subject.CommonName != name {
		if leaf, err = issue(key, role, name); err != nil {
			return nil, false, err
		}
		if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})); err != nil {
			return nil, false, err
		}
	}
	return &Identity{
		Cert:        tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
		Fingerprint: FingerprintOf(leaf),
		Role:        role,
		Name:        name,
	}, created, nil
}

func checkName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrBadName, len(name), MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not valid UTF-8", ErrBadName)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: contains control character %q", ErrBadName, r)
		}
	}
	return nil
}

// loadKey reads a PKCS#8 PEM key (ECDSA P-256 or Ed25519). A missing file
// returns an error matching fs.ErrNotExist; anything else unusable wraps
// ErrBadKeyFile with the path and the way out.
func loadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %s: %s; restore it from a backup, or delete it and %s to create a new identity "+
			"(every paired device must then pair again)", ErrBadKeyFile, path, why, CertFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w; check the file's owner and permissions (the service must be able to read it)",
			ErrBadKeyFile, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, bad("no PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, bad(err.Error())
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, bad("ECDSA key is not on curve P-256")
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, bad(fmt.Sprintf("unsupported key type %T", k))
	}
}

// loadCert returns the certificate in path if it parses and holds key's
// public key, else nil (the caller re-issues it).
func loadCert(path string, key crypto.Signer) *x509.Certificate {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil
	}
	return c
}

// issue makes a self-signed certificate for key, valid from NotBefore to
// NotAfter, usable for both TLS client and server authentication.
func issue(key crypto.Signer, role, name string) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         name,
			Organization:       []string{"Cradle"},
			OrganizationalUnit: []string{role},
		},
		NotBefore:             NotBefore,
		NotAfter:              NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("identity: create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// writeFileAtomic writes data to path with mode 0600 through a synced
// temporary file and a rename, so a power cut leaves the old file or the
// new one, never half of one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // created 0600
	if err != nil {
		return fmt.Errorf("identity: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("identity: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
