package transport

import (
	"errors"
	"fmt"

	"github.com/cradle-monitor/cradle/appliance/control"
)

// verdict is what the reader does with one received frame.
type verdict int

const (
	deliver verdict = iota // hand msg to Recv
	reply                  // send msg back (a pong, an unknown_message error)
	hello                  // server: msg is the client's Hello
	pong                   // msg is a Pong for the heartbeat
	bye                    // the peer is closing: close too, with its code
	violate                // close with code; detail and ref describe why
)

type action struct {
	verdict verdict
	msg     control.Message
	code    control.Code
	ref     control.Type
	detail  string
}

func violation(code control.Code, ref control.Type, format string, args ...any) action {
	return action{verdict: violate, code: code, ref: ref, detail: fmt.Sprintf(format, args...)}
}

// inbound is the pure core of a connection's reader: it decides what each
// received frame means, given the side, what came before and whether the
// peer is trusted. After a violate verdict it must not be used again.
type inbound struct {
	server     bool
	maxUnknown int
	helloDone  bool              // server: the Hello arrived (always true on a client)
	ackSeen    bool              // client: the HelloAck arrived
	unknown    int               // messages of unknown type so far
	lastError  *control.ErrorMsg // the last message delivered, if it was an error
}

func newInbound(server bool, maxUnknown int) *inbound {
	return &inbound{server: server, maxUnknown: maxUnknown, helloDone: !server}
}

// maxFrame is the largest frame payload to read next: UntrustedMaxFrame on
// a server until the Hello arrived and while the peer is not trusted,
// control.MaxFrame otherwise.
func (in *inbound) maxFrame(trusted bool) int {
	if in.server && (!in.helloDone || !trusted) {
		return UntrustedMaxFrame
	}
	return control.MaxFrame
}

// frame judges one frame payload. trusted is the server's current view of
// the peer (ignored on a client).
func (in *inbound) frame(b []byte, trusted bool) action {
	m, err := control.Decode(b)
	if err != nil {
		var ue *control.UnknownMessageError
		switch {
		case !errors.As(err, &ue):
			return violation(control.CodeOf(err), "", "%v", err)
		case !in.helloDone:
			return violation(control.CodeProtocol, ue.Type, "first message is of unknown type %q, want hello", ue.Type)
		}
		if in.unknown++; in.unknown >= in.maxUnknown {
			return violation(control.CodeUnknownMessage, ue.Type, "%d messages of unknown type, the last %q", in.unknown, ue.Type)
		}
		return action{verdict: reply, msg: control.ErrorMsg{
			Code: control.CodeUnknownMessage.String(), Message: "unknown message type", Ref: ue.Type}}
	}
	t := m.MessageType()
	if !in.helloDone {
		h, ok := m.(control.Hello)
		switch {
		case !ok:
			return violation(control.CodeProtocol, t, "first message is %s, want hello", t)
		case h.Protocol != control.ProtocolVersion:
			return violation(control.CodeProtocol, t, "protocol version %d, this monitor speaks %d", h.Protocol, control.ProtocolVersion)
		}
		in.helloDone = true
		return action{verdict: hello, msg: h}
	}
	switch m := m.(type) {
	case control.Ping:
		return action{verdict: reply, msg: answer(m)}
	case control.Pong:
		return action{verdict: pong, msg: m}
	case control.Bye:
		return action{verdict: bye, msg: m}
	case control.Hello:
		return violation(control.CodeProtocol, t, "unexpected hello")
	case control.HelloAck:
		if in.server || in.ackSeen {
			return violation(control.CodeProtocol, t, "unexpected hello_ack")
		}
		in.ackSeen = true
	}
	if in.server && !trusted && !control.AllowedUntrusted(t) {
		return violation(control.CodeUntrusted, t, "%s from an unpaired listener", t)
	}
	in.lastError = nil
	if e, ok := m.(control.ErrorMsg); ok {
		in.lastError = &e
	}
	return action{verdict: deliver, msg: m}
}

// endOfStream judges the end of the peer's stream. Right after an error
// message it is how a peer closes because of that error (it then waits
// for the QUIC close): a bye verdict with the error's code. Anywhere else
// it breaks the protocol.
func (in *inbound) endOfStream() action {
	if e := in.lastError; e != nil {
		return action{verdict: bye, msg: control.Bye{Code: e.Code, Reason: e.Message}}
	}
	return violation(control.CodeProtocol, "", "peer closed the control stream")
}
