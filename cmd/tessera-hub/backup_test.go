package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// serveBinary runs `BIN serve` on a loopback port over data, with the
// admin token generated in data, until the test ends; it returns the
// hub's address.
func serveBinary(t *testing.T, bin, data string) string {
	t.Helper()
	logs := &testenv.Buffer{}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), "TESSERA_HUB_ADMIN_TOKEN=")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve %s: %v\n%s", data, err, logs)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve %s still running 20 s after SIGTERM", data)
		}
	})
	var addr string
	testutil.WaitFor(t, 30*time.Second, "the hub listening", func() bool {
		m := listeningRe.FindStringSubmatch(logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// runHub runs `BIN ARGS` with stdin and returns its stdout, stderr and
// exit status.
func runHub(t *testing.T, bin string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// adminCall sends an admin API request and returns the status and body.
func adminCall(t *testing.T, addr, token, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// agentIDs lists the ids GET /api/v1/agents answers.
func agentIDs(t *testing.T, addr, token string) []string {
	t.Helper()
	code, body := adminCall(t, addr, token, http.MethodGet, "/api/v1/agents", "")
	var resp struct {
		Agents []struct {
			ID string `json:"id"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(body), &resp); code != http.StatusOK || err != nil {
		t.Fatalf("agents: %d %s (%v)", code, body, err)
	}
	var ids []string
	for _, a := range resp.Agents {
		ids = append(ids, a.ID)
	}
	return ids
}

// tessera-hub backup of a serving hub, restored with tessera-hub restore
// (from a file, and through a pipe), serves the same users and agents
// with the same generated admin token; a restore into a non-empty
// directory is refused.
func TestBackupRestoreCommands(t *testing.T) {
	bin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-hub")
	dir := t.TempDir()
	orig := filepath.Join(dir, "hub")
	addr := serveBinary(t, bin, orig)
	tokb, err := os.ReadFile(filepath.Join(orig, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokb))
	for _, u := range []string{
		`{"username":"alice","full_name":"Alice","cards":["04A1B2C3"],"pins":["2580"]}`,
		`{"username":"bob","full_name":"Bob"}`,
	} {
		if code, body := adminCall(t, addr, token, http.MethodPost, "/api/v1/users", u); code != http.StatusCreated {
			t.Fatalf("create user: %d %s", code, body)
		}
	}
	if code, body := adminCall(t, addr, token, http.MethodPost, "/api/v1/agents", `{"id":"printer-1"}`); code != http.StatusCreated {
		t.Fatalf("add agent: %d %s", code, body)
	}

	archive := filepath.Join(dir, "hub.tar.gz")
	out, errs, code := runHub(t, bin, nil, "backup", "--data", orig, "--to", archive)
	if code != 0 || out != "" || !strings.Contains(errs, "2 users, 1 cards, 1 PINs") {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
	}
	piped, errs, code := runHub(t, bin, nil, "backup", "--data", orig, "--to", "-")
	if code != 0 || len(piped) == 0 {
		t.Fatalf("backup --to -: exit %d, %d bytes, stderr %q", code, len(piped), errs)
	}

	restored := filepath.Join(dir, "restored")
	if _, errs, code := runHub(t, bin, nil, "restore", "--from", archive, "--data", restored); code != 0 || !strings.Contains(errs, "restored into") {
		t.Fatalf("restore: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := runHub(t, bin, nil, "restore", "--from", archive, "--data", restored); code != 2 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore into the restored directory: exit %d, stderr %q; want 2, not empty", code, errs)
	}
	fromPipe := filepath.Join(dir, "from-pipe")
	if _, errs, code := runHub(t, bin, strings.NewReader(piped), "restore", "--from", "-", "--data", fromPipe); code != 0 {
		t.Fatalf("restore --from -: exit %d, stderr %q", code, errs)
	}

	for _, data := range []string{restored, fromPipe} {
		raddr := serveBinary(t, bin, data)
		for _, u := range []string{"alice", "bob"} {
			wantCode, want := adminCall(t, addr, token, http.MethodGet, "/api/v1/users/"+u, "")
			gotCode, got := adminCall(t, raddr, token, http.MethodGet, "/api/v1/users/"+u, "")
			if gotCode != http.StatusOK || gotCode != wantCode || got != want {
				t.Errorf("%s on the hub restored in %s: %d %s, want %d %s", u, data, gotCode, got, wantCode, want)
			}
		}
		if got, want := agentIDs(t, raddr, token), agentIDs(t, addr, token); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("agents restored in %s: %v, want %v", data, got, want)
		}
	}
}

// tessera-hub backup with a PostgreSQL flag says to use pg_dump and where
// the docs say how, instead of "flag provided but not defined", and
// writes nothing.
func TestBackupPostgresFlags(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"db", []string{"--db", "postgres://tessera@127.0.0.1/hub", "--to", "x"}},
		{"db-file", []string{"--db-file", dsnFile, "--secrets-key-file", "k", "--to", "x"}},
		{"secrets key alone", []string{"--data", dir, "--secrets-key-file", "k", "--to", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := filepath.Join(dir, tc.name+".tar.gz")
			args := append(append([]string(nil), tc.args[:len(tc.args)-1]...), to)
			var stdout, stderr bytes.Buffer
			err := backupCommand(t.Context(), args, &stdout, &stderr)
			if !errors.Is(err, errBackupPostgres) {
				t.Fatalf("backup %v: %v, want %v", args, err, errBackupPostgres)
			}
			for _, want := range []string{"pg_dump", `docs/hub-backup.md, section "A PostgreSQL hub"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("backup wrote %s: %v", to, err)
			}
		})
	}
}
