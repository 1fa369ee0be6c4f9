package hub

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"
)

// clientCertValidity is how long a client certificate the hub's CA signs
// at enrollment is valid. The hub does not rest on it: a certificate is an
// identity only while its fingerprint is the one in the agent's row, so a
// re-issue or a deleted agent ends it at once, whatever the clock says.
const clientCertValidity = 365 * 24 * time.Hour

// CA is the hub's certificate authority (tessera-hub serve --ca-cert
// --ca-key): it signs the client certificates of agents enrolled with a
// CSR, and the hub's TLS listener asks agents for certificates it issued.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte // the CA certificate, sent after an agent's own
}

// LoadCA reads a CA certificate and its private key (PEM files). The
// certificate must be a CA's that may sign certificates.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("hub CA: %w", err)
	}
	return newCA(pair)
}

// newCA checks a key pair for use as the hub's CA.
func newCA(pair tls.Certificate) (*CA, error) {
	if len(pair.Certificate) == 0 {
		return nil, errors.New("hub CA: no certificate")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("hub CA: %w", err)
	}
	if !cert.IsCA || (cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, errors.New("hub CA: the certificate is not a CA's that may sign certificates (basic constraints CA, key usage certSign)")
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("hub CA: the private key cannot sign")
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// sealable is the CA's certificate and private key (PKCS #8) as PEM, what
// a hub on PostgreSQL seals in its database for the other nodes.
func (ca *CA) sealable() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("hub CA: %w", err)
	}
	return append(append([]byte(nil), ca.pem...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...), nil
}

// Pool is a pool holding the CA alone: the ClientCAs of the hub's TLS
// listener.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// sign issues agentID a client certificate for the key of csr (already
// checked: it parses, its signature holds, it names agentID). It returns
// the chain as PEM (the agent's certificate, then the CA's) and the
// sha256 of the agent's certificate, which the agents row keeps.
func (ca *CA) sign(csr *x509.CertificateRequest, agentID string, now time.Time) (string, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", nil, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: agentID},
		// A little in the past: an agent whose clock runs behind still
		// takes it.
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(clientCertValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", nil, fmt.Errorf("sign the certificate of %s: %w", agentID, err)
	}
	fp := sha256.Sum256(der)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...)
	return string(chain), fp[:], nil
}

// parseCSR parses a PEM certificate signing request and checks that its
// signature holds and that it names agentID (its subject's common name).
func parseCSR(data, agentID string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(data))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr: not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if csr.Subject.CommonName != agentID {
		return nil, fmt.Errorf("csr: common name %q is not the agent id", csr.Subject.CommonName)
	}
	return csr, nil
}

// certFingerprint is the sha256 of the verified client certificate of r,
// nil when r presented none the TLS listener verified against the hub's CA.
func certFingerprint(r *http.Request) []byte {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	fp := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	return fp[:]
}
