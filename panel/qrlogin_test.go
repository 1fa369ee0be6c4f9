package panel

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/tessera-print/tessera/session"
)

// TestLoginQR: the panel draws the QR code of the session's QR login
// address, module for module, uncached, and answers 404 when none is shown.
func TestLoginQR(t *testing.T) {
	fs := &fakeSessions{}
	const url = "https://hub.example/q/AbCdEfGhIjKlMnOpQrStUv"
	fs.view.QR = &session.QRLogin{URL: url}
	ts := httptest.NewServer(New(fs, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	get := func() (*http.Response, string) {
		resp, err := http.Get(ts.URL + "/api/v1/login-qr.svg?u=x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, svg := get()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	q, err := qrcode.New(url, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(svgBitmap(t, svg)) != fmt.Sprint(q.Bitmap()) {
		t.Error("the SVG is not the sign-in page's QR code")
	}
	fs.mu.Lock()
	fs.view.QR = nil
	fs.mu.Unlock()
	if resp, _ := get(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no code: status %d, want 404", resp.StatusCode)
	}
}
