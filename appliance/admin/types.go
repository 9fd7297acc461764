package admin

import "time"

// The results of the admin API, as JSON. `cradled status --json` and the
// others print them as they are.

// Status is the answer to Status.
type Status struct {
	Name        string `json:"name"`
	DeviceID    string `json:"device_id"`
	Fingerprint string `json:"fingerprint"`
	Addr        string `json:"addr"`
	Port        int    `json:"port"`
	// Host is the .local name the monitor answers mDNS address queries
	// for (docs/DISCOVERY.md), HostAddrs the addresses it answers with
	// now; both absent when it does not advertise (and from monitors
	// older than these fields).
	Host      string   `json:"host,omitempty"`
	HostAddrs []string `json:"host_addrs,omitempty"`
	// PagePort is the TCP port of the phones' page (HTTPS) once cradled
	// serves it; Page the page's addresses: https://<Host>/, then one per
	// HostAddrs, each with the port unless it is 443. Both absent without
	// the page; Page without an address too.
	PagePort    int              `json:"page_port,omitempty"`
	Page        []string         `json:"page,omitempty"`
	Pairing     PairingStatus    `json:"pairing"`
	Connections []ConnectionInfo `json:"connections"`
}

// PairingStatus describes the pairing window.
type PairingStatus struct {
	Open  bool       `json:"open"`
	Until *time.Time `json:"until,omitempty"`
	// FailedAttempts counts the wrong setup codes tried in the current
	// window (or the last one); LifetimeFailures since the monitor's
	// first start or its last factory reset. Nothing is ever locked.
	FailedAttempts   int    `json:"failed_attempts"`
	LifetimeFailures int    `json:"lifetime_failures"`
	LastClose        string `json:"last_close,omitempty"` // why the last window closed
	// Strangers counts unpaired connections since the monitor started
	// (they are not in the event log).
	Strangers StrangerCounts `json:"strangers"`
}

// StrangerCounts counts unpaired connections: answered, refused (every
// slot was pairing), evicted for a newer one, closed after their time.
type StrangerCounts struct {
	Accepted int `json:"accepted"`
	Refused  int `json:"refused"`
	Evicted  int `json:"evicted"`
	Expired  int `json:"expired"`
}

// ConnectionInfo describes one live connection.
type ConnectionInfo struct {
	ID          uint64    `json:"id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Remote      string    `json:"remote"`
	Trusted     bool      `json:"trusted"`
	Since       time.Time `json:"since"`
	LastSeen    time.Time `json:"last_seen"`
	RTT         string    `json:"rtt"`
	RTTMicros   int64     `json:"rtt_us"`
}

// ListenerInfo is one trusted listener, or one trusted web device (a
// phone paired on the monitor's page). Kind and ID were added with web
// devices: an older daemon sends neither (every entry is a listener).
type ListenerInfo struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"` // "" for a device
	PairedAt    time.Time `json:"paired_at"`
	Online      bool      `json:"online"`         // a listener connected now; false for a device
	Kind        string    `json:"kind,omitempty"` // KindListener or KindDevice
	ID          string    `json:"id,omitempty"`   // a device's id, what Revoke takes
}

// Kinds of ListenerInfo.
const (
	KindListener = "listener"
	KindDevice   = "device"
)

// SetupInfo is the answer to SetupInfo: the setup code and the payload
// (the QR code's text).
type SetupInfo struct {
	Code    string `json:"code"`
	Payload string `json:"payload"`
}

// EventInfo is one event of the audit trail.
type EventInfo struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Details string    `json:"details"`
}
