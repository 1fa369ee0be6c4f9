package hub

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkVerifyPIN is one argon2id verification with the production
// parameters: what a PIN login (or a password login) costs the hub.
func BenchmarkVerifyPIN(b *testing.B) {
	hash, err := hashSecret("25807391")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ok, err := verifySecret(hash, "25807391")
		if err != nil || !ok {
			b.Fatalf("verify: %v %v", ok, err)
		}
	}
}

// BenchmarkImport10k imports 10,000 users with one card each into an empty
// hub through the admin API: HMAC lookups only, no argon2id.
func BenchmarkImport10k(b *testing.B) {
	body := importBody(b, cardUsers("b", 10_000))
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.Context(), Config{DataDir: b.TempDir(), AdminToken: testAdminToken})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		req, _ := http.NewRequest("POST", srv.URL+importPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		b.StartTimer()

		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("import: %d", resp.StatusCode)
		}

		b.StopTimer()
		srv.Close()
		s.Close()
		b.StartTimer()
	}
}
