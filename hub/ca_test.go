package hub

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
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/protocol"
)

// tlsHub serves h's handler over TLS, asking for client certificates of
// ca as tessera-hub serve --tls-cert --ca-cert does.
func tlsHub(t *testing.T, h *testHub, ca *CA) (url string, roots *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h.s.Handler())
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	roots = x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return "wss" + strings.TrimPrefix(srv.URL, "https") + protocol.AgentPath, roots
}

// dialTLS opens a peer on url presenting cert (none when nil).
func dialTLS(t *testing.T, h *testHub, url string, roots *x509.CertPool, cert *tls.Certificate) (*testAgent, *http.Response, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		// Sent whatever CAs the hub names (Certificates would send none
		// that does not match them).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, TLSClientConfig: cfg, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		return nil, resp, err
	}
	a := &testAgent{t: t, h: h, peer: protocol.NewPeer(ws, h.s.log), done: make(chan struct{})}
	go func() { defer close(a.done); _ = a.peer.Run(t.Context()) }()
	t.Cleanup(func() { a.peer.Close(); <-a.done })
	return a, resp, nil
}

// An agent enrolled with a CSR on a hub with a CA gets a client
// certificate (CN its id, client auth, chained to the CA, the CA after
// it); over the hub's TLS it boots with it alone. A certificate of the CA
// that no agent row names, and one of another CA, are refused.
func TestEnrollCertificate(t *testing.T) {
	ca := testCA(t)
	// TLS checks certificates against the wall clock: the hub's runs from now.
	h := newTestHub(t, func(c *Config) { c.CA = ca; c.Clock = clocktest.New(time.Now()) })
	url, roots := tlsHub(t, h, ca)
	code := h.newCode(map[string]any{"uses": 2})["code"].(string)
	pending, _, err := dialTLS(t, h, url, roots, nil)
	if err != nil {
		t.Fatalf("pending connection over TLS: %v", err)
	}
	key, csr := testCSR(t, "p1")
	_, otherCSR := testCSR(t, "p2")
	if resp := pending.enroll(protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code, CSR: otherCSR}); resp.Reason != protocol.EnrollReasonInvalidRequest {
		t.Errorf("a CSR naming another id: %+v", resp)
	}
	resp := pending.enroll(protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code, CSR: csr})
	if resp.Status != protocol.EnrollEnrolled || resp.DeviceToken != "" || resp.Certificate == "" {
		t.Fatalf("enroll with a CSR: %+v", resp)
	}
	leafBlock, rest := pem.Decode([]byte(resp.Certificate))
	caBlock, _ := pem.Decode(rest)
	if leafBlock == nil || caBlock == nil || string(caBlock.Bytes) != string(ca.cert.Raw) {
		t.Fatalf("chain %q", resp.Certificate)
	}
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil ||
		leaf.Subject.CommonName != "p1" || leaf.NotAfter.Sub(leaf.NotBefore) < 364*24*time.Hour {
		t.Errorf("certificate %v (CN %q, %v to %v)", err, leaf.Subject.CommonName, leaf.NotBefore, leaf.NotAfter)
	}
	if v := h.agentRow("p1"); v.State != agentNeedsCredentials || v.HasToken {
		t.Errorf("enrolled with a certificate: %+v", v)
	}

	mine := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}
	a, _, err := dialTLS(t, h, url, roots, mine)
	if err != nil {
		t.Fatalf("dial with the certificate: %v", err)
	}
	if resp := a.boot("p1"); resp.Status != protocol.BootAccepted || resp.DeviceToken != "" {
		t.Fatalf("boot with the certificate: %+v", resp)
	}
	if st := h.agentRow("p1").State; st != agentCommunicating {
		t.Errorf("booted: %q", st)
	}

	// Signed by the CA, named by no agent row (as an old one after a re-issue).
	k2, csr2 := testCSR(t, "p2")
	parsed, err := parseCSR(csr2, "p2")
	if err != nil {
		t.Fatal(err)
	}
	chain, _, err := ca.sign(parsed, "p2", h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode([]byte(chain))
	if _, resp, err := dialTLS(t, h, url, roots, &tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: k2}); err == nil ||
		resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a certificate no agent has: %v %v, want 401", resp, err)
	}
	// A new device token (tessera-hub agent new-token) ends the certificate.
	if _, err := NewAgentToken(t.Context(), h.where(), "p1"); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := dialTLS(t, h, url, roots, mine); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the certificate after a new token: %v %v, want 401", resp, err)
	}
	// Another CA's: the handshake fails.
	if _, _, err := dialTLS(t, h, url, roots, selfSigned(t, "p1")); err == nil {
		t.Error("a certificate of another CA was taken")
	}
}

// A hub without a CA ignores the CSR and hands out a device token.
func TestEnrollCSRWithoutCA(t *testing.T) {
	h := newTestHub(t, nil)
	code := h.newCode(map[string]any{})["code"].(string)
	_, csr := testCSR(t, "p1")
	resp := h.mustDial("").enroll(protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code, CSR: csr})
	if resp.Status != protocol.EnrollEnrolled || resp.DeviceToken == "" || resp.Certificate != "" {
		t.Errorf("enroll: %+v", resp)
	}
}

// selfSigned is a client certificate for id that no CA of the hub signed.
func selfSigned(t *testing.T, id string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: id},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
