package conformance

import (
	"crypto"
	"crypto/hkdf"
	"errors"
	"fmt"
)

// ErrExporter: ExporterFromSecret was given an unusable hash or length.
var ErrExporter = errors.New("conformance: bad exporter parameters")

// ExporterFromSecret computes the TLS 1.3 exporter (RFC 8446 section 7.5)
// from the exporter_master_secret, as a QUIC stack without an exporter API
// (quiche) must: the secret is the EXPORTER_SECRET line of the NSS key log,
// captured in memory. h is the hash of the negotiated cipher suite
// (crypto.SHA256 for TLS_AES_128_GCM_SHA256 and
// TLS_CHACHA20_POLY1305_SHA256, crypto.SHA384 for TLS_AES_256_GCM_SHA384).
//
//	TLS-Exporter(label, context, length) =
//	    HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter", Hash(context), length)
//
// Cradle's pairing binding is ExporterFromSecret(h, secret,
// transport.ExporterLabel, nil, 32). docs/conformance/exporter.json holds
// vectors made by OpenSSL.
func ExporterFromSecret(h crypto.Hash, secret []byte, label string, context []byte, length int) ([]byte, error) {
	if h != crypto.SHA256 && h != crypto.SHA384 || !h.Available() {
		return nil, fmt.Errorf("%w: hash %v (TLS 1.3 uses SHA-256 or SHA-384)", ErrExporter, h)
	}
	if length < 0 || length > 255*h.Size() || len(secret) != h.Size() {
		return nil, fmt.Errorf("%w: length %d, secret of %d bytes", ErrExporter, length, len(secret))
	}
	empty := h.New().Sum(nil)
	derived, err := expandLabel(h, secret, label, empty, h.Size())
	if err != nil {
		return nil, err
	}
	hc := h.New()
	hc.Write(context)
	return expandLabel(h, derived, "exporter", hc.Sum(nil), length)
}

// expandLabel is HKDF-Expand-Label of RFC 8446 section 7.1.
func expandLabel(h crypto.Hash, secret []byte, label string, context []byte, length int) ([]byte, error) {
	full := "tls13 " + label
	if len(full) > 255 || len(context) > 255 {
		return nil, fmt.Errorf("%w: label or context too long", ErrExporter)
	}
	info := []byte{byte(length >> 8), byte(length), byte(len(full))}
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	return hkdf.Expand(h.New, secret, string(info), length)
}
