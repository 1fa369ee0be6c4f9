package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
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
