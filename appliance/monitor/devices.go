package monitor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// The shell of web devices: the Go API the monitor's HTTPS page calls
// (see doc.go, "Web devices"). The core decides (coredevices.go); this
// file draws the randomness, compares the code in constant time and
// answers.

// Device is a trusted web device as the page and `cradled listeners`
// show it. It holds no secret.
type Device struct {
	ID       string    // short and printable: what `cradled revoke` takes
	Name     string    // the parent's choice
	PairedAt time.Time // when it paired (the monitor's clock)
}

// LogValue logs the device's id and name.
func (d Device) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID), slog.String("name", d.Name))
}

func deviceOf(d store.TrustedDevice) Device {
	return Device{ID: d.ID, Name: d.Name, PairedAt: d.PairedAt}
}

// credentialBytes is a device credential's length: 256 random bits.
const credentialBytes = 32

// credentialLen is the length of a credential's text (unpadded base64url).
var credentialLen = base64.RawURLEncoding.EncodedLen(credentialBytes)

// deviceIDAlphabet draws a device id: no 0/O, 1/I/L, so it can be read
// aloud and typed into `cradled revoke`.
const deviceIDAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newDeviceID returns an id of 8 characters (about 39 bits) that no
// device in st holds.
func newDeviceID(st store.State) (string, error) {
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		for i := range b {
			b[i] = deviceIDAlphabet[int(b[i])%len(deviceIDAlphabet)]
		}
		if id := string(b[:]); !hasDevice(st, id) {
			return id, nil
		}
	}
}

// deviceIDShape reports whether s looks like an id newDeviceID draws
// (in any case), so a mistyped one is told apart from a fingerprint.
func deviceIDShape(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range strings.ToUpper(s) {
		if !strings.ContainsRune(deviceIDAlphabet, c) {
			return false
		}
	}
	return true
}

func hasDevice(st store.State, id string) bool {
	_, ok := st.Devices[id]
	return ok
}

// newCredential returns a fresh credential's text and the SHA-256 of its
// 32 bytes, which is all the log keeps.
func newCredential() (string, [32]byte, error) {
	var b [credentialBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), sha256.Sum256(b[:]), nil
}

// credentialHash decodes a credential's text and hashes it; ok is false
// for text that is not one.
func credentialHash(cred string) (h [32]byte, ok bool) {
	if len(cred) != credentialLen {
		return h, false
	}
	b, err := base64.RawURLEncoding.DecodeString(cred)
	if err != nil || len(b) != credentialBytes {
		return h, false
	}
	return sha256.Sum256(b), true
}

// PairDevice pairs a web device with the setup code its parent typed on
// the monitor's page, from source (the page's peer address), under name.
// On success it returns the device's credential (once: only its hash is
// kept; the caller sets it as the device's cookie) and the device; the
// device-trusted event is durable before it returns.
//
// The attempt goes through the pairing window first, as a listener's
// PAKE does: errors.Is(err, pairing.ErrWindowClosed) (not in pairing
// mode), pairing.ErrBusy (others are pairing: try again in a few
// seconds), pairing.ErrSourceLocked (this address's turn in this window
// is over) come before the code is looked at. Then ErrWrongCode (counted
// in the window, for the address, told to trusted listeners, logged
// without the code), or ErrDeviceName (refused before the window). Every
// error's text is written for a parent.
func (m *Monitor) PairDevice(ctx context.Context, source netip.Addr, code, name string) (string, Device, error) {
	if err := ctx.Err(); err != nil {
		return "", Device{}, err
	}
	if !source.IsValid() {
		return "", Device{}, fmt.Errorf("monitor: PairDevice: no source address")
	}
	attempt := m.webAttempts.Add(1)
	if err := m.step(WebPairStart{At: m.now(), Attempt: attempt, Source: source.Unmap().String(), Name: name}); err != nil {
		return "", Device{}, err
	}
	// Admitted: now, and only now, the typed code is compared. A code
	// that does not parse is a wrong one (still a guess).
	typed, perr := pairing.ParseCode(code)
	want := m.SetupCode()
	ok := subtle.ConstantTimeCompare([]byte(typed), []byte(want)) == 1 && perr == nil && want != ""
	ev := WebPairChecked{At: m.now(), Attempt: attempt, OK: ok}
	var cred string
	if ok {
		id, err := newDeviceID(m.st.State())
		var h [32]byte
		if err == nil {
			cred, h, err = newCredential()
		}
		if err != nil {
			ev.OK = false // cannot happen with crypto/rand; never trust without a credential
			m.log.Error("cannot draw a device credential", "err", err)
		}
		ev.Device = store.DeviceTrusted{ID: id, Name: name, CredentialHash: h, At: ev.At}
	}
	if err := m.step(ev); err != nil {
		return "", Device{}, err
	}
	d := Device{ID: ev.Device.ID, Name: name, PairedAt: ev.At.UTC()}
	m.log.Info("device paired on the page", "device", d)
	return cred, d, nil
}

// DeviceByCredential returns the trusted device whose credential is cred
// (a cookie's value). Every device's hash is compared in constant time;
// nothing about cred is logged.
func (m *Monitor) DeviceByCredential(cred string) (Device, bool) {
	h, ok := credentialHash(cred)
	if !ok {
		return Device{}, false
	}
	var found store.TrustedDevice
	match := 0
	for _, d := range m.st.State().Devices {
		if subtle.ConstantTimeCompare(h[:], d.CredentialHash[:]) == 1 {
			found, match = d, 1
		}
	}
	return deviceOf(found), match == 1
}

// Devices lists the trusted web devices, oldest pairing first.
func (m *Monitor) Devices() []Device {
	var out []Device
	for _, d := range m.st.State().Devices {
		out = append(out, deviceOf(d))
	}
	slices.SortFunc(out, func(a, b Device) int {
		if c := a.PairedAt.Compare(b.PairedAt); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RenameDevice renames a trusted web device (ErrUnknownDevice,
// ErrDeviceName).
func (m *Monitor) RenameDevice(ctx context.Context, id, name string) error {
	if err := checkDeviceName(name); err != nil {
		return err
	}
	if !hasDevice(m.st.State(), id) {
		return fmt.Errorf("%w (%s)", ErrUnknownDevice, id)
	}
	_, err := m.st.Append(ctx, store.DeviceRenamed{ID: id, Name: name})
	return err
}

// RevokeDevice removes a trusted web device: its credential opens
// nothing from the moment this returns, and its DeviceGone channel is
// closed as soon as the event is read back (within milliseconds).
func (m *Monitor) RevokeDevice(ctx context.Context, id string) error {
	if !hasDevice(m.st.State(), id) {
		return fmt.Errorf("%w (%s)", ErrUnknownDevice, id)
	}
	_, err := m.st.Append(ctx, store.DeviceRevoked{ID: id, Reason: "revoked by a parent"})
	return err
}

// DeviceGone returns a channel that is closed when device id is no
// longer trusted: revoked, or forgotten by a factory reset. It is closed
// already when id is not trusted now. The HTTP host selects on it to end
// the device's event streams and media; every caller for one device
// shares one channel, so there is nothing to release.
func (m *Monitor) DeviceGone(id string) <-chan struct{} {
	return m.gone.watch(id, func() bool { return hasDevice(m.st.State(), id) })
}

// deviceWatch holds one channel per watched trusted device, closed by
// the applier's EndDevice.
type deviceWatch struct {
	mu   sync.Mutex
	gone map[string]chan struct{}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// watch returns id's channel; trusted is read under the lock, so that an
// EndDevice carried out after the store dropped id (the store's state
// changes before its subscribers hear of it) cannot be missed.
func (w *deviceWatch) watch(id string, trusted func() bool) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.gone[id]; ok {
		return c
	}
	if !trusted() {
		return closedChan
	}
	if w.gone == nil {
		w.gone = map[string]chan struct{}{}
	}
	c := make(chan struct{})
	w.gone[id] = c
	return c
}

// end closes id's channel (every one when all).
func (w *deviceWatch) end(id string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, c := range w.gone {
		if all || k == id {
			close(c)
			delete(w.gone, k)
		}
	}
}
