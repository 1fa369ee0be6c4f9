package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestDiagnosticsUpload: the real hub sends upload-logs to the real agent,
// which reads a printer recording over snmpsim and logs to a file; the
// bundle PUT to the test's receiver has the expected entries (a fresh
// walk of the Printer MIB, the log file), and none of the secrets (the
// device token the hub issued, the technician PIN, the SNMP community);
// the task completes with the bundle's size and SHA-256.
func TestDiagnosticsUpload(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	sim := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")

	var mu sync.Mutex
	var received []byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		received = b
		mu.Unlock()
	}))
	defer recv.Close()

	dir := t.TempDir()
	const pin = "73914620"
	pinFile, cfgFile, logFile := filepath.Join(dir, "pin"), filepath.Join(dir, "tessera.json"), filepath.Join(dir, "agent.log")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"technician_pin_file": %q, "log_file": %q, "log_max_mib": 1}`, pinFile, logFile)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(dir, "data")
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "", "--config", cfgFile,
		"--snmp", "snmp://hp_envy6000@"+sim+"?version=2c&timeout=2s")
	id := h.connectedAgent(t)
	// The bundle's status is the last reading: wait for the first.
	testutil.WaitFor(t, 45*time.Second, "the printer read over SNMP", func() bool { return a.printer(t).Serial == "TH05H3D1F8" })
	token, err := os.ReadFile(filepath.Join(agentDir, "device-token"))
	if err != nil || len(bytes.TrimSpace(token)) < 8 {
		t.Fatalf("device token: %q %v", token, err)
	}

	task := h.createTask(t, id, "upload-logs", fmt.Sprintf(`{"url": %q}`, recv.URL+"/bundles/a.tar.gz?sig=abc"))
	v := h.taskEnded(t, task)
	var res struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(v.Result, &res); v.State != "completed" || err != nil {
		t.Fatalf("upload-logs: %+v (%v)", v, err)
	}
	mu.Lock()
	bundle := received
	mu.Unlock()
	sum := sha256.Sum256(bundle)
	if res.Bytes != int64(len(bundle)) || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("result %+v, received %d bytes %x", res, len(bundle), sum)
	}
	files := untar(t, bundle)
	for _, name := range []string{"manifest.json", "versions.json", "config.json", "database.json", "sync.json",
		"tasks.json", "printer/status.json", "printer/walk.txt", "logs/agent.log"} {
		if _, ok := files[name]; !ok {
			t.Errorf("bundle lacks %s", name)
		}
	}
	checks := []struct{ entry, want string }{
		{"printer/walk.txt", `1.3.6.1.2.1.43.5.1.1.17.1 = "TH05H3D1F8"`}, // prtGeneralSerialNumber
		{"printer/status.json", `"TH05H3D1F8"`},
		{"config.json", `"snmp": "snmp://REDACTED@`},
		{"logs/agent.log", "task taken"},
		{"tasks.json", task},
		{"sync.json", `"online": true`},
	}
	for _, c := range checks {
		if !strings.Contains(string(files[c.entry]), c.want) {
			t.Errorf("%s lacks %q:\n%.2000s", c.entry, c.want, files[c.entry])
		}
	}
	for name, b := range files {
		for _, secret := range []string{string(bytes.TrimSpace(token)), pin, "hp_envy6000@"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the secret %q", name, secret)
			}
		}
	}
	// The log file is the agent's own, beside stderr.
	testutil.WaitFor(t, 5*time.Second, "the log file names the upload", func() bool {
		b, _ := os.ReadFile(logFile)
		return bytes.Contains(b, []byte("diagnostics uploaded"))
	})
}

// untar reads a tar.gz into name → content.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("bundle is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if out[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}
