package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"
)

// Type identifies what an event records. Values are stored on disk: never
// renumber them, only add new ones.
type Type uint16

// Event types. The monitor side records identity, setup code, pairing,
// trust and connections; the listener side records the monitors it paired
// with. Both sides use the same store.
const (
	TypeIdentityCreated      Type = 1
	TypeSetupCodeSet         Type = 2
	TypePairingWindowOpened  Type = 3
	TypePairingWindowClosed  Type = 4
	TypePairingAttemptFailed Type = 5
	TypeListenerTrusted      Type = 6
	TypeListenerRevoked      Type = 7
	TypeTrustReset           Type = 8
	TypeConnectionOpened     Type = 9
	TypeConnectionClosed     Type = 10
	TypeMonitorPaired        Type = 11
	TypeMonitorForgotten     Type = 12
	TypeMonitorAddressSeen   Type = 13
	TypeDeviceTrusted        Type = 14
	TypeDeviceRenamed        Type = 15
	TypeDeviceRevoked        Type = 16
	TypeSoundStarted         Type = 17
	TypeSoundStopped         Type = 18
	TypeTalkStarted          Type = 19
	TypeTalkEnded            Type = 20
)

var typeNames = map[Type]string{
	TypeIdentityCreated:      "identity-created",
	TypeSetupCodeSet:         "setup-code-set",
	TypePairingWindowOpened:  "pairing-window-opened",
	TypePairingWindowClosed:  "pairing-window-closed",
	TypePairingAttemptFailed: "pairing-attempt-failed",
	TypeListenerTrusted:      "listener-trusted",
	TypeListenerRevoked:      "listener-revoked",
	TypeTrustReset:           "trust-reset",
	TypeConnectionOpened:     "connection-opened",
	TypeConnectionClosed:     "connection-closed",
	TypeMonitorPaired:        "monitor-paired",
	TypeMonitorForgotten:     "monitor-forgotten",
	TypeMonitorAddressSeen:   "monitor-address-seen",
	TypeDeviceTrusted:        "device-trusted",
	TypeDeviceRenamed:        "device-renamed",
	TypeDeviceRevoked:        "device-revoked",
	TypeSoundStarted:         "sound-started",
	TypeSoundStopped:         "sound-stopped",
	TypeTalkStarted:          "talk-started",
	TypeTalkEnded:            "talk-ended",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type-%d", uint16(t))
}

// Payload is the typed body of an event. The store can append only the
// payload types defined in this package; Unknown is what it returns for
// records it cannot interpret.
type Payload interface {
	EventType() Type
}

// CloseReason says why a pairing window closed.
type CloseReason string

// Reasons a pairing window closes.
const (
	CloseTimeout         CloseReason = "timeout"
	CloseSuccess         CloseReason = "success"
	CloseTooManyFailures CloseReason = "too-many-failures"
	CloseManual          CloseReason = "manual"
	CloseReset           CloseReason = "reset"
)

// IdentityCreated records the device's own key pair being generated.
// Role is "monitor" or "listener".
type IdentityCreated struct {
	Role        string
	Fingerprint [32]byte
	Name        string
}

// SetupCodeSet records what the device needs to verify a setup code. It must
// never hold the code itself: Verifier is what the pairing scheme named by
// Scheme keeps (for example a salted hash or a PAKE verifier).
type SetupCodeSet struct {
	Scheme   string
	Salt     []byte
	Verifier []byte
}

// LogValue keeps the salt and verifier out of logs.
func (p SetupCodeSet) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", p.Scheme))
}

// String keeps the salt and verifier out of fmt output.
func (p SetupCodeSet) String() string { return "SetupCodeSet{Scheme:" + p.Scheme + "}" }

// PairingWindowOpened records a pairing window opening for Duration; Until is
// the caller's wall-clock deadline (which may be wrong before NTP syncs).
type PairingWindowOpened struct {
	Duration time.Duration
	Until    time.Time
}

// PairingWindowClosed records the pairing window closing.
type PairingWindowClosed struct {
	Reason CloseReason
}

// PairingAttemptFailed records a failed pairing attempt by Peer.
type PairingAttemptFailed struct {
	Peer   [32]byte
	Reason string
}

// ListenerTrusted records a listener being added to the allowlist. A zero At
// means "when the event was recorded".
type ListenerTrusted struct {
	Fingerprint [32]byte
	Name        string
	At          time.Time
}

// ListenerRevoked records a listener being removed from the allowlist.
type ListenerRevoked struct {
	Fingerprint [32]byte
	Reason      string
}

// TrustReset records a factory reset of trust: the allowlist, the trusted
// web devices, the pairing state (including the lifetime failure counter)
// and the paired monitors are cleared. The identity and setup code are kept.
type TrustReset struct {
	Reason string
}

// ConnectionOpened records an authenticated connection from Fingerprint.
type ConnectionOpened struct {
	ConnID      string
	Fingerprint [32]byte
	Remote      string
}

// ConnectionClosed records the end of a connection.
type ConnectionClosed struct {
	ConnID      string
	Fingerprint [32]byte
	Remote      string
	Reason      string
	Duration    time.Duration
}

// MonitorPaired records, on a listener, pairing with a monitor. A zero At
// means "when the event was recorded". Address is the last known "host:port".
type MonitorPaired struct {
	DeviceID    string
	Name        string
	Fingerprint [32]byte
	Address     string
	At          time.Time
}

// MonitorForgotten records, on a listener, removing a paired monitor.
type MonitorForgotten struct {
	Fingerprint [32]byte
}

// MonitorAddressSeen records, on a listener, a paired monitor's new address.
type MonitorAddressSeen struct {
	Fingerprint [32]byte
	Address     string
}

// DeviceTrusted records, on a monitor, a web device (a phone's browser)
// paired on the monitor's page. The log never holds the device's
// credential, only CredentialHash, its SHA-256. ID is the device's short
// printable name in the log (ValidDeviceID), Name the parent's choice (at
// most MaxDeviceNameLen bytes of UTF-8). A zero At means "when the event
// was recorded".
type DeviceTrusted struct {
	ID             string
	Name           string
	CredentialHash [32]byte
	At             time.Time
}

// LogValue keeps the credential's hash out of logs.
func (p DeviceTrusted) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", p.ID), slog.String("name", p.Name))
}

// DeviceRenamed records a parent renaming a trusted web device.
type DeviceRenamed struct {
	ID   string
	Name string
}

// DeviceRevoked records a web device being removed from the trusted
// devices: its credential no longer opens anything.
type DeviceRevoked struct {
	ID     string
	Reason string
}

// SoundStarted records, on a monitor, a trusted listener (or phone)
// starting a soothing sound on the monitor's speaker: Sound is its name
// ("white", "pink", "brown", "heartbeat", "lullaby"), Minutes its timer
// (0: until stopped), By the name of whoever started it and Peer the
// listener's device id, or the web device's id for a phone.
type SoundStarted struct {
	Sound   string
	Minutes uint64
	By      string
	Peer    string
}

// SoundStopped records the end of the soothing sound: Reason is one of
// the SoundStopped* values, Duration how long it played.
type SoundStopped struct {
	Reason   string
	Duration time.Duration
}

// SoundStopped.Reason values.
const (
	SoundStoppedByListener = "stopped"  // a listener (or phone) stopped it
	SoundStoppedTimer      = "timer"    // its timer ran out (after the fade)
	SoundStoppedReplaced   = "replaced" // another sound replaced it
	SoundStoppedShutdown   = "shutdown" // the monitor stopped
	SoundStoppedFailed     = "failed"   // the speaker failed
)

// TalkStarted records, on a monitor, a trusted listener (or phone)
// starting to talk to the nursery (push-to-talk): By is its paired name,
// Peer the listener's device id, or the web device's id for a phone.
type TalkStarted struct {
	By   string
	Peer string
}

// TalkEnded records the end of a talk: Reason is one of the TalkEnded*
// values, Duration how long it lasted.
type TalkEnded struct {
	Reason   string
	Duration time.Duration
}

// TalkEnded.Reason values.
const (
	TalkEndedStopped  = "stopped"  // the talker stopped (stream_stop)
	TalkEndedClosed   = "closed"   // its connection or peer connection closed
	TalkEndedFailed   = "failed"   // its session or the speaker failed
	TalkEndedShutdown = "shutdown" // the monitor stopped
)

// Bounds on web devices' fields, enforced by the decoder (so Append
// refuses a payload beyond them with ErrInvalidPayload).
const (
	MaxDeviceIDLen   = 32 // bytes; see ValidDeviceID
	MaxDeviceNameLen = 64 // bytes of UTF-8
)

// ValidDeviceID reports whether id can name a web device: 1 to
// MaxDeviceIDLen characters among A-Z, a-z, 0-9, '-' and '_'.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > MaxDeviceIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Unknown is the payload of a record this release cannot interpret: a type
// or schema version written by a newer release, or bytes that do not
// decode. Such records stay in the log; projections skip them.
type Unknown struct {
	Type    Type
	Version uint16
	Raw     []byte // the payload bytes, or the whole record if its envelope does not decode
	Reason  string // why it was not decoded
}

func (IdentityCreated) EventType() Type      { return TypeIdentityCreated }
func (SetupCodeSet) EventType() Type         { return TypeSetupCodeSet }
func (PairingWindowOpened) EventType() Type  { return TypePairingWindowOpened }
func (PairingWindowClosed) EventType() Type  { return TypePairingWindowClosed }
func (PairingAttemptFailed) EventType() Type { return TypePairingAttemptFailed }
func (ListenerTrusted) EventType() Type      { return TypeListenerTrusted }
func (ListenerRevoked) EventType() Type      { return TypeListenerRevoked }
func (TrustReset) EventType() Type           { return TypeTrustReset }
func (ConnectionOpened) EventType() Type     { return TypeConnectionOpened }
func (ConnectionClosed) EventType() Type     { return TypeConnectionClosed }
func (MonitorPaired) EventType() Type        { return TypeMonitorPaired }
func (MonitorForgotten) EventType() Type     { return TypeMonitorForgotten }
func (MonitorAddressSeen) EventType() Type   { return TypeMonitorAddressSeen }
func (DeviceTrusted) EventType() Type        { return TypeDeviceTrusted }
func (DeviceRenamed) EventType() Type        { return TypeDeviceRenamed }
func (DeviceRevoked) EventType() Type        { return TypeDeviceRevoked }
func (SoundStarted) EventType() Type         { return TypeSoundStarted }
func (SoundStopped) EventType() Type         { return TypeSoundStopped }
func (TalkStarted) EventType() Type          { return TypeTalkStarted }
func (TalkEnded) EventType() Type            { return TypeTalkEnded }
func (u Unknown) EventType() Type            { return u.Type }

// Payload encodings, schema version 1 for every type. Fields are written in
// declaration order; docs/STORE.md lists them. To change a layout, bump the
// type's version in schemaVersion and decode old versions in its decoder.

func (p IdentityCreated) encode(w *wbuf) { w.str(p.Role); w.fp(p.Fingerprint); w.str(p.Name) }
func (p *IdentityCreated) decode(r *rbuf, _ uint16) {
	p.Role, p.Fingerprint, p.Name = r.str(), r.fp(), r.str()
}

func (p SetupCodeSet) encode(w *wbuf) { w.str(p.Scheme); w.bytes(p.Salt); w.bytes(p.Verifier) }
func (p *SetupCodeSet) decode(r *rbuf, _ uint16) {
	p.Scheme, p.Salt, p.Verifier = r.str(), r.bytes(), r.bytes()
}

func (p PairingWindowOpened) encode(w *wbuf) { w.dur(p.Duration); w.time(p.Until) }
func (p *PairingWindowOpened) decode(r *rbuf, _ uint16) {
	p.Duration, p.Until = r.dur(), r.time()
}

func (p PairingWindowClosed) encode(w *wbuf)            { w.str(string(p.Reason)) }
func (p *PairingWindowClosed) decode(r *rbuf, _ uint16) { p.Reason = CloseReason(r.str()) }

func (p PairingAttemptFailed) encode(w *wbuf) { w.fp(p.Peer); w.str(p.Reason) }
func (p *PairingAttemptFailed) decode(r *rbuf, _ uint16) {
	p.Peer, p.Reason = r.fp(), r.str()
}

func (p ListenerTrusted) encode(w *wbuf) { w.fp(p.Fingerprint); w.str(p.Name); w.time(p.At) }
func (p *ListenerTrusted) decode(r *rbuf, _ uint16) {
	p.Fingerprint, p.Name, p.At = r.fp(), r.str(), r.time()
}

func (p ListenerRevoked) encode(w *wbuf) { w.fp(p.Fingerprint); w.str(p.Reason) }
func (p *ListenerRevoked) decode(r *rbuf, _ uint16) {
	p.Fingerprint, p.Reason = r.fp(), r.str()
}

func (p TrustReset) encode(w *wbuf)            { w.str(p.Reason) }
func (p *TrustReset) decode(r *rbuf, _ uint16) { p.Reason = r.str() }

func (p ConnectionOpened) encode(w *wbuf) { w.str(p.ConnID); w.fp(p.Fingerprint); w.str(p.Remote) }
func (p *ConnectionOpened) decode(r *rbuf, _ uint16) {
	p.ConnID, p.Fingerprint, p.Remote = r.str(), r.fp(), r.str()
}

func (p ConnectionClosed) encode(w *wbuf) {
	w.str(p.ConnID)
	w.fp(p.Fingerprint)
	w.str(p.Remote)
	w.str(p.Reason)
	w.dur(p.Duration)
}
func (p *ConnectionClosed) decode(r *rbuf, _ uint16) {
	p.ConnID, p.Fingerprint, p.Remote, p.Reason, p.Duration = r.str(), r.fp(), r.str(), r.str(), r.dur()
}

func (p MonitorPaired) encode(w *wbuf) {
	w.str(p.DeviceID)
	w.str(p.Name)
	w.fp(p.Fingerprint)
	w.str(p.Address)
	w.time(p.At)
}
func (p *MonitorPaired) decode(r *rbuf, _ uint16) {
	p.DeviceID, p.Name, p.Fingerprint, p.Address, p.At = r.str(), r.str(), r.fp(), r.str(), r.time()
}

func (p MonitorForgotten) encode(w *wbuf)            { w.fp(p.Fingerprint) }
func (p *MonitorForgotten) decode(r *rbuf, _ uint16) { p.Fingerprint = r.fp() }

func (p MonitorAddressSeen) encode(w *wbuf) { w.fp(p.Fingerprint); w.str(p.Address) }
func (p *MonitorAddressSeen) decode(r *rbuf, _ uint16) {
	p.Fingerprint, p.Address = r.fp(), r.str()
}

func (p DeviceTrusted) encode(w *wbuf) {
	w.str(p.ID)
	w.str(p.Name)
	w.fp(p.CredentialHash)
	w.time(p.At)
}
func (p *DeviceTrusted) decode(r *rbuf, _ uint16) {
	p.ID, p.Name, p.CredentialHash, p.At = r.deviceID(), r.deviceName(), r.fp(), r.time()
}

func (p DeviceRenamed) encode(w *wbuf) { w.str(p.ID); w.str(p.Name) }
func (p *DeviceRenamed) decode(r *rbuf, _ uint16) {
	p.ID, p.Name = r.deviceID(), r.deviceName()
}

func (p DeviceRevoked) encode(w *wbuf) { w.str(p.ID); w.str(p.Reason) }
func (p *DeviceRevoked) decode(r *rbuf, _ uint16) {
	p.ID, p.Reason = r.deviceID(), r.str()
}

func (p SoundStarted) encode(w *wbuf) {
	w.str(p.Sound)
	w.uvarint(p.Minutes)
	w.str(p.By)
	w.str(p.Peer)
}
func (p *SoundStarted) decode(r *rbuf, _ uint16) {
	p.Sound, p.Minutes, p.By, p.Peer = r.str(), r.uvarint(), r.str(), r.str()
}

func (p SoundStopped) encode(w *wbuf) { w.str(p.Reason); w.dur(p.Duration) }
func (p *SoundStopped) decode(r *rbuf, _ uint16) {
	p.Reason, p.Duration = r.str(), r.dur()
}

func (p TalkStarted) encode(w *wbuf) { w.str(p.By); w.str(p.Peer) }
func (p *TalkStarted) decode(r *rbuf, _ uint16) {
	p.By, p.Peer = r.str(), r.str()
}

func (p TalkEnded) encode(w *wbuf) { w.str(p.Reason); w.dur(p.Duration) }
func (p *TalkEnded) decode(r *rbuf, _ uint16) {
	p.Reason, p.Duration = r.str(), r.dur()
}

// deviceID reads a web device's id, failing unless ValidDeviceID.
func (r *rbuf) deviceID() string {
	id := r.str()
	if r.err == nil && !ValidDeviceID(id) {
		r.fail(errors.New("bad device id"))
		return ""
	}
	return id
}

// deviceName reads a web device's name, failing beyond MaxDeviceNameLen
// bytes or when it is not UTF-8.
func (r *rbuf) deviceName() string {
	n := r.str()
	if r.err == nil && (len(n) > MaxDeviceNameLen || !utf8.ValidString(n)) {
		r.fail(errors.New("bad device name"))
		return ""
	}
	return n
}

// encoder is implemented by every payload the store can append.
type encoder interface {
	Payload
	encode(*wbuf)
}

// codec describes how one event type is stored: the schema version this
// release writes and a decoder for every version up to it.
type codec struct {
	version uint16
	decode  func(r *rbuf, version uint16) Payload
}

var codecs = map[Type]codec{
	TypeIdentityCreated:      {1, func(r *rbuf, v uint16) Payload { var p IdentityCreated; p.decode(r, v); return p }},
	TypeSetupCodeSet:         {1, func(r *rbuf, v uint16) Payload { var p SetupCodeSet; p.decode(r, v); return p }},
	TypePairingWindowOpened:  {1, func(r *rbuf, v uint16) Payload { var p PairingWindowOpened; p.decode(r, v); return p }},
	TypePairingWindowClosed:  {1, func(r *rbuf, v uint16) Payload { var p PairingWindowClosed; p.decode(r, v); return p }},
	TypePairingAttemptFailed: {1, func(r *rbuf, v uint16) Payload { var p PairingAttemptFailed; p.decode(r, v); return p }},
	TypeListenerTrusted:      {1, func(r *rbuf, v uint16) Payload { var p ListenerTrusted; p.decode(r, v); return p }},
	TypeListenerRevoked:      {1, func(r *rbuf, v uint16) Payload { var p ListenerRevoked; p.decode(r, v); return p }},
	TypeTrustReset:           {1, func(r *rbuf, v uint16) Payload { var p TrustReset; p.decode(r, v); return p }},
	TypeConnectionOpened:     {1, func(r *rbuf, v uint16) Payload { var p ConnectionOpened; p.decode(r, v); return p }},
	TypeConnectionClosed:     {1, func(r *rbuf, v uint16) Payload { var p ConnectionClosed; p.decode(r, v); return p }},
	TypeMonitorPaired:        {1, func(r *rbuf, v uint16) Payload { var p MonitorPaired; p.decode(r, v); return p }},
	TypeMonitorForgotten:     {1, func(r *rbuf, v uint16) Payload { var p MonitorForgotten; p.decode(r, v); return p }},
	TypeMonitorAddressSeen:   {1, func(r *rbuf, v uint16) Payload { var p MonitorAddressSeen; p.decode(r, v); return p }},
	TypeDeviceTrusted:        {1, func(r *rbuf, v uint16) Payload { var p DeviceTrusted; p.decode(r, v); return p }},
	TypeDeviceRenamed:        {1, func(r *rbuf, v uint16) Payload { var p DeviceRenamed; p.decode(r, v); return p }},
	TypeDeviceRevoked:        {1, func(r *rbuf, v uint16) Payload { var p DeviceRevoked; p.decode(r, v); return p }},
	TypeSoundStarted:         {1, func(r *rbuf, v uint16) Payload { var p SoundStarted; p.decode(r, v); return p }},
	TypeSoundStopped:         {1, func(r *rbuf, v uint16) Payload { var p SoundStopped; p.decode(r, v); return p }},
	TypeTalkStarted:          {1, func(r *rbuf, v uint16) Payload { var p TalkStarted; p.decode(r, v); return p }},
	TypeTalkEnded:            {1, func(r *rbuf, v uint16) Payload { var p TalkEnded; p.decode(r, v); return p }},
}

// decodePayload decodes the payload bytes of an event of type t written
// with schema version v. Types and versions this release does not know, and
// bytes that do not decode, give an Unknown payload and a non-nil error.
func decodePayload(t Type, v uint16, b []byte) (Payload, error) {
	unknown := func(reason string) (Payload, error) {
		return Unknown{Type: t, Version: v, Raw: append([]byte(nil), b...), Reason: reason}, fmt.Errorf("%s v%d: %s", t, v, reason)
	}
	if len(b) > MaxRecordSize {
		return unknown("payload too large")
	}
	c, ok := codecs[t]
	switch {
	case !ok:
		return unknown("unknown event type (written by a newer release?)")
	case v == 0 || v > c.version:
		return unknown(fmt.Sprintf("unknown schema version (this release reads up to v%d)", c.version))
	}
	r := rbuf{b: b}
	p := c.decode(&r, v)
	if err := r.done(); err != nil {
		return unknown("payload does not decode: " + err.Error())
	}
	return p, nil
}
