package control

import (
	"encoding/json"
	"fmt"
)

// envelope is the wire shape of every message.
type envelope struct {
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body,omitempty"`
}

var constructors = map[Type]func() Message{
	TypeHello:          func() Message { return new(Hello) },
	TypeHelloAck:       func() Message { return new(HelloAck) },
	TypeError:          func() Message { return new(ErrorMsg) },
	TypePairStart:      func() Message { return new(PairStart) },
	TypePairReply:      func() Message { return new(PairReply) },
	TypePairConfirm:    func() Message { return new(PairConfirm) },
	TypePairDone:       func() Message { return new(PairDone) },
	TypePing:           func() Message { return new(Ping) },
	TypePong:           func() Message { return new(Pong) },
	TypeStreamStart:    func() Message { return new(StreamStart) },
	TypeStreamStop:     func() Message { return new(StreamStop) },
	TypeWebRTCOffer:    func() Message { return new(WebRTCOffer) },
	TypeWebRTCAnswer:   func() Message { return new(WebRTCAnswer) },
	TypeWebRTCICE:      func() Message { return new(WebRTCICE) },
	TypeStatus:         func() Message { return new(Status) },
	TypeBye:            func() Message { return new(Bye) },
	TypeInfoRequest:    func() Message { return new(InfoRequest) },
	TypeInfo:           func() Message { return new(Info) },
	TypePairOpen:       func() Message { return new(PairOpen) },
	TypePairClose:      func() Message { return new(PairClose) },
	TypePairingState:   func() Message { return new(PairingState) },
	TypeDeviceAdded:    func() Message { return new(DeviceAdded) },
	TypeHistoryRequest: func() Message { return new(HistoryRequest) },
	TypeHistory:        func() Message { return new(History) },
	TypeSoundStart:     func() Message { return new(SoundStart) },
	TypeSoundStop:      func() Message { return new(SoundStop) },
	TypeSoundState:     func() Message { return new(SoundState) },
	TypeTalkState:      func() Message { return new(TalkState) },
}

// UnknownMessageError is returned by Decode for a well-formed envelope
// whose type this version does not know. It Is ErrUnknownMessage. A peer
// tolerates a few of these (a newer peer may send new types) before it
// closes the connection.
type UnknownMessageError struct{ Type Type }

func (e *UnknownMessageError) Error() string {
	return fmt.Sprintf("control: unknown message type %q", e.Type)
}

// Is makes errors.Is(err, ErrUnknownMessage) true.
func (e *UnknownMessageError) Is(target error) bool { return target == ErrUnknownMessage }

// Encode returns the JSON envelope of m. Messages are values; pointers to
// them are accepted too.
func Encode(m Message) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", m.MessageType(), err)
	}
	b, err := json.Marshal(envelope{Type: m.MessageType(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", m.MessageType(), err)
	}
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: %s message of %d bytes", ErrFrameTooLarge, m.MessageType(), len(b))
	}
	return b, nil
}

// Decode parses one message. It returns a value (not a pointer) of the
// concrete type, an *UnknownMessageError for an unknown type, or an error
// that Is ErrMalformedFrame.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedFrame, err)
	}
	if env.Type == "" {
		return nil, fmt.Errorf("%w: message has no type", ErrMalformedFrame)
	}
	mk, ok := constructors[env.Type]
	if !ok {
		return nil, &UnknownMessageError{Type: env.Type}
	}
	m := mk()
	if len(env.Body) > 0 && string(env.Body) != "null" {
		if err := json.Unmarshal(env.Body, m); err != nil {
			return nil, fmt.Errorf("%w: %s body: %v", ErrMalformedFrame, env.Type, err)
		}
	}
	return deref(m), nil
}

// deref turns the *T built by a constructor into the T callers switch on.
func deref(m Message) Message {
	switch v := m.(type) {
	case *Hello:
		return *v
	case *HelloAck:
		return *v
	case *ErrorMsg:
		return *v
	case *PairStart:
		return *v
	case *PairReply:
		return *v
	case *PairConfirm:
		return *v
	case *PairDone:
		return *v
	case *Ping:
		return *v
	case *Pong:
		return *v
	case *StreamStart:
		return *v
	case *StreamStop:
		return *v
	case *WebRTCOffer:
		return *v
	case *WebRTCAnswer:
		return *v
	case *WebRTCICE:
		return *v
	case *Status:
		return *v
	case *Bye:
		return *v
	case *InfoRequest:
		return *v
	case *Info:
		return *v
	case *PairOpen:
		return *v
	case *PairClose:
		return *v
	case *PairingState:
		return *v
	case *DeviceAdded:
		return *v
	case *HistoryRequest:
		return *v
	case *History:
		return *v
	case *SoundStart:
		return *v
	case *SoundStop:
		return *v
	case *SoundState:
		return *v
	case *TalkState:
		return *v
	}
	return m
}
