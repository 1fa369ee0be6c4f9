package agent

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPinHub: with hub_cert_sha256 the hub is accepted only if its chain
// holds a pinned public key, after the usual verification; a pin that
// does not match fails the handshake with words that say so.
func TestPinHub(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	sum := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	right := hex.EncodeToString(sum[:])
	wrong := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		pins []string
		ok   bool
	}{
		{"no pin", nil, true},
		{"the hub's key", []string{wrong, right}, true},
		{"another key", []string{wrong}, false},
	} {
		tc0 := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: pinHub(tc0, tc.pins)}}
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "matches no hub_cert_sha256") || !strings.Contains(err.Error(), right)) {
			t.Errorf("%s: the error does not say which key the hub has: %v", tc.name, err)
		}
		if tc0.VerifyConnection != nil {
			t.Errorf("%s: pinHub changed the config it was given", tc.name)
		}
	}
}

// TestHubProxy: the configured proxy carries the password read from
// proxy_password_file; a password without a user name is refused; no
// proxy leaves the environment's.
func TestHubProxy(t *testing.T) {
	f, err := hubProxy("http://agent@proxy.lan:3128", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://hub.example/agent/v1/ws", nil)
	u, err := f(req)
	if p, _ := u.User.Password(); err != nil || u.Host != "proxy.lan:3128" || u.User.Username() != "agent" || p != "s3cret" {
		t.Errorf("proxy %v %v", u, err)
	}
	if _, err := hubProxy("http://proxy.lan:3128", "s3cret"); err == nil {
		t.Error("a password without a user name accepted")
	}
	if f, err := hubProxy("", ""); f != nil || err != nil {
		t.Errorf("no proxy: a function (%v), %v", f != nil, err)
	}
}
