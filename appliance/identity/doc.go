// Package identity holds a device's long-lived key pair and self-signed
// certificate, and the fingerprint that peers pin instead of trusting a CA.
//
// The key is ECDSA P-256: Go's crypto/tls (and so quic-go) accepts it in
// TLS 1.3 for both server and client certificates, as does every other TLS
// stack a future phone app might use, and Go's implementation is constant
// time with arm64 assembly. Ed25519 keys found on disk are accepted too.
//
// A fingerprint is the SHA-256 of the certificate's SubjectPublicKeyInfo,
// so it names the key, not the certificate: LoadOrCreate may re-issue the
// certificate (a new name, a lost file) without changing it. Certificates
// are valid from 1970 to 9999 because the Pi may boot with a wrong clock;
// chains and dates are never checked, pins are.
//
// Caller duties:
//  1. Call LoadOrCreate once at start with the service's state directory.
//     An ErrBadKeyFile or ErrKeyMissing error must stop the service and be
//     shown to the user: regenerating the key would unpair every device.
//  2. Use ServerTLS / ClientTLS for every connection. With a nil verify
//     (server) or a zero pin (client), read PeerFingerprint after the
//     handshake and decide before trusting the peer.
//  3. Show people the human form (String) and match on DeviceID only as a
//     convenience; compare full fingerprints for trust.
package identity
