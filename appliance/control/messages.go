package control

// ProtocolVersion is the control protocol version this package speaks.
const ProtocolVersion = 1

// DefaultPort is the control channel's UDP port: where a monitor serves
// and where a listener dials a monitor given without a port.
const DefaultPort = 48080

// Type is a message's wire name, the envelope's "type" field.
type Type string

// The version 1 message catalogue.
const (
	TypeHello        Type = "hello"
	TypeHelloAck     Type = "hello_ack"
	TypeError        Type = "error"
	TypePairStart    Type = "pair_start"
	TypePairReply    Type = "pair_reply"
	TypePairConfirm  Type = "pair_confirm"
	TypePairDone     Type = "pair_done"
	TypePing         Type = "ping"
	TypePong         Type = "pong"
	TypeStreamStart  Type = "stream_start"
	TypeStreamStop   Type = "stream_stop"
	TypeWebRTCOffer  Type = "webrtc_offer"
	TypeWebRTCAnswer Type = "webrtc_answer"
	TypeWebRTCICE    Type = "webrtc_ice"
	TypeStatus       Type = "status"
	TypeBye          Type = "bye"
	TypeInfoRequest  Type = "info_request"
	TypeInfo         Type = "info"
	TypePairOpen     Type = "pair_open"
	TypePairClose    Type = "pair_close"
	TypePairingState Type = "pairing_state"
	TypeDeviceAdded  Type = "device_added"

	TypeHistoryRequest Type = "history_request"
	TypeHistory        Type = "history"

	TypeSoundStart Type = "sound_start"
	TypeSoundStop  Type = "sound_stop"
	TypeSoundState Type = "sound_state"

	TypeTalkState Type = "talk_state"
)

// Message is one control message. Each concrete type below is a Message.
type Message interface {
	MessageType() Type
}

// Roles in Hello.
const (
	RoleMonitor  = "monitor"
	RoleListener = "listener"
)

// Hello is the first message on a connection, sent by the dialling side
// (the listener). Nothing but Hello is accepted before it.
type Hello struct {
	Protocol int    `json:"protocol"`
	Role     string `json:"role"`
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
}

// HelloAck answers Hello. Trusted says whether the listener is on the
// monitor's allowlist; an untrusted listener may only pair (and ping).
type HelloAck struct {
	Protocol    int    `json:"protocol"`
	Role        string `json:"role"`
	DeviceID    string `json:"device_id"`
	Name        string `json:"name"`
	Trusted     bool   `json:"trusted"`
	PairingOpen bool   `json:"pairing_open"`
	// AutoStream is the monitor's auto-stream setting: "off", "audio" or
	// "audio+video". A trusted listener starts that stream on its own.
	AutoStream string `json:"auto_stream,omitempty"`
}

// ErrorMsg reports an error. Ref names the message type it answers, when
// there is one. An error does not by itself close the connection; a close
// carries its own code.
type ErrorMsg struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Ref     Type   `json:"ref,omitempty"`
	Session string `json:"session,omitempty"`
}

// PairStart opens a pairing session (listener → monitor) with the
// listener's SPAKE2 share pA.
type PairStart struct {
	Name string `json:"name"` // listener's display name, stored on success
	PA   []byte `json:"pa"`   // base64 in JSON
}

// PairReply carries the monitor's SPAKE2 share pB.
type PairReply struct {
	PB []byte `json:"pb"`
}

// PairConfirm carries the listener's key confirmation cA.
type PairConfirm struct {
	CA []byte `json:"ca"`
}

// PairDone carries the monitor's key confirmation cB, sent only after cA
// verified; the listener is trusted from this message on.
type PairDone struct {
	CB       []byte `json:"cb"`
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
}

// MaxJSONInt is the largest integer a JSON number carries exactly when
// the reader parses numbers as IEEE 754 doubles (JavaScript, Dart, some
// Swift paths): 2^53 - 1. Integer fields that a peer echoes stay at or
// below it.
const MaxJSONInt = 1<<53 - 1

// Ping asks for a Pong. Either side sends it on its heartbeat interval.
// Seq counts 1, 2, 3 ... per connection and direction. Sent is the
// sender's monotonic clock in microseconds (Cradle counts from the start
// of the heartbeat); the peer echoes it unchanged and never interprets
// it. Both stay within 0..MaxJSONInt.
type Ping struct {
	Seq  uint64 `json:"seq"`
	Sent int64  `json:"sent"`
}

// Pong answers a Ping with its Seq and, in Echo, its Sent, unchanged.
type Pong struct {
	Seq  uint64 `json:"seq"`
	Echo int64  `json:"echo"`
}

// Stream kinds.
const (
	StreamAudio      = "audio"
	StreamAudioVideo = "audio+video"
	// StreamTalk is push-to-talk: the listener sends its microphone
	// (one sendonly Opus m-line) and the monitor plays it on its
	// speaker. Each press is its own session; one talker at a time.
	StreamTalk = "talk"
)

// StreamStart asks the monitor to stream (listener → monitor); the
// listener follows with a WebRTCOffer for the same session.
type StreamStart struct {
	Session string `json:"session"`
	Kind    string `json:"kind"`
}

// StreamStop ends a session's stream; either side may send it.
type StreamStop struct {
	Session string `json:"session"`
	Reason  string `json:"reason,omitempty"`
}

// WebRTCOffer carries an SDP offer (listener → monitor).
type WebRTCOffer struct {
	Session string `json:"session"`
	SDP     string `json:"sdp"`
}

// WebRTCAnswer carries the SDP answer (monitor → listener).
type WebRTCAnswer struct {
	Session string `json:"session"`
	SDP     string `json:"sdp"`
}

// WebRTCICE trickles one ICE candidate, both ways. An empty Candidate
// means end of candidates.
type WebRTCICE struct {
	Session       string  `json:"session"`
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdp_mid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdp_mline_index,omitempty"`
}

// Status is the monitor's periodic report to trusted listeners, sent every
// level interval (200 ms) whether or not the microphone delivered.
type Status struct {
	RMSDBFS   float64 `json:"rms_dbfs"`
	PeakDBFS  float64 `json:"peak_dbfs"`
	Noise     bool    `json:"noise"`              // the VOX threshold is exceeded
	Listeners int     `json:"listeners"`          // trusted listeners connected
	Streaming int     `json:"streaming"`          // listeners with a stream open
	Presence  string  `json:"presence,omitempty"` // reserved: motion/presence detection
	// Faults lists what keeps the monitor from hearing the baby (the
	// Fault* values); empty when all is well. A listener ignores values
	// it does not know.
	Faults []string `json:"faults,omitempty"`
}

// Status.Faults values.
const (
	// FaultMicrophone: the monitor has no real microphone (it fell back
	// to the test tone), or its microphone has delivered nothing for
	// more than a second.
	FaultMicrophone = "microphone"
)

// Bye announces a clean close; Code says why (usually going_away).
type Bye struct {
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// InfoRequest asks the monitor for its control card (trusted listeners
// only): it answers with Info.
type InfoRequest struct{}

// Info is the monitor's control card: its port, its pairing window and
// its live connections. Durations are relative to the monitor's clock at
// the time of the answer (a monitor may not know the date), in whole
// milliseconds or microseconds, so every number fits a double.
type Info struct {
	Name        string           `json:"name"`
	Port        int              `json:"port"`
	PairingOpen bool             `json:"pairing_open"`
	Connections []InfoConnection `json:"connections"`
}

// InfoConnection is one live connection on the monitor.
type InfoConnection struct {
	DeviceID string `json:"device_id"`
	Name     string `json:"name"` // the listener's paired name, or its hello name (untrusted)
	Trusted  bool   `json:"trusted"`
	You      bool   `json:"you,omitempty"` // the connection that asked
	// ConnectedMillis is how long it has been connected.
	ConnectedMillis int64 `json:"connected_ms"`
	// HeartbeatMillis is the time since the monitor last heard from it
	// (its last heartbeat or any other frame).
	HeartbeatMillis int64 `json:"last_heartbeat_ms"`
	RTTMicros       int64 `json:"rtt_us"`
}

// PairOpen asks the monitor to open (or extend) its pairing window, so
// that a new phone can pair without the button (trusted listeners only).
// DurationMillis 0 asks for the monitor's default; at most 15 minutes.
// The monitor answers with PairingState.
type PairOpen struct {
	DurationMillis int64 `json:"duration_ms"`
}

// PairClose asks the monitor to close its pairing window (trusted
// listeners only); it answers with PairingState.
type PairClose struct{}

// PairingState is the monitor's pairing window as trusted listeners see
// it: the answer to PairOpen and PairClose, and a notice sent to every
// trusted listener when the window opens or closes, and when a wrong
// setup code is tried (someone on the network may be guessing it).
type PairingState struct {
	Open bool `json:"open"`
	// RemainingMillis is how long the window stays open (when Open).
	RemainingMillis int64 `json:"remaining_ms,omitempty"`
	// FailedAttempts counts the wrong setup codes tried in the current
	// window (or the last one, once closed).
	FailedAttempts int `json:"failed_attempts"`
	// Closed says why the last window closed (PairingClosed* values),
	// when it is closed and has been open since the monitor started.
	Closed string `json:"closed,omitempty"`
	// Ref names the request this answers (pair_open or pair_close);
	// empty on a notice.
	Ref Type `json:"ref,omitempty"`
}

// DeviceAdded is a notice the monitor sends every trusted listener when
// a phone was paired on its page (a web device): a parent who does not
// know the device revokes it (`cradled revoke ID`, or from a page).
type DeviceAdded struct {
	ID   string `json:"id"`   // the device's id, what revoke takes
	Name string `json:"name"` // the name given when it paired
	// PairedAtMillis is when it paired, in Unix milliseconds by the
	// monitor's clock (which may be wrong before NTP syncs).
	PairedAtMillis int64 `json:"paired_at_ms"`
}

// HistoryRequest asks for the monitor's sound history that overlaps
// [FromMillis, ToMillis), Unix milliseconds by the monitor's clock
// (trusted listeners only). The monitor answers with one History page;
// After, a previous page's Next, asks for the page after it.
//
// StepMillis, when longer than the monitor's own step, asks for coarser
// level records: each then covers StepMillis (rounded down to a multiple
// of the monitor's step, at most MaxHistoryStepMillis), aligned to it,
// with the lowest minimum, the power mean and the highest maximum of the
// records in it; a drawing of 30 days needs no more.
type HistoryRequest struct {
	FromMillis int64  `json:"from_ms"`
	ToMillis   int64  `json:"to_ms"`
	After      string `json:"after,omitempty"`
	StepMillis int64  `json:"step_ms,omitempty"`
}

// MaxHistoryStepMillis is the coarsest level record a history_request
// may ask for: 6 hours.
const MaxHistoryStepMillis = 6 * 3600 * 1000

// History is one page of the monitor's sound history, in the order the
// monitor keeps it (by start time). Levels are in tenths of a dB (dBFS).
type History struct {
	// NowMillis is the monitor's clock when it answered, in Unix ms.
	NowMillis int64 `json:"now_ms"`
	// StepMillis is the length of one level record: the monitor's step
	// (a minute), or the coarser one the request asked for.
	StepMillis int64 `json:"step_ms"`
	// Days is how many days the monitor keeps.
	Days int `json:"days"`
	// Minutes holds one level record each: [start_ms, min, mean, max],
	// levels in tenths of a dBFS.
	Minutes     [][4]int64          `json:"minutes"`
	Episodes    []HistoryEpisode    `json:"episodes"`
	Faults      []HistoryFault      `json:"faults"`
	Connections []HistoryConnection `json:"connections"`
	// Next continues the range (HistoryRequest.After); empty on the last
	// page.
	Next string `json:"next,omitempty"`
}

// HistoryEpisode is a noise episode: noise closer together than the
// monitor's gap is one episode. Ongoing: it goes on at now_ms.
type HistoryEpisode struct {
	StartMillis int64 `json:"start_ms"`
	EndMillis   int64 `json:"end_ms"`
	PeakDecidB  int64 `json:"peak_ddb"`
	Ongoing     bool  `json:"ongoing,omitempty"`
}

// HistoryFault is a time the monitor could not hear: Fault names what
// failed (FaultMicrophone).
type HistoryFault struct {
	Fault       string `json:"fault"`
	StartMillis int64  `json:"start_ms"`
	EndMillis   int64  `json:"end_ms"`
	Ongoing     bool   `json:"ongoing,omitempty"`
}

// HistoryConnection is a trusted listener's (Kind "listener") or phone's
// ("phone") connection.
type HistoryConnection struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	StartMillis int64  `json:"start_ms"`
	EndMillis   int64  `json:"end_ms"`
	Ongoing     bool   `json:"ongoing,omitempty"`
}

// MaxHistoryRangeMillis is the longest range one history_request may name; the
// monitor answers a longer one with bad_request.
const MaxHistoryRangeMillis = 92 * 24 * 3600 * 1000

// The soothing sounds the monitor's speaker plays (SoundStart.Sound).
const (
	SoundWhite     = "white"
	SoundPink      = "pink"
	SoundBrown     = "brown"
	SoundHeartbeat = "heartbeat"
	SoundLullaby   = "lullaby"
)

// Sounds lists the soothing sounds, in the order a front end shows them.
var Sounds = []string{SoundWhite, SoundPink, SoundBrown, SoundHeartbeat, SoundLullaby}

// SoundMinutes lists the timers a sound_start may ask for; 0 plays until
// stopped.
var SoundMinutes = []int{0, 15, 30, 60}

// SoundStart asks the monitor to play a soothing sound on its speaker
// (trusted listeners only): Sound is one of Sounds, Minutes one of
// SoundMinutes (0: until stopped). It replaces the sound playing, if
// any. The monitor answers with SoundState, or an error: unavailable
// when it has no speaker, busy when starts come too fast, bad_request
// for an unknown sound or timer.
type SoundStart struct {
	Sound   string `json:"sound"`
	Minutes int    `json:"minutes"`
}

// SoundStop asks the monitor to stop its soothing sound (trusted
// listeners only); it answers with SoundState (stopping nothing is not
// an error).
type SoundStop struct{}

// SoundState is the monitor's speaker as trusted listeners see it: the
// answer to SoundStart and SoundStop (Ref set), a notice sent to every
// trusted listener when it changes, and once after hello_ack.
type SoundState struct {
	Playing bool   `json:"playing"`
	Sound   string `json:"sound,omitempty"`
	// By is the name of the listener (or phone) that started it.
	By string `json:"by,omitempty"`
	// RemainingMillis is how long it still plays, fade included; 0
	// while Playing means until stopped.
	RemainingMillis int64 `json:"remaining_ms,omitempty"`
	// Fading: the sound is fading out (its last seconds).
	Fading bool `json:"fading,omitempty"`
	// Speaker: the monitor has a speaker. Without one, sound_start is
	// answered unavailable.
	Speaker bool `json:"speaker"`
	// Ref names the request this answers (sound_start or sound_stop);
	// empty on a notice.
	Ref Type `json:"ref,omitempty"`
}

// TalkState is push-to-talk as trusted listeners see it: a notice sent
// to every trusted listener when it changes, and once after hello_ack.
type TalkState struct {
	// Talking: a listener talks to the nursery now.
	Talking bool `json:"talking"`
	// By is the paired name of the listener (or phone) that talks.
	By string `json:"by,omitempty"`
	// You: the talk is this connection's.
	You bool `json:"you,omitempty"`
	// Speaker: the monitor has a speaker. Without one, a talk's
	// stream_start is answered unavailable.
	Speaker bool `json:"speaker"`
}

// PairingState.Closed values.
const (
	PairingClosedTimeout  = "timeout"           // its time ran out
	PairingClosedSuccess  = "success"           // a listener paired
	PairingClosedFailures = "too-many-failures" // too many wrong codes or attempts
	PairingClosedManual   = "manual"            // a parent closed it
	PairingClosedReset    = "reset"             // factory reset
)

func (Hello) MessageType() Type          { return TypeHello }
func (HelloAck) MessageType() Type       { return TypeHelloAck }
func (ErrorMsg) MessageType() Type       { return TypeError }
func (PairStart) MessageType() Type      { return TypePairStart }
func (PairReply) MessageType() Type      { return TypePairReply }
func (PairConfirm) MessageType() Type    { return TypePairConfirm }
func (PairDone) MessageType() Type       { return TypePairDone }
func (Ping) MessageType() Type           { return TypePing }
func (Pong) MessageType() Type           { return TypePong }
func (StreamStart) MessageType() Type    { return TypeStreamStart }
func (StreamStop) MessageType() Type     { return TypeStreamStop }
func (WebRTCOffer) MessageType() Type    { return TypeWebRTCOffer }
func (WebRTCAnswer) MessageType() Type   { return TypeWebRTCAnswer }
func (WebRTCICE) MessageType() Type      { return TypeWebRTCICE }
func (Status) MessageType() Type         { return TypeStatus }
func (Bye) MessageType() Type            { return TypeBye }
func (InfoRequest) MessageType() Type    { return TypeInfoRequest }
func (Info) MessageType() Type           { return TypeInfo }
func (PairOpen) MessageType() Type       { return TypePairOpen }
func (PairClose) MessageType() Type      { return TypePairClose }
func (PairingState) MessageType() Type   { return TypePairingState }
func (DeviceAdded) MessageType() Type    { return TypeDeviceAdded }
func (HistoryRequest) MessageType() Type { return TypeHistoryRequest }
func (History) MessageType() Type        { return TypeHistory }
func (SoundStart) MessageType() Type     { return TypeSoundStart }
func (SoundStop) MessageType() Type      { return TypeSoundStop }
func (SoundState) MessageType() Type     { return TypeSoundState }
func (TalkState) MessageType() Type      { return TypeTalkState }

// AllowedUntrusted reports whether a monitor accepts t from a listener
// that is not on its allowlist: hello, ping/pong, error, bye and the
// pairing messages. Anything else is answered with untrusted and the
// connection is closed.
func AllowedUntrusted(t Type) bool {
	switch t {
	case TypeHello, TypePing, TypePong, TypeError, TypeBye, TypePairStart, TypePairConfirm:
		return true
	}
	return false
}

// ToError turns an error message from the peer into a Go error.
func (m ErrorMsg) ToError() *Error {
	return &Error{Code: ParseCode(m.Code), Message: m.Message, Remote: true}
}

// ErrorMessage builds the error message for err, answering ref.
func ErrorMessage(err error, ref Type) ErrorMsg {
	c := CodeOf(err)
	msg := ""
	if e, ok := err.(*Error); ok {
		msg = e.Message
	}
	return ErrorMsg{Code: c.String(), Message: msg, Ref: ref}
}
