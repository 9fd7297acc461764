package store

import (
	"log/slog"
	"maps"
	"time"
)

// DefaultHistoryLen is the number of connection records State keeps when
// Options.HistoryLen is zero.
const DefaultHistoryLen = 100

// State holds the projections of the log up to Seq. A State obtained from
// Store.State or Apply is immutable: its maps and slices may be shared with
// other States, so read them and never modify them.
type State struct {
	Seq uint64 // the last event applied

	Identity  *IdentityCreated // nil until an identity is created
	SetupCode *SetupCodeSet    // nil until a setup code is set

	// Allowlist is the monitor's set of trusted listeners.
	Allowlist map[[32]byte]TrustedListener
	Pairing   PairingState
	// History is the last HistoryLen connections, oldest first.
	History []ConnectionRecord
	// Monitors is the listener's set of paired monitors.
	Monitors map[[32]byte]PairedMonitor
	// Devices is the monitor's set of trusted web devices, by id.
	Devices map[string]TrustedDevice

	// HistoryLen bounds History; zero means DefaultHistoryLen.
	HistoryLen int
}

// TrustedListener is an allowlist entry.
type TrustedListener struct {
	Fingerprint [32]byte
	Name        string
	PairedAt    time.Time
	Seq         uint64 // the event that trusted it
}

// TrustedDevice is a web device (a phone's browser) paired on the
// monitor's page. CredentialHash is the SHA-256 of its credential, which
// the store never sees.
type TrustedDevice struct {
	ID             string
	Name           string
	CredentialHash [32]byte
	PairedAt       time.Time
	Seq            uint64 // the event that trusted it
}

// LogValue keeps the credential's hash out of logs.
func (d TrustedDevice) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID), slog.String("name", d.Name))
}

// PairingState is the monitor's pairing window and failure counters.
type PairingState struct {
	Open     bool
	OpenedAt time.Time // when the window opened (event time)
	Until    time.Time // the deadline recorded when it opened
	// Failures counts failed attempts since the window last opened.
	Failures int
	// LifetimeFailures counts every failed attempt since the last trust
	// reset; it survives restarts.
	LifetimeFailures int
	LastClose        CloseReason // why the window last closed
}

// ConnectionRecord is one entry of the connection history.
type ConnectionRecord struct {
	ConnID      string
	Fingerprint [32]byte
	Remote      string
	OpenedAt    time.Time // zero when the open event is no longer known
	Seq         uint64    // the event that created the record
	Closed      bool
	ClosedAt    time.Time
	Reason      string
	Duration    time.Duration
}

// PairedMonitor is a listener's record of a monitor it paired with.
type PairedMonitor struct {
	DeviceID      string
	Name          string
	Fingerprint   [32]byte
	Address       string // last known "host:port"
	PairedAt      time.Time
	AddressSeenAt time.Time // when Address was last seen; zero if never since pairing
	Seq           uint64    // the event that paired it
}

// Trusted reports whether fp is on the allowlist.
func (st State) Trusted(fp [32]byte) (TrustedListener, bool) {
	l, ok := st.Allowlist[fp]
	return l, ok
}

// Device returns the trusted web device with this id.
func (st State) Device(id string) (TrustedDevice, bool) {
	d, ok := st.Devices[id]
	return d, ok
}

// Monitor returns the paired monitor with fingerprint fp.
func (st State) Monitor(fp [32]byte) (PairedMonitor, bool) {
	m, ok := st.Monitors[fp]
	return m, ok
}

func (st State) historyLen() int {
	if st.HistoryLen <= 0 {
		return DefaultHistoryLen
	}
	return st.HistoryLen
}

// Apply returns the state after e. It is pure: st is not modified, and the
// result shares with st every map and slice that e does not change. Unknown
// payloads only advance Seq.
func (st State) Apply(e Event) State {
	b := builder{st: st}
	b.apply(e)
	return b.state()
}

// builder applies events copy-on-write: the first change to a map or to the
// history copies it, later changes in the same builder happen in place. A
// builder used for a whole replay therefore copies each projection once.
type builder struct {
	st State
	// ownAllow and ownMon mean st's map was made by this builder.
	ownAllow, ownMon, ownDev bool
	// hist is the history under construction when ownHist; it may hold up
	// to twice the limit so that trimming is amortized.
	hist    []ConnectionRecord
	ownHist bool
}

func (b *builder) allowlist() map[[32]byte]TrustedListener {
	if !b.ownAllow {
		b.st.Allowlist = maps.Clone(b.st.Allowlist)
		if b.st.Allowlist == nil {
			b.st.Allowlist = make(map[[32]byte]TrustedListener)
		}
		b.ownAllow = true
	}
	return b.st.Allowlist
}

func (b *builder) monitors() map[[32]byte]PairedMonitor {
	if !b.ownMon {
		b.st.Monitors = maps.Clone(b.st.Monitors)
		if b.st.Monitors == nil {
			b.st.Monitors = make(map[[32]byte]PairedMonitor)
		}
		b.ownMon = true
	}
	return b.st.Monitors
}

func (b *builder) devices() map[string]TrustedDevice {
	if !b.ownDev {
		b.st.Devices = maps.Clone(b.st.Devices)
		if b.st.Devices == nil {
			b.st.Devices = make(map[string]TrustedDevice)
		}
		b.ownDev = true
	}
	return b.st.Devices
}

func (b *builder) history() []ConnectionRecord {
	if !b.ownHist {
		b.hist = append(make([]ConnectionRecord, 0, 2*b.st.historyLen()), b.st.History...)
		b.ownHist = true
	}
	return b.hist
}

func (b *builder) addRecord(r ConnectionRecord) {
	h, limit := b.history(), b.st.historyLen()
	if len(h) >= 2*limit {
		h = h[:copy(h, h[len(h)-limit+1:])]
	}
	b.hist = append(h, r)
}

// state returns the built State. The builder may keep being used: its
// private maps are handed over, so later changes copy them again.
func (b *builder) state() State {
	if b.ownHist {
		h := b.hist
		if n := b.st.historyLen(); len(h) > n {
			h = h[len(h)-n:]
		}
		if len(h) == 0 {
			h = nil
		}
		b.st.History = h[:len(h):len(h)]
		b.hist, b.ownHist = nil, false
	}
	// Empty maps are nil, so that equal States are reflect.DeepEqual.
	if len(b.st.Allowlist) == 0 {
		b.st.Allowlist = nil
	}
	if len(b.st.Monitors) == 0 {
		b.st.Monitors = nil
	}
	if len(b.st.Devices) == 0 {
		b.st.Devices = nil
	}
	b.ownAllow, b.ownMon, b.ownDev = false, false, false
	return b.st
}

func (b *builder) apply(e Event) {
	b.st.Seq = e.Seq
	switch p := e.Payload.(type) {
	case IdentityCreated:
		b.st.Identity = &p
	case SetupCodeSet:
		b.st.SetupCode = &p
	case PairingWindowOpened:
		until := p.Until
		if until.IsZero() {
			until = e.Time.Add(p.Duration)
		}
		pr := &b.st.Pairing
		pr.Open, pr.OpenedAt, pr.Until, pr.Failures = true, e.Time, until, 0
	case PairingWindowClosed:
		pr := &b.st.Pairing
		pr.Open, pr.Until, pr.LastClose = false, time.Time{}, p.Reason
	case PairingAttemptFailed:
		if b.st.Pairing.Open {
			b.st.Pairing.Failures++
		}
		b.st.Pairing.LifetimeFailures++
	case ListenerTrusted:
		at := p.At
		if at.IsZero() {
			at = e.Time
		}
		b.allowlist()[p.Fingerprint] = TrustedListener{Fingerprint: p.Fingerprint, Name: p.Name, PairedAt: at, Seq: e.Seq}
	case ListenerRevoked:
		if _, ok := b.st.Allowlist[p.Fingerprint]; ok {
			delete(b.allowlist(), p.Fingerprint)
		}
	case TrustReset:
		b.st.Allowlist, b.ownAllow = nil, false
		b.st.Monitors, b.ownMon = nil, false
		b.st.Devices, b.ownDev = nil, false
		last := b.st.Pairing.LastClose
		if b.st.Pairing.Open {
			last = CloseReset
		}
		b.st.Pairing = PairingState{LastClose: last}
	case ConnectionOpened:
		b.addRecord(ConnectionRecord{ConnID: p.ConnID, Fingerprint: p.Fingerprint, Remote: p.Remote, OpenedAt: e.Time, Seq: e.Seq})
	case ConnectionClosed:
		h := b.st.History
		if b.ownHist {
			h = b.hist
		}
		i := len(h) - 1
		for ; i >= 0 && (h[i].ConnID != p.ConnID || h[i].Closed); i-- {
		}
		if i < 0 || len(h)-i > b.st.historyLen() {
			b.addRecord(ConnectionRecord{ConnID: p.ConnID, Fingerprint: p.Fingerprint, Remote: p.Remote, Seq: e.Seq,
				Closed: true, ClosedAt: e.Time, Reason: p.Reason, Duration: p.Duration})
			return
		}
		h = b.history()
		r := &h[i]
		r.Closed, r.ClosedAt, r.Reason, r.Duration = true, e.Time, p.Reason, p.Duration
	case MonitorPaired:
		at := p.At
		if at.IsZero() {
			at = e.Time
		}
		b.monitors()[p.Fingerprint] = PairedMonitor{DeviceID: p.DeviceID, Name: p.Name, Fingerprint: p.Fingerprint,
			Address: p.Address, PairedAt: at, Seq: e.Seq}
	case MonitorForgotten:
		if _, ok := b.st.Monitors[p.Fingerprint]; ok {
			delete(b.monitors(), p.Fingerprint)
		}
	case DeviceTrusted:
		at := p.At
		if at.IsZero() {
			at = e.Time
		}
		b.devices()[p.ID] = TrustedDevice{ID: p.ID, Name: p.Name, CredentialHash: p.CredentialHash, PairedAt: at, Seq: e.Seq}
	case DeviceRenamed:
		if d, ok := b.st.Devices[p.ID]; ok {
			d.Name = p.Name
			b.devices()[p.ID] = d
		}
	case DeviceRevoked:
		if _, ok := b.st.Devices[p.ID]; ok {
			delete(b.devices(), p.ID)
		}
	case MonitorAddressSeen:
		if m, ok := b.st.Monitors[p.Fingerprint]; ok {
			m.Address, m.AddressSeenAt = p.Address, e.Time
			b.monitors()[p.Fingerprint] = m
		}
	}
}
