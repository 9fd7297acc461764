package pake

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
)

// Sizes of the values that cross the wire or the API, in bytes. Every
// message has a fixed size; anything else is rejected before parsing.
const (
	ShareSize   = 65 // pA and pB: SEC1 uncompressed P-256 points
	ConfirmSize = 32 // cA and cB: HMAC-SHA256 tags
	KeySize     = 16 // Ke, the shared secret (half of a SHA-256 digest)
	IDSize      = 32 // ListenerID and MonitorID: certificate fingerprints
	BindingSize = 32 // Binding: the TLS exporter value
	CodeLength  = 8  // digits in a setup code

	scalarSize = 32
)

// Suite names the RFC 9382 ciphersuite this package implements.
const Suite = "SPAKE2-P256-SHA256-HKDF-HMAC"

// ExporterLabel is the TLS exporter label both ends use to compute
// Params.Binding on their QUIC connection:
//
//	cs := conn.ConnectionState().TLS
//	binding, err := cs.ExportKeyingMaterial(pake.ExporterLabel, nil, pake.BindingSize)
const ExporterLabel = "EXPORTER-cradle-pairing-v1"

// Errors. A failed session is finished: every later call returns ErrState.
var (
	// ErrConfirmation: the peer's key confirmation did not match. The
	// setup code was wrong, or the messages were relayed from another
	// connection or altered; by design the two cannot be told apart.
	ErrConfirmation = errors.New("pake: pairing failed: the setup code does not match, or the connection was tampered with; check the code and try again")
	// ErrBadMessage: a message had the wrong size or was not a valid point.
	ErrBadMessage = errors.New("pake: malformed pairing message")
	// ErrState: a method was called twice, out of order, or after the
	// session ended. Sessions are single-use.
	ErrState = errors.New("pake: pairing step out of order or repeated; start a new session")
	// ErrParams: Params are unusable (code, identities or binding).
	ErrParams = errors.New("pake: invalid pairing parameters")
)

// errIdentity reports a share or K that is the identity element, which
// happens only with negligible probability or for a peer that knows w.
var errIdentity = errors.New("pake: point is the identity element")

// Params are the inputs both ends must agree on.
type Params struct {
	// Code is the setup code: exactly 8 ASCII digits, separators removed
	// ("12345678", not "1234-5678").
	Code string
	// ListenerID and MonitorID are the SHA-256 fingerprints of the two
	// devices' certificates, as seen on this connection. They are SPAKE2's
	// identities A (listener) and B (monitor).
	ListenerID, MonitorID [IDSize]byte
	// Binding is BindingSize bytes of TLS exporter output for the connection
	// the pairing runs on (see ExporterLabel). It is SPAKE2's AAD.
	Binding []byte
}

func (p *Params) validate() error {
	if len(p.Code) != CodeLength {
		return fmt.Errorf("%w: the setup code must have %d digits", ErrParams, CodeLength)
	}
	for i := range len(p.Code) {
		if c := p.Code[i]; c < '0' || c > '9' {
			return fmt.Errorf("%w: the setup code must hold only digits", ErrParams)
		}
	}
	if p.ListenerID == [IDSize]byte{} || p.MonitorID == [IDSize]byte{} {
		return fmt.Errorf("%w: a device fingerprint is missing", ErrParams)
	}
	if p.ListenerID == p.MonitorID {
		return fmt.Errorf("%w: listener and monitor have the same fingerprint", ErrParams)
	}
	if len(p.Binding) != BindingSize {
		return fmt.Errorf("%w: binding is %d bytes, want %d", ErrParams, len(p.Binding), BindingSize)
	}
	return nil
}

// state is where a session stands.
type state uint8

const (
	stateNew        state = iota
	stateShared           // listener: pA sent; monitor: pB sent
	stateConfirming       // listener: cA sent, waiting for cB
	stateDone             // key confirmed and returned
	stateFailed           // an error ended the session
)

func (s state) String() string {
	switch s {
	case stateNew:
		return "new"
	case stateShared:
		return "shared"
	case stateConfirming:
		return "confirming"
	case stateDone:
		return "done"
	case stateFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// exchange is what both roles hold: one run of SPAKE2.
type exchange struct {
	state         state
	idA, idB, aad []byte
	w             group.Scalar
	wBytes        [scalarSize]byte
	eph           group.Scalar // x for the listener, y for the monitor
	pA, pB        []byte
	tt            []byte
	k             keys
	bad           bool // K was the identity: confirmation must fail
}

func newExchange(idA, idB, aad []byte, w, eph [scalarSize]byte) (*exchange, error) {
	ws, err := scalarFrom(w)
	if err != nil {
		return nil, err
	}
	es, err := scalarFrom(eph)
	if err != nil {
		return nil, err
	}
	if ws.IsZero() || es.IsZero() {
		return nil, fmt.Errorf("%w: zero scalar", ErrParams)
	}
	return &exchange{idA: idA, idB: idB, aad: aad, w: ws, wBytes: w, eph: es}, nil
}

// enter checks that the session is in state want. A call in any other
// state ends the session (unless it is already done): a peer that sends
// messages out of order gets no second chance on the same session.
func (s *exchange) enter(method string, want state) error {
	if s.state == want {
		return nil
	}
	err := fmt.Errorf("%w: %s called in state %v", ErrState, method, s.state)
	if s.state != stateDone {
		s.fail(err)
	}
	return err
}

// fail ends the session: it drops the secrets and returns err.
func (s *exchange) fail(err error) error {
	s.wipe()
	s.state = stateFailed
	return err
}

// derive computes K, TT and the keys once both shares are known.
func (s *exchange) derive(peer, negBlind group.Element) error {
	k := sharedPoint(s.eph, s.w, peer, negBlind)
	kb, err := encodePoint(k)
	if errors.Is(err, errIdentity) {
		s.bad = true // the peer knew w and chose its share to make K = I
		kb = make([]byte, ShareSize)
	} else if err != nil {
		return err
	}
	s.tt = transcript(s.idA, s.idB, s.pA, s.pB, kb, s.wBytes[:])
	s.k, err = schedule(s.tt, s.aad)
	return err
}

// finish returns a copy of Ke and drops the session's secrets.
func (s *exchange) finish() []byte {
	ke := append([]byte(nil), s.k.ke...)
	s.wipe()
	s.state = stateDone
	return ke
}

func (s *exchange) wipe() {
	clear(s.wBytes[:])
	clear(s.tt)
	clear(s.k.ke)
	clear(s.k.ka)
	clear(s.k.kcA)
	clear(s.k.kcB)
	s.w.SetUint64(0)
	s.eph.SetUint64(0)
	s.tt, s.k = nil, keys{}
}

// Initiator is SPAKE2's party A, the listener (the parent's computer or
// phone): it sends the first share. It is not safe for concurrent use;
// use one per pairing attempt.
type Initiator struct{ s *exchange }

// NewInitiator derives w from p (this runs the memory-hard function, a few
// milliseconds) and draws the ephemeral scalar x from rand
// (crypto/rand.Reader when rand is nil).
func NewInitiator(p Params, rand io.Reader) (*Initiator, error) {
	s, err := newParty(p, rand)
	if err != nil {
		return nil, err
	}
	return &Initiator{s}, nil
}

// Start returns pA, the first message, to send to the monitor.
func (l *Initiator) Start() (pA []byte, err error) {
	s := l.s
	if err := s.enter("Start", stateNew); err != nil {
		return nil, err
	}
	if s.pA, err = encodePoint(share(s.eph, s.w, pointM)); err != nil {
		return nil, s.fail(err)
	}
	s.state = stateShared
	return append([]byte(nil), s.pA...), nil
}

// Finish takes the monitor's pB and returns cA, the listener's key
// confirmation, to send to the monitor.
func (l *Initiator) Finish(pB []byte) (cA []byte, err error) {
	s := l.s
	if err := s.enter("Finish", stateShared); err != nil {
		return nil, err
	}
	peer, err := decodeShare("pB", pB)
	if err != nil {
		return nil, s.fail(err)
	}
	s.pB = append([]byte(nil), pB...)
	if err := s.derive(peer, negN); err != nil {
		return nil, s.fail(err)
	}
	if s.bad {
		return nil, s.fail(ErrConfirmation)
	}
	s.state = stateConfirming
	return mac(s.k.kcA, s.tt), nil
}

// Verify checks the monitor's cB and returns the shared secret Ke
// (KeySize bytes). Pairing succeeded only if err is nil.
func (l *Initiator) Verify(cB []byte) (key []byte, err error) {
	s := l.s
	if err := s.enter("Verify", stateConfirming); err != nil {
		return nil, err
	}
	if len(cB) != ConfirmSize {
		return nil, s.fail(fmt.Errorf("%w: cB is %d bytes, want %d", ErrBadMessage, len(cB), ConfirmSize))
	}
	if !hmac.Equal(cB, mac(s.k.kcB, s.tt)) {
		return nil, s.fail(ErrConfirmation)
	}
	return s.finish(), nil
}

// Responder is SPAKE2's party B, the monitor (the baby unit): it answers
// the listener's share. It is not safe for concurrent use; use one per
// pairing attempt.
type Responder struct{ s *exchange }

// CheckShare reports whether pA is a share the monitor would accept
// (exactly ShareSize bytes, a SEC1 uncompressed point on P-256, not the
// identity), without deriving anything: the monitor checks it before it
// spends a key derivation on a session, so a malformed share costs it
// almost nothing and is never taken for a guess at the code.
func CheckShare(pA []byte) error {
	_, err := decodeShare("pA", pA)
	return err
}

// NewResponder derives w from p (this runs the memory-hard function, a few
// milliseconds) and draws the ephemeral scalar y from rand
// (crypto/rand.Reader when rand is nil).
func NewResponder(p Params, rand io.Reader) (*Responder, error) {
	s, err := newParty(p, rand)
	if err != nil {
		return nil, err
	}
	return &Responder{s}, nil
}

// Respond takes the listener's pA and returns pB to send back.
func (m *Responder) Respond(pA []byte) (pB []byte, err error) {
	s := m.s
	if err := s.enter("Respond", stateNew); err != nil {
		return nil, err
	}
	peer, err := decodeShare("pA", pA)
	if err != nil {
		return nil, s.fail(err)
	}
	s.pA = append([]byte(nil), pA...)
	if s.pB, err = encodePoint(share(s.eph, s.w, pointN)); err != nil {
		return nil, s.fail(err)
	}
	// If K is the identity, answer anyway and fail at Confirm, like any
	// other wrong guess.
	if err := s.derive(peer, negM); err != nil {
		return nil, s.fail(err)
	}
	s.state = stateShared
	return append([]byte(nil), s.pB...), nil
}

// Confirm checks the listener's cA and, only if it is right, returns cB to
// send back and the shared secret Ke (KeySize bytes). On ErrConfirmation
// the monitor must send nothing that depends on the keys.
func (m *Responder) Confirm(cA []byte) (cB, key []byte, err error) {
	s := m.s
	if err := s.enter("Confirm", stateShared); err != nil {
		return nil, nil, err
	}
	if len(cA) != ConfirmSize {
		return nil, nil, s.fail(fmt.Errorf("%w: cA is %d bytes, want %d", ErrBadMessage, len(cA), ConfirmSize))
	}
	if ok := hmac.Equal(cA, mac(s.k.kcA, s.tt)); !ok || s.bad {
		return nil, nil, s.fail(ErrConfirmation)
	}
	cB = mac(s.k.kcB, s.tt)
	return cB, s.finish(), nil
}

// newParty validates p, derives w and draws the ephemeral scalar.
func newParty(p Params, rnd io.Reader) (*exchange, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	idA := append([]byte(nil), p.ListenerID[:]...)
	idB := append([]byte(nil), p.MonitorID[:]...)
	w, err := deriveW(p.Code, idA, idB)
	if err != nil {
		return nil, err
	}
	if w == [scalarSize]byte{} { // probability 2^-256
		return nil, fmt.Errorf("%w: the setup code gives w = 0; choose another code", ErrParams)
	}
	eph, err := randomScalar(rnd)
	if err != nil {
		return nil, err
	}
	return newExchange(idA, idB, append([]byte(nil), p.Binding...), w, eph)
}

// randomScalar draws a uniform non-zero scalar: 40 random bytes reduced mod n.
func randomScalar(rnd io.Reader) ([scalarSize]byte, error) {
	var buf [wideSize]byte
	defer clear(buf[:])
	for range 8 {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return [scalarSize]byte{}, fmt.Errorf("pake: reading random bytes: %w", err)
		}
		if s := reduce(buf[:]); s != [scalarSize]byte{} {
			return s, nil
		}
	}
	return [scalarSize]byte{}, errors.New("pake: the random source keeps returning zero")
}
