package panel

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/tessera-print/tessera/session"
)

// svgBitmap reads back the modules qrSVG drew.
func svgBitmap(t *testing.T, svg string) [][]bool {
	t.Helper()
	m := regexp.MustCompile(`viewBox="0 0 (\d+) \d+"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no viewBox: %.200s", svg)
	}
	n, _ := strconv.Atoi(m[1])
	bm := make([][]bool, n)
	for i := range bm {
		bm[i] = make([]bool, n)
	}
	for _, run := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-\d+z`).FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(run[1])
		y, _ := strconv.Atoi(run[2])
		w, _ := strconv.Atoi(run[3])
		for i := x; i < x+w; i++ {
			bm[y][i] = true
		}
	}
	return bm
}

// TestEnrollmentQR: the panel draws the QR code of the hub's claim page
// for the session's claim code, module for module, and answers 404 once
// the agent is enrolled.
func TestEnrollmentQR(t *testing.T) {
	fs := &fakeSessions{}
	fs.view.Enrollment = &session.Enrollment{Code: "K7M 42Q", Hub: "https://hub.example/t/"}
	ts := httptest.NewServer(New(fs, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	get := func() (*http.Response, string) {
		resp, err := http.Get(ts.URL + "/api/v1/enrollment-qr.svg?code=x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, svg := get()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	const want = "https://hub.example/t/claim?code=K7M+42Q"
	if got := claimURL(*fs.view.Enrollment); got != want {
		t.Errorf("claim URL %q, want %q", got, want)
	}
	q, err := qrcode.New(want, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := fmt.Sprint(svgBitmap(t, svg)), fmt.Sprint(q.Bitmap()); got != exp {
		t.Errorf("the SVG is not the claim URL's QR code")
	}
	if strings.Contains(svg, "<script") {
		t.Error("script in the SVG")
	}

	fs.mu.Lock()
	fs.view.Enrollment = nil
	fs.mu.Unlock()
	if resp, _ := get(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("enrolled: status %d, want 404", resp.StatusCode)
	}
}
