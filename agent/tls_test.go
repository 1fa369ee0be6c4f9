package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tessera-print/tessera/internal/testutil"
)

func TestPrinterCertificatePin(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().Raw)
	tests := []struct {
		name, pin string
		ok        bool
	}{
		{"no pin, untrusted", "", false},
		{"right pin", hex.EncodeToString(sum[:]), true},
		{"wrong pin", hex.EncodeToString(make([]byte, 32)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := httpClient("", tc.pin)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Get(srv.URL)
			if resp != nil {
				resp.Body.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := httpClient("", "abc"); err == nil {
		t.Error("a malformed pin was accepted")
	}
}

// TestIPPQueueServesTLS: the IPP queue serves the key pair Build loaded
// from ipp_cert_file and ipp_key_file (a bad one is refused by Build:
// TestBuildReportsEveryProblem).
func TestIPPQueueServesTLS(t *testing.T) {
	cfg := baseConfig(t)
	cfg.IPPListen = freeAddr(t)
	var cert *x509.Certificate
	cfg.IPPCertFile, cfg.IPPKeyFile, cert = testutil.SelfSignedCert(t, t.TempDir())
	sys, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	sys.opts.Ready = func(addr string) { ready <- addr }
	done := make(chan error, 1)
	go func() { done <- sys.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	conn, err := tls.Dial("tcp", cfg.IPPListen, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to the IPP queue: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, cert.Raw) {
		t.Error("the IPP queue served another certificate")
	}
}
