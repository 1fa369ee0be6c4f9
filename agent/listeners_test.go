package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testutil"
)

// startSystem builds and runs an agent until the test ends; it returns
// the panel's address.
func startSystem(t *testing.T, cfg config.Config) string {
	t.Helper()
	sys, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	sys.opts.Ready = func(addr string) { ready <- addr }
	done := make(chan error, 1)
	go func() { done <- sys.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatalf("Run: %v", err)
		return ""
	}
}

// TestPanelPairedOverHTTPS: with panel_token_file, panel_cert_file and
// panel_key_file the agent serves the panel over HTTPS with that
// certificate and answers only a browser paired with the token.
func TestPanelPairedOverHTTPS(t *testing.T) {
	dir := t.TempDir()
	const token = "0123456789abcdef0123456789abcdef"
	cfg := baseConfig(t)
	cfg.PanelCertFile, cfg.PanelKeyFile, _ = testutil.SelfSignedCert(t, dir)
	cfg.PanelTokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(cfg.PanelTokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startSystem(t, cfg)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", "https://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("/api/v1/session"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the cookie: HTTP %d", resp.StatusCode)
	}
	resp := get("/?token=" + token)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("pairing: HTTP %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp := get("/api/v1/session", resp.Cookies()...); resp.StatusCode != http.StatusOK {
		t.Fatalf("paired: HTTP %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the panel answered plain HTTP")
		}
	}
}

// TestPanelTokenTooShort: a token a browser could be made to guess is
// refused with the config.
func TestPanelTokenTooShort(t *testing.T) {
	dir := t.TempDir()
	cfg := baseConfig(t)
	cfg.PanelCertFile, cfg.PanelKeyFile, _ = testutil.SelfSignedCert(t, dir)
	cfg.PanelTokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(cfg.PanelTokenFile, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Fatal("Build accepted a 4-character panel token")
	}
}

// TestIPPQueueCutsAStalledBody: the agent's queue drops a Print-Job whose
// document stops arriving once ipp_body_timeout passes without a byte (a
// stalled body was still held after 40 s before).
func TestIPPQueueCutsAStalledBody(t *testing.T) {
	cfg := baseConfig(t)
	cfg.IPPListen = freeAddr(t)
	cfg.IPPBodyTimeout = config.Duration(time.Second)
	startSystem(t, cfg)
	conn, err := net.Dial("tcp", cfg.IPPListen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := goipp.NewRequest(goipp.MakeVersion(2, 0), goipp.OpPrintJob, 1)
	req.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	req.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	req.Operation.Add(goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String("ipp://"+cfg.IPPListen+"/ipp/print")))
	req.Operation.Add(goipp.MakeAttr("requesting-user-name", goipp.TagName, goipp.String("alice")))
	attrs, err := req.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	head := "POST /ipp/print HTTP/1.1\r\nHost: " + cfg.IPPListen + "\r\nContent-Type: application/ipp\r\nContent-Length: 1000000\r\n\r\n"
	if _, err := conn.Write(append(append([]byte(head), attrs...), "%PDF-1.4\n"...)); err != nil {
		t.Fatal(err)
	}
	// A guard against a hang, ten times the body timeout: not a measure.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stalled request is still held: %v", err)
	}
	if err == nil {
		resp.Body.Close()
	}
}
