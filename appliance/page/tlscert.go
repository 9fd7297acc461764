package page

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cradle-monitor/cradle/appliance/identity"
)

// certLifetime stays under Apple's 825-day limit for server certificates.
const certLifetime = 800 * 24 * time.Hour

// serverCert returns the page's HTTPS certificate: self-signed with the
// listener identity's own key, naming every address and name the page is
// reached by (browsers want them in subjectAltName, which the identity's
// certificate does not carry). It is kept in dir and reused while it
// covers those names, so a phone that accepted it once is not asked again.
func serverCert(id *identity.Identity, dir string, ips []net.IP, names []string, now time.Time) (tls.Certificate, error) {
	key, ok := id.Cert.PrivateKey.(crypto.Signer)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("dashboard: the identity key cannot sign")
	}
	path := filepath.Join(dir, "https.crt")
	if b, err := os.ReadFile(path); err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil && covers(c, key, ips, names, now) {
				return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
			}
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Cradle " + id.Name},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           ips,
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("dashboard: issue the HTTPS certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("dashboard: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("dashboard: keep the HTTPS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, nil
}

// covers: c is ours (same key), valid for a month more, and names every
// address and name.
func covers(c *x509.Certificate, key crypto.Signer, ips []net.IP, names []string, now time.Time) bool {
	pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) || now.Before(c.NotBefore) || now.Add(30*24*time.Hour).After(c.NotAfter) {
		return false
	}
	for _, ip := range ips {
		if c.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// tlsConfig is the HTTPS server's configuration.
type tlsConfig = tls.Config

func newTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}

// liveCert is the certificate of a server bound to every interface: an
// address the machine gains after the start (a Pi whose DHCP lease came
// after cradled started, a new network) is added to it the first time a
// browser connects to that address, so the parent's phone, which only
// knows the address, is shown the certificate for it.
type liveCert struct {
	id    *identity.Identity
	dir   string
	names []string
	now   func() time.Time
	addrs func() ([]net.Addr, error) // the machine's addresses (tests: a fake)

	mu   sync.Mutex
	ips  []net.IP
	cert tls.Certificate
}

// tlsConfig serves lc's certificate.
func (lc *liveCert) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: lc.get}
}

func (lc *liveCert) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if hello.Conn != nil {
		if a, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok && !a.IP.IsUnspecified() && !slices.ContainsFunc(lc.ips, a.IP.Equal) {
			// The machine's addresses now, not every one it ever had (IPv6
			// temporary addresses change daily): the certificate, and its
			// reissues, stay bounded by what the machine holds.
			ips := []net.IP{a.IP}
			read := lc.addrs
			if read == nil {
				read = net.InterfaceAddrs
			}
			if addrs, err := read(); err == nil {
				for _, x := range addrs {
					if n, ok := x.(*net.IPNet); ok && !slices.ContainsFunc(ips, n.IP.Equal) {
						ips = append(ips, n.IP)
					}
				}
			}
			if c, err := serverCert(lc.id, lc.dir, ips, lc.names, lc.now()); err == nil {
				lc.ips, lc.cert = ips, c
			}
		}
	}
	c := lc.cert
	return &c, nil
}

// localAddrs answers whether an address is one of the machine's now
// (read again at most every 2 s).
type localAddrs struct {
	mu   sync.Mutex
	at   time.Time
	set  map[string]bool
	read func() ([]net.Addr, error)
}

func (l *localAddrs) has(host string) bool {
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if ip == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set == nil || time.Since(l.at) > 2*time.Second {
		l.at, l.set = time.Now(), map[string]bool{}
		read := l.read
		if read == nil {
			read = net.InterfaceAddrs
		}
		addrs, _ := read()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				l.set[n.IP.String()] = true
			}
		}
	}
	return l.set[ip.String()]
}
