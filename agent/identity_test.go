package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/config"
)

// mode is a file's permission bits, or a failed test.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestPrepareEnrollmentKeepsItsKeys: the enrollment key and the agent's
// key are made once (0600) and the same ones come back after a restart;
// the CSR is for that key and names the agent id.
func TestPrepareEnrollmentKeepsItsKeys(t *testing.T) {
	dir := t.TempDir()
	first, err := prepareEnrollment(dir, "agent-9")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.key) < 32 {
		t.Errorf("enrollment key %d characters", len(first.key))
	}
	for _, f := range []string{enrollKeyFile, identityKeyFile} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, m)
		}
	}
	again, err := prepareEnrollment(dir, "agent-9")
	if err != nil {
		t.Fatal(err)
	}
	if again.key != first.key || !again.signer.Equal(first.signer) {
		t.Error("a second start made new keys")
	}
	block, _ := pem.Decode([]byte(again.csr))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("CSR %q", again.csr)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	if csr.Subject.CommonName != "agent-9" || !first.signer.PublicKey.Equal(csr.PublicKey) {
		t.Errorf("CSR names %q, key matches %v", csr.Subject.CommonName, first.signer.PublicKey.Equal(csr.PublicKey))
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestPrepareEnrollmentRefusesDamage: a short enrollment key or a key
// file that is not one is an error, never replaced silently.
func TestPrepareEnrollmentRefusesDamage(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"short enrollment key": {enrollKeyFile: "short\n"},
		"not a key":            {identityKeyFile: "garbage"},
	} {
		dir := t.TempDir()
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := prepareEnrollment(dir, "a"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// certFor signs a certificate for key, self-signed by another key.
func certFor(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "agent-9"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, ca)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestKeepIdentity: a token goes where device tokens are kept, a
// certificate beside the agent's key, both 0600; the certificate is
// loaded at the next start, into the hub's TLS config.
func TestKeepIdentity(t *testing.T) {
	dir := t.TempDir()
	enr, err := prepareEnrollment(dir, "agent-9")
	if err != nil {
		t.Fatal(err)
	}
	tokenPath := filepath.Join(t.TempDir(), "token") // device_token_file elsewhere
	if err := keepIdentity(dir, tokenPath, cloudlink.Identity{DeviceToken: "tok-1"}); err != nil {
		t.Fatal(err)
	}
	if tok, err := readDeviceToken(tokenPath); err != nil || tok != "tok-1" || mode(t, tokenPath) != 0o600 {
		t.Errorf("token %q, %v, mode %v", tok, err, mode(t, tokenPath))
	}
	if tc, err := withClientCert(nil, dir); err != nil || tc != nil {
		t.Errorf("no certificate yet: %v, %v", tc, err)
	}
	if err := keepIdentity(dir, tokenPath, cloudlink.Identity{Certificate: certFor(t, enr.signer)}); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Join(dir, identityCertFile)); m != 0o600 {
		t.Errorf("certificate mode %v", m)
	}
	tc, err := withClientCert(nil, dir)
	if err != nil || tc == nil || len(tc.Certificates) != 1 {
		t.Fatalf("loaded %v, %v", tc, err)
	}
	s := &System{hubTLS: tc}
	if !s.enrolled() || (&System{}).enrolled() || !(&System{deviceToken: "t"}).enrolled() {
		t.Error("enrolled() is wrong")
	}
	// A certificate for another key is refused at start, not ignored.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := keepIdentity(dir, tokenPath, cloudlink.Identity{Certificate: certFor(t, other)}); err != nil {
		t.Fatal(err)
	}
	if _, err := withClientCert(nil, dir); err == nil {
		t.Error("a certificate for another key was loaded")
	}
}

// TestEnrollCodeRedacted: the organisation code never shows in the
// configuration the diagnostics bundle carries.
func TestEnrollCodeRedacted(t *testing.T) {
	const code = "7K2M9QXW4RTB8NZC5HJD"
	m, err := redactConfig(config.Config{EnrollCode: code})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m["enroll_code"]; !ok || v == code {
		t.Errorf("enroll_code shown as %v", v)
	}
}
