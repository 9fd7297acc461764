package identity

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
)

var (
	// ErrFingerprintMismatch: the peer's key is not the pinned one. Match it
	// with errors.Is; the error is a *MismatchError.
	ErrFingerprintMismatch = errors.New("identity: peer fingerprint mismatch")
	// ErrNoPeerCertificate: the peer presented no certificate.
	ErrNoPeerCertificate = errors.New("identity: peer presented no certificate")
)

// MismatchError reports a peer whose key differs from the pinned one.
type MismatchError struct {
	Want, Got Fingerprint
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("identity: the device answered as %s but %s was expected; "+
		"if that device was reset or replaced, pair it again", e.Got.DeviceID(), e.Want.DeviceID())
}

// Is makes errors.Is(err, ErrFingerprintMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrFingerprintMismatch }

// PeerFingerprint returns the fingerprint of the peer's leaf certificate.
func PeerFingerprint(cs tls.ConnectionState) (Fingerprint, error) {
	if len(cs.PeerCertificates) == 0 {
		return Fingerprint{}, ErrNoPeerCertificate
	}
	return FingerprintOf(cs.PeerCertificates[0]), nil
}

// ServerTLS returns a TLS 1.3 server config that presents id's certificate
// and requires a client certificate. No chain or date is checked: the
// handshake proves the client holds the key, and verify (if not nil) is
// called with that key's fingerprint to accept or refuse it. A nil verify
// accepts any client; the trust gate then decides after the handshake using
// PeerFingerprint.
//
// The check runs in VerifyConnection, which (unlike VerifyPeerCertificate)
// also runs on resumed sessions; session tickets are disabled anyway.
func (id *Identity) ServerTLS(verify func(Fingerprint) error, nextProto string) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{id.Cert},
		ClientAuth:             tls.RequireAnyClientCert,
		NextProtos:             protos(nextProto),
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			fp, err := PeerFingerprint(cs)
			if err != nil || verify == nil {
				return err
			}
			return verify(fp)
		},
	}
}

// ClientTLS returns a TLS 1.3 client config that presents id's certificate
// and accepts only a server whose key has fingerprint pin; a mismatch fails
// the handshake with a *MismatchError. A zero pin accepts any server (used
// by pairing with a code alone, where the PAKE authenticates the peer
// afterwards): the caller must then read PeerFingerprint itself.
func (id *Identity) ClientTLS(pin Fingerprint, nextProto string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.Cert},
		NextProtos:         protos(nextProto),
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := PeerFingerprint(cs)
			if err != nil || pin.IsZero() {
				return err
			}
			if subtle.ConstantTimeCompare(got[:], pin[:]) != 1 {
				return &MismatchError{Want: pin, Got: got}
			}
			return nil
		},
	}
}

func protos(p string) []string {
	if p == "" {
		return nil
	}
	return []string{p}
}
