package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/protocol"
)

// TestUploadThroughProxy: the bundle goes through the hub link's proxy
// (config proxy with proxy_password_file: tinyproxy asking for Basic
// credentials), as the hub link does; with a wrong password the proxy's
// refusal fails the task at once.
func TestUploadThroughProxy(t *testing.T) {
	proxy := testenv.StartTinyproxy(t, "carol proxy-pw")
	recv := &putReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "proxy-pw")
	if err := os.WriteFile(pwFile, []byte("proxy-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.HubURL, cfg.PrinterURI = filepath.Join(dir, "data"), "http://127.0.0.1:9", "ipp://127.0.0.1:9/ipp/print"
	cfg.Proxy, cfg.ProxyPasswordFile = "http://carol@"+proxy.URL.Host, pwFile
	s, err := Build(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{System: s, log: s.log}
	u := &logUploader{
		bundle: func(_ context.Context, w io.Writer) error {
			_, err := io.WriteString(w, "through the proxy")
			return err
		},
		dir:       dir,
		client:    r.uploadClient,
		progress:  func(context.Context, string, string, int) {},
		log:       slog.New(slog.DiscardHandler),
		firstWait: time.Millisecond,
	}
	payload, _ := json.Marshal(UploadLogsPayload{URL: srv.URL + "/bundle.tar.gz"})
	if _, err := u.run(context.Background(), protocol.TaskRequest{ID: "p1", Type: protocol.TaskUploadLogs, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	if string(recv.body) != "through the proxy" {
		t.Fatalf("received %q", recv.body)
	}
	if log := proxy.Log(); !strings.Contains(log, "PUT") {
		t.Errorf("the proxy did not carry the PUT:\n%s", log)
	}

	if err := os.WriteFile(pwFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = Build(cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	u.client = (&running{System: s, log: s.log}).uploadClient
	_, err = u.run(context.Background(), protocol.TaskRequest{ID: "p2", Type: protocol.TaskUploadLogs, Payload: payload})
	// tinyproxy answers a plain-http request's wrong credentials 401.
	if err == nil || !strings.Contains(err.Error(), "failed after 1 attempt(s): the server answered 401") {
		t.Fatalf("wrong proxy password: %v", err)
	}
}
