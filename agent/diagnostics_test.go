package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/logfile"
)

// The test's secrets: none may appear anywhere in a bundle.
var bundleSecrets = []string{"devtok-SECRET-4242", "cupspw-SECRET", "918273", "proxypw-SECRET", "community-SECRET", "bob-SECRET"}

// readBundle unpacks a tar.gz into name → content, in order.
func readBundle(t *testing.T, data []byte) (names []string, files map[string][]byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files = map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		files[h.Name] = b
	}
	return names, files
}

// newBundleAgent is a built agent whose config names secret files and
// URLs with credentials, with its store open and a log file that (by a
// bug somewhere) holds the device token.
func newBundleAgent(t *testing.T) *running {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.HubURL = "http://127.0.0.1:9"
	cfg.PrinterURI = "ipp://127.0.0.1:9/ipp/print"
	cfg.DeviceTokenFile = write("token", "devtok-SECRET-4242")
	cfg.CUPS, cfg.CUPSPasswordFile = "ipp://127.0.0.1:9/printers/held", write("cups", "cupspw-SECRET")
	cfg.TechnicianPINFile = write("pin", "918273")
	cfg.Proxy, cfg.ProxyPasswordFile = "http://bob-SECRET@127.0.0.1:3128", write("proxy", "proxypw-SECRET")
	// A printer that never answers: the walk fails fast and says so.
	cfg.SNMP = "snmp://community-SECRET@127.0.0.1:9?version=2c&timeout=50ms&retries=0&deadline=200ms"
	lf, err := logfile.Open(filepath.Join(dir, "tessera.log"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	if _, err := lf.Write([]byte("level=INFO msg=\"a line that should never have held devtok-SECRET-4242\"\n")); err != nil {
		t.Fatal(err)
	}
	s, err := Build(cfg, Options{Version: "1.2.3", LogFiles: lf.Files})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{System: s, log: s.log, kick: make(chan struct{}, 1)}
	t.Cleanup(func() {
		for i := len(r.undo) - 1; i >= 0; i-- {
			r.undo[i]()
		}
	})
	if err := r.openStore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.store.TakeTask(context.Background(), "task-1", "upload-logs"); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDiagnosticsBundle: the bundle holds every entry the manifest lists,
// the config redacted, the database counted, the task listed, the log
// file scrubbed, a failed walk noted; and no secret anywhere.
func TestDiagnosticsBundle(t *testing.T) {
	r := newBundleAgent(t)
	var buf bytes.Buffer
	if err := r.diagnostics(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	names, files := readBundle(t, buf.Bytes())
	want := []string{"versions.json", "config.json", "database.json", "sync.json", "tasks.json",
		"printer/status.json", "printer/walk.txt", "logs/tessera.log", "manifest.json"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %v, want %v", names, want)
	}
	for name, b := range files {
		for _, s := range bundleSecrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q:\n%s", name, s, b)
			}
		}
	}
	var m bundleManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	errs := map[string]string{}
	for i, e := range m.Entries {
		if e.Name != want[i] || (e.Name != "manifest.json" && e.Bytes != int64(len(files[e.Name]))) {
			t.Errorf("manifest entry %d: %+v, want %s of %d bytes", i, e, want[i], len(files[want[i]]))
		}
		errs[e.Name] = e.Error
	}
	if m.Version != "1.2.3" || m.AgentID == "" || errs["printer/walk.txt"] == "" || errs["config.json"] != "" {
		t.Errorf("manifest %+v", m)
	}
	checks := []struct{ entry, want string }{
		{"config.json", `"snmp": "snmp://REDACTED@127.0.0.1:9?`},
		{"config.json", `"proxy": "http://REDACTED@127.0.0.1:3128"`},
		{"config.json", `"cups_password_file": "`},
		{"versions.json", `"agent": "1.2.3"`},
		{"database.json", `"quick_check": "ok"`},
		{"database.json", `"tasks": 1`},
		{"tasks.json", `"id": "task-1"`},
		{"sync.json", `"pending": 0`},
		{"logs/tessera.log", `should never have held ******************`},
	}
	for _, c := range checks {
		if !strings.Contains(string(files[c.entry]), c.want) {
			t.Errorf("%s lacks %q:\n%s", c.entry, c.want, files[c.entry])
		}
	}
}

// TestBundleLogRing: without a log file the bundle carries the recent log
// lines.
func TestBundleLogRing(t *testing.T) {
	r := newBundleAgent(t)
	r.opts.LogFiles = nil
	r.log.Info("a line for the ring")
	var buf bytes.Buffer
	if err := r.diagnostics(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	_, files := readBundle(t, buf.Bytes())
	if !strings.Contains(string(files["logs/recent.log"]), "a line for the ring") {
		t.Fatalf("logs/recent.log: %q", files["logs/recent.log"])
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"snmp://public@printer.lan?version=2c", "snmp://REDACTED@printer.lan?version=2c"},
		{"http://user:pw@proxy:3128", "http://REDACTED@proxy:3128"},
		{"ipp://printer.lan/ipp/print", "ipp://printer.lan/ipp/print"},
		{"https://s3.example/b/k?X-Amz-Signature=abc&X-Amz-Credential=def&x=1", "https://s3.example/b/k?X-Amz-Credential=%28redacted%29&X-Amz-Signature=%28redacted%29&x=1"},
		{"not a url", "not a url"},
		{"http://u:p@[::1:bad", "http://REDACTED"},
	}
	for _, c := range cases {
		if got := redactURL(c.in); got != c.want {
			t.Errorf("redactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
