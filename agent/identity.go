package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/internal/atomicfile"
)

// The agent's identity at the hub (docs/protocol.md "Enrollment"): a
// device token (devicetoken.go) or a client certificate the hub's CA
// signed for the agent's own key. An agent with neither is unenrolled: it
// Enrolls with a key it made once, tying its claim code to it across
// restarts, and a CSR for its key. Every file is the agent's alone (0600)
// and written atomically.
const (
	identityCertFile = "identity.crt" // the client certificate, PEM, leaf first
	identityKeyFile  = "identity.key" // the agent's ECDSA P-256 key, PEM
	enrollKeyFile    = "enroll.key"   // the enrollment key
)

// enrollment is what an unenrolled agent Enrolls with.
type enrollment struct {
	key    string // the enrollment key, kept in DATA/enroll.key
	signer *ecdsa.PrivateKey
	csr    string // PEM, common name the agent id
}

// readClientCert loads the client certificate enrollment left in dataDir
// with its key; nil when there is none (no certificate file).
func readClientCert(dataDir string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(filepath.Join(dataDir, identityCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dataDir, identityKeyFile))
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("identity certificate %s: %w", filepath.Join(dataDir, identityCertFile), err)
	}
	return &cert, nil
}

// prepareEnrollment loads, or makes once and keeps, the enrollment key
// and the agent's key, and makes the CSR for agentID.
func prepareEnrollment(dataDir, agentID string) (enrollment, error) {
	key, err := loadOrMakeEnrollKey(filepath.Join(dataDir, enrollKeyFile))
	if err != nil {
		return enrollment{}, err
	}
	signer, err := loadOrMakeIdentityKey(filepath.Join(dataDir, identityKeyFile))
	if err != nil {
		return enrollment{}, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader,
		&x509.CertificateRequest{Subject: pkix.Name{CommonName: agentID}}, signer)
	if err != nil {
		return enrollment{}, fmt.Errorf("identity: certificate request: %w", err)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return enrollment{key: key, signer: signer, csr: csr}, nil
}

// loadOrMakeEnrollKey reads the enrollment key at path, or makes one (32
// random bytes, 43 characters) and keeps it there first.
func loadOrMakeEnrollKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < 32 {
			return "", fmt.Errorf("enrollment key %s: shorter than 32 characters", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("enrollment key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("enrollment key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	if err := writeSecretFile(path, []byte(key+"\n")); err != nil {
		return "", fmt.Errorf("enrollment key: %w", err)
	}
	return key, nil
}

// loadOrMakeIdentityKey reads the agent's key at path, or makes one and
// keeps it there first.
func loadOrMakeIdentityKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("identity key %s: no PEM", path)
		}
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity key %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if err := writeSecretFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	return key, nil
}

// keepIdentity stores the identity enrollment handed out: the device
// token where device tokens are kept (device_token_file overrides), the
// certificate beside the agent's key.
func keepIdentity(dataDir, tokenPath string, id cloudlink.Identity) error {
	if id.Certificate != "" {
		if err := writeSecretFile(filepath.Join(dataDir, identityCertFile), []byte(id.Certificate)); err != nil {
			return fmt.Errorf("identity certificate: %w", err)
		}
	}
	if id.DeviceToken != "" {
		return saveDeviceToken(tokenPath, id.DeviceToken)
	}
	return nil
}

// writeSecretFile writes data to path, readable by the agent's user only,
// atomically and durably (atomicfile), making its directory if need be.
func writeSecretFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}

// withClientCert adds the client certificate enrollment left in dataDir
// (if any) to the hub's TLS config tc (nil: the system's roots).
func withClientCert(tc *tls.Config, dataDir string) (*tls.Config, error) {
	if dataDir == "" {
		return tc, nil // refused by the config's validation
	}
	cert, err := readClientCert(dataDir)
	if err != nil || cert == nil {
		return tc, err
	}
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tc = tc.Clone()
	}
	tc.Certificates = []tls.Certificate{*cert}
	return tc, nil
}

// enrolled reports whether the agent has an identity to present.
func (s *System) enrolled() bool {
	return s.deviceToken != "" || (s.hubTLS != nil && len(s.hubTLS.Certificates) > 0)
}

// enrollLink sets up lc to enroll an agent without identity: its keys,
// the organisation code, where the identity is kept, and the claim code
// shown on the panel. An enrolled agent ignores enroll_code.
func (r *running) enrollLink(lc *cloudlink.Config, agentID string) error {
	if r.enrolled() {
		if r.cfg.EnrollCode != "" {
			r.log.Info("enroll_code is ignored: this agent is already enrolled")
		}
		return nil
	}
	enr, err := prepareEnrollment(r.cfg.DataDir, agentID)
	if err != nil {
		return err
	}
	lc.EnrollKey, lc.EnrollCode, lc.CSR, lc.ClientKey = enr.key, r.cfg.EnrollCode, enr.csr, enr.signer
	lc.OnIdentity = func(id cloudlink.Identity) error { return keepIdentity(r.cfg.DataDir, r.tokenPath, id) }
	// The link was made from the same URL: it parses.
	base, _ := cloudlink.PageBase(r.cfg.HubURL)
	lc.OnClaimCode = func(code string) {
		if code != "" {
			r.log.Info("this agent is not enrolled: its claim code is on the panel", "claim_url", base+"/claim")
		}
		r.sess.SetEnrollment(code, base)
	}
	return nil
}
