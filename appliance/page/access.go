package page

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cradle-monitor/cradle/appliance/monitor"
)

// Limits a stranger on the network cannot exceed.
const (
	maxStreams = 16 // open event streams and audio streams, all clients
	maxListens = 16 // listens held by tabs, all monitors
)

// cookieName carries a signed-in browser's own credential beyond loopback
// (browsers.go), never the token. The __Host- prefix makes
// the browser refuse it unless it is Secure, for "/" and host-only.
const cookieName = "__Host-cradle"

// tokenBytes is the access token's size: 128 bits.
const tokenBytes = 16

// access is the dashboard's credential: none on loopback, beyond it
// the access token, which the page exchanges for a cookie at signInPath
// (see signin.go). The HTTP layer itself (Host, Origin and
// Sec-Fetch-Site checks, JSON-only POSTs, body and connection limits) is
// package page's, shared with the monitor's page.
//
// On the monitor's host the credential is a device's own (devices.go):
// a phone pairs with the setup code and gets a cookie of 256 random
// bits, of which the monitor's log keeps only a hash.
type access struct {
	loopback bool          // the dashboard bound to loopback: plain HTTP, no token
	token    string        // the dashboard's; hex; empty on loopback
	browsers *browserCreds // the dashboard's signed-in browsers (browsers.go)
	devices  MonitorHost   // the monitor's host: a cookie per device
}

// authorized: loopback, or the request carries the token's cookie, or
// (the monitor's host) a trusted device's cookie.
func (a *access) authorized(r *http.Request) bool {
	if a.devices != nil {
		_, ok := a.device(r)
		return ok
	}
	if a.loopback {
		return true
	}
	c, err := r.Cookie(cookieName)
	return err == nil && a.browsers != nil && a.browsers.ok(c.Value)
}

// device is the trusted device whose cookie r carries (the monitor's
// host); the zero Device and false otherwise.
func (a *access) device(r *http.Request) (monitor.Device, bool) {
	if a.devices == nil {
		return monitor.Device{}, false
	}
	c, err := r.Cookie(deviceCookie)
	if err != nil {
		return monitor.Device{}, false
	}
	return a.devices.DeviceByCredential(c.Value)
}

// public reports whether an /api/ path is served without a credential:
// the sign-in state, and on the monitor's host the phone's pairing.
func (a *access) public(path string) bool {
	return path == signInPath || a.devices != nil && path == devicePairPath
}

func (a *access) tokenOK(t string) bool {
	return a.token != "" && subtle.ConstantTimeCompare([]byte(t), []byte(a.token)) == 1
}

// loadToken reads the access token from dir, creating it (or a new one
// with rotate) first. Kept across restarts so a bookmarked phone keeps
// working.
func loadToken(dir string, rotate bool) (string, error) {
	path := filepath.Join(dir, "token")
	if !rotate {
		b, err := os.ReadFile(path)
		if err == nil {
			t := strings.TrimSpace(string(b))
			if raw, err := hex.DecodeString(t); err == nil && len(raw) == tokenBytes {
				return t, nil
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("dashboard: read the access token: %w", err)
		}
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dashboard: write the access token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("dashboard: write the access token: %w", err)
	}
	return t, nil
}
