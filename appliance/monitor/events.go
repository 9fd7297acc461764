package monitor

import (
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/hw"
	"github.com/cradle-monitor/cradle/store"
)

// The core's vocabulary: the events Core.Step takes and the effects it
// returns. Effects are values; the applier (applier.go) carries them out
// in the order given.

// Event is an input of Core.Step; the concrete types follow.
type Event interface{ coreEvent() }

// ConnAccepted: the transport handed over a connection (after hello),
// or the monitor's page opened an in-process one (local.go: Trusted,
// Peer zero, Remote "page" or "page:<device id>", Device the web device
// it speaks for, "" for the page host itself).
type ConnAccepted struct {
	At      time.Time
	Conn    uint64
	Peer    identity.Fingerprint
	Remote  string
	Trusted bool   // on the allowlist at the handshake (an in-process one: always)
	Device  string // the trusted web device an in-process connection speaks for
}

// ConnClosed: a connection ended; Reason names why, for the event log
// ("closed" for a plain close, else its close code or error).
type ConnClosed struct {
	At     time.Time
	Conn   uint64
	Reason string
}

// PairStart: pair_start from a connection. On no error the owner runs
// the PAKE; if that fails it steps PairAborted.
type PairStart struct {
	At   time.Time
	Conn uint64
	Name string
}

// PairAborted: the PAKE of Conn could not go on (its share was refused
// by the PAKE after the session began). Not a guess: not counted.
type PairAborted struct {
	At   time.Time
	Conn uint64
}

// PairConfirmed: pair_confirm from Conn. OK is the PAKE's verdict on the
// key confirmation; without a session the core answers a protocol error.
// Done is the answer the core sends once the listener is durably trusted.
type PairConfirmed struct {
	At   time.Time
	Conn uint64
	OK   bool
	Done control.PairDone
}

// WebPairStart: the monitor's page asks to pair a device from Source (an
// address, without a port) under Name. Attempt is the shell's number for
// this attempt (not a connection). On no error the shell compares the
// typed code and steps WebPairChecked.
type WebPairStart struct {
	At      time.Time
	Attempt uint64
	Source  string
	Name    string
}

// WebPairChecked: the shell's constant-time comparison of the typed code
// for Attempt. When OK, Device is what the core records (the shell drew
// its id and credential; it holds only the credential's hash).
type WebPairChecked struct {
	At      time.Time
	Attempt uint64
	OK      bool
	Device  store.DeviceTrusted
}

// StoreAppended: an event read back from the store's subscription.
type StoreAppended struct {
	At      time.Time
	Payload store.Payload
}

// Tick: time passed; the window's timeouts due at At take effect.
type Tick struct{ At time.Time }

// OpenPairing: open (or extend) the window for D (0: the default).
type OpenPairing struct {
	At time.Time
	D  time.Duration
}

// ClosePairing: close the window by hand.
type ClosePairing struct{ At time.Time }

// PairOpen: a connection asked to open (or extend) the window for D (0:
// the default): pair_open. Only a trusted one may; it is answered with
// pairing_state.
type PairOpen struct {
	At   time.Time
	Conn uint64
	D    time.Duration
}

// PairClose: a connection asked to close the window: pair_close. Only a
// trusted one may; it is answered with pairing_state.
type PairClose struct {
	At   time.Time
	Conn uint64
}

// Button: the front panel's button.
type Button struct {
	At    time.Time
	Event hw.ButtonEvent
}

// Media: whether the microphone is missing (a monitor meant to hear the
// baby with only a test tone).
type Media struct {
	NoMic bool
}

// Health: the store answers, and the network has an address.
type Health struct {
	StoreOK bool
	Network bool
}

func (WebPairStart) coreEvent()   {}
func (WebPairChecked) coreEvent() {}
func (ConnAccepted) coreEvent()   {}
func (ConnClosed) coreEvent()     {}
func (PairStart) coreEvent()      {}
func (PairAborted) coreEvent()    {}
func (PairOpen) coreEvent()       {}
func (PairClose) coreEvent()      {}
func (PairConfirmed) coreEvent()  {}
func (StoreAppended) coreEvent()  {}
func (Tick) coreEvent()           {}
func (OpenPairing) coreEvent()    {}
func (ClosePairing) coreEvent()   {}
func (Button) coreEvent()         {}
func (Media) coreEvent()          {}
func (Health) coreEvent()         {}

// Effect is an output of Core.Step; the concrete types follow.
type Effect interface{ coreEffect() }

// Send: send Msg on Conn.
type Send struct {
	Conn uint64
	Msg  control.Message
}

// Close: close Conn with Code.
type Close struct {
	Conn   uint64
	Code   control.Code
	Reason string
}

// Append: append Payload to the store. Must: on failure, stop carrying
// out this step's effects and answer the request with an internal error.
type Append struct {
	Payload store.Payload
	Must    bool
}

// Compact: compact the connection history, keeping Keep events.
type Compact struct{ Keep int }

// Trust: mark Conn trusted (the transport's message filter lets its
// requests in).
type Trust struct{ Conn uint64 }

// StartStatus: start Conn's status pump (once per connection).
type StartStatus struct{ Conn uint64 }

// EndPairing: drop Conn's PAKE session.
type EndPairing struct{ Conn uint64 }

// Advertise: set the mDNS "pairing open" flag.
type Advertise struct{ PairingOpen bool }

// LED: show State on the front panel.
type LED struct{ State hw.State }

// Alert: something the parent must know, for the log (a wrong setup
// code was tried).
type Alert struct{ Msg string }

// RenewCode: a factory reset happened: make a new setup code (the old
// one, printed on the card, may have been seen by anyone).
type RenewCode struct{}

// WipeMonitor: the button was held to the wipe threshold: wipe the
// monitor (wipe.go).
type WipeMonitor struct{}

// EndDevice: web device ID (every one when All) is no longer trusted:
// end what it holds open (its watchers learn it).
type EndDevice struct {
	ID  string
	All bool
}

func (EndDevice) coreEffect()   {}
func (Send) coreEffect()        {}
func (Close) coreEffect()       {}
func (Append) coreEffect()      {}
func (Compact) coreEffect()     {}
func (Trust) coreEffect()       {}
func (StartStatus) coreEffect() {}
func (EndPairing) coreEffect()  {}
func (Advertise) coreEffect()   {}
func (LED) coreEffect()         {}
func (Alert) coreEffect()       {}
func (RenewCode) coreEffect()   {}
func (WipeMonitor) coreEffect() {}

// StreamStart: stream_start from Conn. Kind and Session are checked
// (bad_request); past the requests' limit, busy.
type StreamStart struct {
	At      time.Time
	Conn    uint64
	Session string
	Kind    string
	// By and Peer name Conn's listener for a talk (kind talk), as for
	// SoundStart.
	By   string
	Peer string
}

// StreamOffer: webrtc_offer from Conn. Accepted, the core answers with
// Pumps (when the shared tracks must start) and Answer; refused, it
// returns bad_request (no stream_start) or busy (a limit).
type StreamOffer struct {
	Conn    uint64
	Session string
	SDP     string
}

// StreamCandidate: webrtc_ice from Conn, for one of its sessions.
type StreamCandidate struct {
	Conn uint64
	ICE  control.WebRTCICE
}

// AnswerFailed: the owner could not answer Conn's offer for Session (bad
// SDP, the engine's own limits, the capture): the session does not run.
type AnswerFailed struct {
	At      time.Time
	Conn    uint64
	Session string
}

// StreamStop: stream_stop from Conn; an unknown session is a
// bad_request.
type StreamStop struct {
	At      time.Time
	Conn    uint64
	Session string
}

// StreamEnded: the session's peer connection closed or failed on its own
// (pion's state): the listener is told with stream_stop.
type StreamEnded struct {
	At      time.Time
	Conn    uint64
	Session string
	Reason  string
}

// InfoRequest: info_request from Conn: it is sent the control card.
type InfoRequest struct{ Conn uint64 }

// HistoryRequest: history_request from Conn. The core only checks trust:
// the connection's goroutine reads and sends the page.
type HistoryRequest struct{ Conn uint64 }

func (HistoryRequest) coreEvent() {}

func (StreamStart) coreEvent()     {}
func (StreamOffer) coreEvent()     {}
func (StreamCandidate) coreEvent() {}
func (AnswerFailed) coreEvent()    {}
func (StreamStop) coreEvent()      {}
func (StreamEnded) coreEvent()     {}
func (InfoRequest) coreEvent()     {}

// Answer: answer Conn's offer for Session, sending the shared tracks of
// Kind; on failure step AnswerFailed and answer the request with the
// error. It comes after the Pumps it needs.
type Answer struct {
	Conn    uint64
	Session string
	Kind    string
	SDP     string
}

// AddCandidate: give Conn's session a remote ICE candidate; a failure
// answers the request.
type AddCandidate struct {
	Conn uint64
	ICE  control.WebRTCICE
}

// StopSession: close Conn's peer connection for Session.
type StopSession struct {
	Conn    uint64
	Session string
}

// Pumps: the shared tracks' pumps that must run.
type Pumps struct{ Audio, Video bool }

// KeyFrame: a session joined the running video: ask the camera's encoder
// for a key frame.
type KeyFrame struct{}

// SendInfo: send Conn the control card (control.Info), built from the
// live connections when it is carried out.
type SendInfo struct{ Conn uint64 }

func (Answer) coreEffect()       {}
func (AddCandidate) coreEffect() {}
func (StopSession) coreEffect()  {}
func (Pumps) coreEffect()        {}
func (KeyFrame) coreEffect()     {}
func (SendInfo) coreEffect()     {}
