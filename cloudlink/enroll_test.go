package cloudlink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

const testEnrollKey = "0123456789abcdef0123456789abcdef-key"

// enrollHub is the Enroll side of a fake hub: answer decides each answer
// from the request and how many came before it.
type enrollHub struct {
	mu     sync.Mutex
	reqs   []protocol.EnrollRequest
	answer func(n int, req protocol.EnrollRequest) protocol.EnrollResponse
}

func (e *enrollHub) handle(_ context.Context, p json.RawMessage) (any, error) {
	var req protocol.EnrollRequest
	if err := protocol.Decode(p, &req); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reqs = append(e.reqs, req)
	return e.answer(len(e.reqs)-1, req), nil
}

func (e *enrollHub) Reqs() []protocol.EnrollRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]protocol.EnrollRequest(nil), e.reqs...)
}

// identities records what a link asked to keep, and the claim codes shown.
type identities struct {
	mu    sync.Mutex
	kept  []Identity
	codes []string
}

func (i *identities) keep(id Identity) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.kept = append(i.kept, id)
	return nil
}

func (i *identities) show(code string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.codes = append(i.codes, code)
}

func (i *identities) Kept() []Identity {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]Identity(nil), i.kept...)
}

func (i *identities) Codes() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.codes...)
}

func pending(code string, expires time.Time) protocol.EnrollResponse {
	return protocol.EnrollResponse{Status: protocol.EnrollPending, ClaimCode: code, ExpiresAt: &expires}
}

// TestEnrollByClaim: pending (the claim code shown), claimed by the hub's
// EnrollmentClaimed, enrolled with a device token kept before use, then a
// new connection with it that boots.
func TestEnrollByClaim(t *testing.T) {
	hub := newFakeHub(t, hubOpts{enrollRequired: true, interval: 30})
	var claimed sync.Mutex
	isClaimed := false
	eh := &enrollHub{answer: func(n int, req protocol.EnrollRequest) protocol.EnrollResponse {
		claimed.Lock()
		defer claimed.Unlock()
		if !isClaimed {
			return pending("K7M-42Q", time.Now().Add(time.Hour))
		}
		return protocol.EnrollResponse{Status: protocol.EnrollEnrolled, DeviceToken: "tok-enrolled", Name: "Lobby", Group: "hq"}
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	ids := &identities{}
	l, rec := startLink(t, Config{HubURL: hub.URL(), AgentID: "agent-7", EnrollKey: testEnrollKey,
		CSR: "csr-pem", OnIdentity: ids.keep, OnClaimCode: ids.show})
	testutil.WaitFor(t, 5*time.Second, "the claim code", func() bool { return l.ClaimCode() == "K7M-42Q" })
	if l.Online() || len(rec.Changes()) != 0 {
		t.Fatalf("a pending link went online")
	}
	if got := hub.AuthHeaders(); len(got) != 1 || got[0] != "" {
		t.Fatalf("handshakes = %q, want one without credentials", got)
	}
	req := eh.Reqs()[0]
	if req.AgentID != "agent-7" || req.Key != testEnrollKey || req.CSR != "csr-pem" || req.Code != "" || req.Version != "1.2.3" {
		t.Errorf("Enroll request = %+v", req)
	}

	claimed.Lock()
	isClaimed = true
	claimed.Unlock()
	if err := hub.LastPeer().Call(context.Background(), protocol.ActionEnrollmentClaimed, struct{}{}, nil); err != nil {
		t.Fatalf("EnrollmentClaimed: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "online with the token", l.Online)
	if got := hub.AuthHeaders(); len(got) != 2 || got[1] != "Bearer tok-enrolled" {
		t.Errorf("handshakes = %q, want the second with the token", got)
	}
	if kept := ids.Kept(); len(kept) != 1 || kept[0].DeviceToken != "tok-enrolled" || kept[0].Name != "Lobby" {
		t.Errorf("kept %+v", kept)
	}
	if got := ids.Codes(); len(got) != 2 || got[0] != "K7M-42Q" || got[1] != "" {
		t.Errorf("claim codes shown = %q, want the code then none", got)
	}
	if l.DeviceToken() != "tok-enrolled" {
		t.Errorf("DeviceToken() = %q", l.DeviceToken())
	}
}

// TestEnrollWithOrgCode: an organisation code enrolls at once; the code
// is never logged.
func TestEnrollWithOrgCode(t *testing.T) {
	const code = "ORG-SECRET-CODE-991"
	hub := newFakeHub(t, hubOpts{enrollRequired: true, interval: 30})
	eh := &enrollHub{answer: func(n int, req protocol.EnrollRequest) protocol.EnrollResponse {
		if req.Code != code {
			return pending("NOPE", time.Now().Add(time.Hour))
		}
		return protocol.EnrollResponse{Status: protocol.EnrollEnrolled, DeviceToken: "tok-org", Group: "branch"}
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	ids := &identities{}
	logger, logs := testLogger(t)
	l, _ := startLink(t, Config{HubURL: hub.URL(), EnrollKey: testEnrollKey, EnrollCode: code,
		OnIdentity: ids.keep, OnClaimCode: ids.show, Logger: logger})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	if n := len(eh.Reqs()); n != 1 {
		t.Errorf("%d Enrolls, want 1", n)
	}
	if got := ids.Codes(); len(got) != 0 {
		t.Errorf("claim codes shown: %q", got)
	}
	if strings.Contains(logs.String(), code) {
		t.Errorf("the organisation code is in the log:\n%s", logs.String())
	}
}

// TestEnrollInvalidCodeFallsBack: a refused organisation code is logged
// (its reason, never the code) and the link falls back to the claim flow
// on the same connection.
func TestEnrollInvalidCodeFallsBack(t *testing.T) {
	const code = "ORG-USED-UP-CODE-77"
	hub := newFakeHub(t, hubOpts{enrollRequired: true, interval: 30})
	eh := &enrollHub{answer: func(n int, req protocol.EnrollRequest) protocol.EnrollResponse {
		if req.Code != "" {
			return protocol.EnrollResponse{Status: protocol.EnrollRejected, Reason: protocol.EnrollReasonInvalidCode}
		}
		return pending("CLAIM-1", time.Now().Add(time.Hour))
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	logger, logs := testLogger(t)
	l, _ := startLink(t, Config{HubURL: hub.URL(), EnrollKey: testEnrollKey, EnrollCode: code, Logger: logger})
	testutil.WaitFor(t, 5*time.Second, "the claim code", func() bool { return l.ClaimCode() == "CLAIM-1" })
	reqs := eh.Reqs()
	if len(reqs) != 2 || reqs[0].Code != code || reqs[1].Code != "" {
		t.Errorf("Enroll codes = %+v, want the code then none", reqs)
	}
	if len(hub.AuthHeaders()) != 1 {
		t.Errorf("the fallback took a new connection: %q", hub.AuthHeaders())
	}
	out := logs.String()
	if !containsAll(out, "level=ERROR", protocol.EnrollReasonInvalidCode) || strings.Contains(out, code) {
		t.Errorf("want an ERROR naming the reason and not the code:\n%s", out)
	}
}

// TestEnrollAgainBeforeExpiry: a pending link Enrolls again on the same
// connection before its claim code expires.
func TestEnrollAgainBeforeExpiry(t *testing.T) {
	hub := newFakeHub(t, hubOpts{enrollRequired: true, interval: 30})
	eh := &enrollHub{answer: func(n int, req protocol.EnrollRequest) protocol.EnrollResponse {
		return pending("SAME", time.Now().Add(2*time.Second))
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	ids := &identities{}
	startLink(t, Config{HubURL: hub.URL(), EnrollKey: testEnrollKey, OnClaimCode: ids.show})
	testutil.WaitFor(t, 5*time.Second, "a second Enroll", func() bool { return len(eh.Reqs()) >= 2 })
	if n := len(hub.AuthHeaders()); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if got := ids.Codes(); len(got) != 1 {
		t.Errorf("the same code shown again: %q", got)
	}
}

func TestReenrollDelay(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	for _, tc := range []struct {
		name     string
		expires  *time.Time
		interval time.Duration
		want     time.Duration
	}{
		{"no expiry: the interval", nil, time.Minute, time.Minute},
		{"far expiry: the interval", at(time.Hour), time.Minute, time.Minute},
		{"near expiry: half of it", at(40 * time.Second), time.Minute, 20 * time.Second},
		{"past expiry: the floor", at(-time.Hour), time.Minute, minReenroll},
	} {
		if got := reenrollDelay(tc.expires, now, tc.interval); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEnrollRefused: a refusal other than invalid-code ends the connection
// (logged), and the link tries again later.
func TestEnrollRefused(t *testing.T) {
	hub := newFakeHub(t, hubOpts{enrollRequired: true})
	eh := &enrollHub{answer: func(int, protocol.EnrollRequest) protocol.EnrollResponse {
		return protocol.EnrollResponse{Status: protocol.EnrollRejected, Reason: protocol.EnrollReasonAgentExists}
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	logger, logs := testLogger(t)
	startLink(t, Config{HubURL: hub.URL(), EnrollKey: testEnrollKey, Logger: logger})
	testutil.WaitFor(t, 5*time.Second, "two connections", func() bool { return len(hub.AuthHeaders()) >= 2 })
	if !containsAll(logs.String(), "level=ERROR", protocol.EnrollReasonAgentExists) {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
}

// TestEnrolledLinkDoesNotEnroll: a link with a token never Enrolls, nor
// does one without an enrollment key.
func TestEnrolledLinkDoesNotEnroll(t *testing.T) {
	for _, cfg := range []Config{
		{DeviceToken: "tok", EnrollKey: testEnrollKey},
		{},
	} {
		hub := newFakeHub(t, hubOpts{enrollRequired: true})
		eh := &enrollHub{answer: func(int, protocol.EnrollRequest) protocol.EnrollResponse {
			return pending("X", time.Now().Add(time.Hour))
		}}
		hub.Handle(protocol.ActionEnroll, eh.handle)
		cfg.HubURL = hub.URL()
		l, _ := startLink(t, cfg)
		if cfg.DeviceToken != "" {
			testutil.WaitFor(t, 5*time.Second, "online", l.Online)
		} else {
			testutil.WaitFor(t, 5*time.Second, "two boots", func() bool { return len(hub.Boots()) >= 2 })
		}
		if n := len(eh.Reqs()); n != 0 {
			t.Errorf("token %q: %d Enrolls", cfg.DeviceToken, n)
		}
	}
}

// TestCloneDetectedIsLogged: a Boot refused as a clone is an ERROR line
// that says so, and the link retries.
func TestCloneDetectedIsLogged(t *testing.T) {
	hub := newFakeHub(t, hubOpts{bootStatus: protocol.BootRejected, bootReason: protocol.BootReasonCloneDetected})
	logger, logs := testLogger(t)
	startLink(t, Config{HubURL: hub.URL(), DeviceToken: "tok", Logger: logger})
	testutil.WaitFor(t, 5*time.Second, "two boots", func() bool { return len(hub.Boots()) >= 2 })
	if !containsAll(logs.String(), "level=ERROR", "another agent is connected with this identity", "clone-detected") {
		t.Errorf("clone not logged:\n%s", logs.String())
	}
}

// testCA signs a certificate for pub, named cn, and returns the chain PEM.
func testCertFor(t *testing.T, pub any, cn string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
}

// TestEnrollWithCertificate: a certificate handed out for the agent's key
// is kept and presented at the next TLS handshake, which then boots.
func TestEnrollWithCertificate(t *testing.T) {
	hub := newFakeHub(t, hubOpts{tls: true, enrollRequired: true, interval: 30, clientAuth: tls.RequestClientCert})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain := testCertFor(t, &key.PublicKey, "agent-1")
	eh := &enrollHub{answer: func(int, protocol.EnrollRequest) protocol.EnrollResponse {
		return protocol.EnrollResponse{Status: protocol.EnrollEnrolled, Certificate: chain}
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	ids := &identities{}
	l, _ := startLink(t, Config{HubURL: hub.URL(), TLSConfig: hubRoots(hub), EnrollKey: testEnrollKey,
		ClientKey: key, OnIdentity: ids.keep})
	testutil.WaitFor(t, 5*time.Second, "online with the certificate", l.Online)
	if !l.HasClientCertificate() || l.DeviceToken() != "" {
		t.Errorf("certificate %v, token %q", l.HasClientCertificate(), l.DeviceToken())
	}
	if kept := ids.Kept(); len(kept) != 1 || kept[0].Certificate != chain {
		t.Errorf("kept %+v", kept)
	}
}

// TestClientCertificateMustMatchKey: a certificate for another key is not
// used.
func TestClientCertificateMustMatchKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := clientCertificate(testCertFor(t, &other.PublicKey, "a"), key); err == nil {
		t.Error("a certificate for another key was accepted")
	}
	if _, err := clientCertificate("not pem", key); err == nil {
		t.Error("no PEM accepted")
	}
	if _, err := clientCertificate(testCertFor(t, &key.PublicKey, "a"), nil); err == nil {
		t.Error("accepted without a key")
	}
	if c, err := clientCertificate(testCertFor(t, &key.PublicKey, "a"), key); err != nil || len(c.Certificate) != 2 {
		t.Errorf("the right certificate: %v", err)
	}
}

// TestCertificateNotTaken: a link with a certificate that the hub does
// not verify is not taken for unenrolled: it never Enrolls, and says why.
func TestCertificateNotTaken(t *testing.T) {
	hub := newFakeHub(t, hubOpts{tls: true, enrollRequired: true})
	eh := &enrollHub{answer: func(int, protocol.EnrollRequest) protocol.EnrollResponse {
		return pending("X", time.Now().Add(time.Hour))
	}}
	hub.Handle(protocol.ActionEnroll, eh.handle)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := clientCertificate(testCertFor(t, &key.PublicKey, "agent-1"), key)
	if err != nil {
		t.Fatal(err)
	}
	tc := hubRoots(hub)
	tc.Certificates = []tls.Certificate{*cert}
	logger, logs := testLogger(t)
	l, _ := startLink(t, Config{HubURL: hub.URL(), TLSConfig: tc, EnrollKey: testEnrollKey, Logger: logger})
	testutil.WaitFor(t, 5*time.Second, "two boots", func() bool { return len(hub.Boots()) >= 2 })
	if !l.HasClientCertificate() || len(eh.Reqs()) != 0 {
		t.Errorf("certificate %v, %d Enrolls", l.HasClientCertificate(), len(eh.Reqs()))
	}
	if !strings.Contains(logs.String(), "did not verify the client certificate") {
		t.Errorf("not explained:\n%s", logs.String())
	}
}
