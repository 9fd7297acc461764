package page

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The dashboard's signed-in browsers. The access token (printed once in
// the link) signs a browser in; the cookie the browser then holds is a
// credential of its own, 256 random bits, one per browser: it is not the
// token (a cookie reaches every port of the host, and the token would go
// with it), it is never logged, the file keeps only its SHA-256, and
// "Sign out" on a page or --new-token revokes it.

// maxBrowsers bounds the signed-in browsers kept; signing in one more
// forgets the one signed in longest ago.
const maxBrowsers = 32

// browserCredBytes is a browser credential's size.
const browserCredBytes = 32

// browserCreds is the set of signed-in browsers, kept in a file.
type browserCreds struct {
	path string // "" keeps them in memory only (on loopback: unused)

	mu     sync.Mutex
	hashes []browserHash
}

type browserHash struct {
	Hash     string    `json:"sha256"` // hex of the credential's bytes
	SignedIn time.Time `json:"signed_in"`
}

// loadBrowsers reads the signed-in browsers from dir (none with reset).
func loadBrowsers(dir string, reset bool) (*browserCreds, error) {
	b := &browserCreds{path: filepath.Join(dir, "browsers.json")}
	if reset {
		return b, b.saveLocked()
	}
	raw, err := os.ReadFile(b.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return b, nil
	case err != nil:
		return nil, fmt.Errorf("dashboard: read the signed-in browsers: %w", err)
	}
	if len(raw) > 64<<10 || json.Unmarshal(raw, &b.hashes) != nil {
		b.hashes = nil // damaged: every browser signs in again
	}
	if len(b.hashes) > maxBrowsers {
		b.hashes = b.hashes[len(b.hashes)-maxBrowsers:]
	}
	return b, nil
}

// add signs a browser in: it returns its new credential.
func (b *browserCreds) add(now time.Time) (string, error) {
	var raw [browserCredBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	h := sha256.Sum256(raw[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hashes = append(b.hashes, browserHash{Hash: fmt.Sprintf("%x", h), SignedIn: now.UTC()})
	if len(b.hashes) > maxBrowsers {
		b.hashes = b.hashes[len(b.hashes)-maxBrowsers:]
	}
	if err := b.saveLocked(); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// index is the position of cred's hash, -1 when it signs nothing in.
// Every hash is compared in constant time. Called with mu held.
func (b *browserCreds) indexLocked(cred string) int {
	raw, err := base64.RawURLEncoding.DecodeString(cred)
	if err != nil || len(raw) != browserCredBytes {
		return -1
	}
	h := []byte(fmt.Sprintf("%x", sha256.Sum256(raw)))
	found := -1
	for i, x := range b.hashes {
		if subtle.ConstantTimeCompare(h, []byte(x.Hash)) == 1 {
			found = i
		}
	}
	return found
}

// ok reports whether cred signs a browser in.
func (b *browserCreds) ok(cred string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.indexLocked(cred) >= 0
}

// remove signs cred's browser out.
func (b *browserCreds) remove(cred string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.indexLocked(cred)
	if i < 0 {
		return nil
	}
	b.hashes = append(b.hashes[:i], b.hashes[i+1:]...)
	return b.saveLocked()
}

func (b *browserCreds) saveLocked() error {
	if b.path == "" {
		return nil
	}
	raw, err := json.Marshal(b.hashes)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	tmp := b.path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("dashboard: keep the signed-in browsers: %w", err)
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return fmt.Errorf("dashboard: keep the signed-in browsers: %w", err)
	}
	return nil
}
