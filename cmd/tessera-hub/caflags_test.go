package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// writePEM writes one PEM block to a 0600 file in dir.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCert makes a certificate of tmpl for a new key, signed by parent's
// key (self-signed when parent is nil).
func testCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// serve --tls-cert --ca-cert asks every client for a certificate of the
// CA and verifies one given: a client without one is served, one with a
// certificate of another CA fails its handshake; a certificate that is not
// a CA's is refused at start.
func TestServeAsksClientCerts(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	caKeyFile := writePEM(t, dir, "ca.key", "EC PRIVATE KEY", caKeyDER)
	certFile, keyFile, serverCert := testutil.SelfSignedCert(t, dir)

	if err := run(t.Context(), []string{"serve", "--data", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile,
		"--ca-cert", certFile, "--ca-key", keyFile}, nil, &strings.Builder{}, func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "not a CA's") {
		t.Errorf("a server certificate as the CA: %v", err)
	}

	addr := startServe(t, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile,
		"--ca-cert", caFile, "--ca-key", caKeyFile)
	roots := x509.NewCertPool()
	roots.AddCert(serverCert)
	get := func(cert *tls.Certificate) error {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(nil); err != nil {
		t.Errorf("a client without certificate: %v", err)
	}
	other, otherKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "p1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil, nil)
	if err := get(&tls.Certificate{Certificate: [][]byte{other.Raw}, PrivateKey: otherKey}); err == nil {
		t.Error("a certificate of another CA was taken")
	}
	mine, mineKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "p1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	if err := get(&tls.Certificate{Certificate: [][]byte{mine.Raw}, PrivateKey: mineKey}); err != nil {
		t.Errorf("a certificate of the CA: %v", err)
	}
}
