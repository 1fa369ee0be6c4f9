package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
)

// TestDiagnosticsToStick: the technician's "diagnostics to the stick"
// writes the real agent's bundle into the tessera folder of each stick
// (directories standing for mounted sticks, one and two levels below a
// media root), under a name vfat takes, whole (no temporary file left);
// without a stick the panel says to insert one.
func TestDiagnosticsToStick(t *testing.T) {
	tests := []struct {
		name   string
		sticks []string // below the media root; each gets a tessera folder
		other  []string // directories without one: not sticks
	}{
		{"no stick", nil, []string{"usb0", "run/alice/CAMERA"}},
		{"one stick", []string{"usb0"}, nil},
		{"a stick two levels down", []string{"alice/TECH"}, []string{"alice"}},
		{"two sticks", []string{"usb0", "usb1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tt.sticks {
				mkdir(t, filepath.Join(root, d, "tessera"))
			}
			for _, d := range tt.other {
				mkdir(t, filepath.Join(root, d))
			}
			cfg := baseConfig(t)
			cfg.MediaRoots = []string{root}
			do, _ := techDo(t, cfg)
			agentID := getTechView(t, do).AgentID
			resp := do("POST", "/api/v1/technician/diagnostics", `{}`, true)
			var body struct {
				Files []struct {
					Stick, Name string
					Bytes       int64
				}
				Error struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if len(tt.sticks) == 0 {
				if resp.StatusCode != http.StatusConflict || body.Error.Code != "no-stick" || !strings.Contains(body.Error.Message, "tessera") {
					t.Fatalf("no stick: HTTP %d %+v", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || len(body.Files) != len(tt.sticks) {
				t.Fatalf("HTTP %d %+v", resp.StatusCode, body)
			}
			for i, d := range tt.sticks {
				f := body.Files[i]
				if f.Stick != filepath.Base(d) || strings.ContainsAny(f.Name, `:\/*?"<>|`) ||
					!strings.HasPrefix(f.Name, "diagnostics-"+agentID+"-") || !strings.HasSuffix(f.Name, ".tar.gz") {
					t.Errorf("file %+v", f)
				}
				dir := filepath.Join(root, d, "tessera")
				entries, _ := os.ReadDir(dir)
				if len(entries) != 1 || entries[0].Name() != f.Name {
					t.Fatalf("%s holds %v, want only %s", dir, entries, f.Name)
				}
				data, err := os.ReadFile(filepath.Join(dir, f.Name))
				if err != nil || int64(len(data)) != f.Bytes {
					t.Fatalf("%s: %d bytes, %v; the panel said %d", f.Name, len(data), err, f.Bytes)
				}
				if m := bundleManifestOf(t, data); m.AgentID != agentID || len(m.Entries) == 0 {
					t.Errorf("manifest %+v", m)
				}
			}
			left, _ := filepath.Glob(filepath.Join(cfg.DataDir, "stick-diagnostics-*"))
			if len(left) != 0 {
				t.Errorf("left in the data directory: %v", left)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// bundleManifestOf reads a bundle's manifest.json.
func bundleManifestOf(t *testing.T, data []byte) bundleManifest {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json: %v", err)
		}
		if h.Name == "manifest.json" {
			var m bundleManifest
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
}

// TestDiagnosticsName: the bundle's name on a stick holds no character
// vfat refuses, whatever the agent id, and the time in UTC.
func TestDiagnosticsName(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 5, 0, time.FixedZone("CET", 3600))
	for _, tt := range []struct{ id, want string }{
		{"agt-0123456789abcdef", "diagnostics-agt-0123456789abcdef-20261207T083005Z.tar.gz"},
		{`a:b/c\d*e`, "diagnostics-a-b-c-d-e-20261207T083005Z.tar.gz"},
	} {
		if got := diagnosticsName(tt.id, at); got != tt.want {
			t.Errorf("diagnosticsName(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

// resetAgent is an agent run by Run (its supervisor, as in production)
// with a technician PIN and no hub, whose re-exec is the test's.
type resetAgent struct {
	base   string
	token  string
	pin    string
	execs  chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func runResetAgent(t *testing.T, cfg config.Config) *resetAgent {
	t.Helper()
	a := &resetAgent{pin: "90210333", execs: make(chan struct{}, 1), done: make(chan error, 1)}
	cfg.TechnicianPINFile = filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(cfg.TechnicianPINFile, []byte(a.pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	opts := Options{Logger: slog.New(slog.DiscardHandler), Ready: func(addr string) { ready <- addr },
		// The re-exec replaces the process: here the run ends.
		Exec: func() error { a.execs <- struct{}{}; cancel(); return errors.New("replaced") }}
	go func() { a.done <- Run(ctx, cfg, opts) }()
	t.Cleanup(func() { cancel(); <-a.done })
	select {
	case addr := <-ready:
		a.base = "http://" + addr
	case err := <-a.done:
		t.Fatalf("the agent stopped: %v", err)
	}
	var login struct{ Token string }
	if code := a.do(t, "POST", "/api/v1/technician/login", `{"pin":"`+a.pin+`"}`, &login); code != http.StatusOK {
		t.Fatalf("login: HTTP %d", code)
	}
	a.token = login.Token
	return a
}

// do sends a technician request and decodes the answer into out.
func (a *resetAgent) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// seedPersonal leaves in cfg's data directory what a working agent holds
// about people: an unsent accounting record and a spooled document of
// grace's, a device token.
func seedPersonal(t *testing.T, cfg config.Config) {
	t.Helper()
	ctx := context.Background()
	st, err := offline.Open(ctx, filepath.Join(cfg.DataDir, "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Enqueue(ctx, offline.KindAccounting, "rec-grace", map[string]string{"owner": "grace", "card": "04A1B2C3"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for name, data := range map[string]string{"device-token": "token-of-grace-s-printer", "spool/job-1": "grace's salary slip"} {
		mkdir(t, filepath.Dir(filepath.Join(cfg.DataDir, name)))
		if err := os.WriteFile(filepath.Join(cfg.DataDir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// holding lists the files under dir holding any of needles.
func holding(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				found = append(found, fmt.Sprintf("%s holds %q", filepath.Base(path), n))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestTechnicianFactoryReset: the technician menu's factory reset on the
// real agent under its supervisor: the confirmation screen's count of
// unsent records; refusals (no confirmation, unsent records without
// force) that change nothing (a wrong PIN: panel's TestTechnicianReset); and the reset itself, from inside
// the running agent (its lock held): the data directory keeps nothing of
// grace (record, card, document, device token), a note for the new
// process, and the binary is re-executed. A second run starts as new.
func TestTechnicianFactoryReset(t *testing.T) {
	cfg := baseConfig(t)
	cfg.LogFile = filepath.Join(t.TempDir(), "tessera.log")
	if err := os.WriteFile(cfg.LogFile, []byte("grace logged in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seedPersonal(t, cfg)
	a := runResetAgent(t, cfg)
	var before techView
	a.do(t, "GET", "/api/v1/technician", "", &before)

	var info struct {
		UnsentRecords int `json:"unsent_records"`
	}
	if code := a.do(t, "GET", "/api/v1/technician/reset", "", &info); code != http.StatusOK || info.UnsentRecords != 1 {
		t.Fatalf("reset info: HTTP %d %+v", code, info)
	}
	refusals := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not confirmed", `{"pin":"90210333","force":true}`, http.StatusBadRequest, "confirm"},
		{"unsent records", `{"pin":"90210333","confirm":true}`, http.StatusConflict, "unsent-records"},
	}
	for _, r := range refusals {
		var body struct {
			UnsentRecords int `json:"unsent_records"`
			Error         struct{ Code string }
		}
		if code := a.do(t, "POST", "/api/v1/technician/reset", r.body, &body); code != r.status || body.Error.Code != r.code {
			t.Errorf("%s: HTTP %d %+v, want %d %s", r.name, code, body, r.status, r.code)
		}
		if r.code == "unsent-records" && body.UnsentRecords != 1 {
			t.Errorf("%s: %d unsent records told", r.name, body.UnsentRecords)
		}
		if found := holding(t, cfg.DataDir, "grace"); len(found) == 0 {
			t.Fatalf("%s wiped the data directory", r.name)
		}
	}
	if code := a.do(t, "POST", "/api/v1/technician/reset", `{"pin":"90210333","confirm":true,"force":true}`, nil); code != http.StatusAccepted {
		t.Fatalf("forced reset: HTTP %d", code)
	}
	select {
	case <-a.execs:
	case err := <-a.done:
		t.Fatalf("the agent stopped without re-executing: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no re-exec after the reset")
	}
	<-a.done
	a.done <- nil // for the cleanup
	if found := holding(t, cfg.DataDir, "grace", "04A1B2C3", "token-of-grace-s-printer"); len(found) > 0 {
		t.Errorf("after the reset: %v", found)
	}
	entries, _ := os.ReadDir(cfg.DataDir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{lockFileName, resetNoteFile}; !slices.Equal(left, want) {
		t.Errorf("left after the reset: %v, want %v", left, want)
	}
	if _, err := os.Stat(cfg.LogFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the log file: %v", err)
	}
	// The new process: a new agent, the note read and gone.
	b := runResetAgent(t, cfg)
	var after techView
	b.do(t, "GET", "/api/v1/technician", "", &after)
	if after.AgentID == "" || after.AgentID == before.AgentID {
		t.Errorf("agent id %q after the reset, %q before", after.AgentID, before.AgentID)
	}
	testutil.WaitFor(t, 5*time.Second, "the note removed", func() bool {
		_, err := os.Stat(filepath.Join(cfg.DataDir, resetNoteFile))
		return errors.Is(err, fs.ErrNotExist)
	})
}
