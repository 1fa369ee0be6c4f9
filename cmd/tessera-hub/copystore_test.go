package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// runHubEnv runs `BIN ARGS` with env added to this process's, and returns
// its stdout, stderr and exit status.
func runHubEnv(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errb
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

// tessera-hub copy-store copies a serving SQLite hub to PostgreSQL with
// the DSN from a file, prints a line per table, and run again (the DSN
// from $TESSERA_HUB_DB) verifies and writes nothing; its flags are
// checked before anything is opened, and the DSN's password is never
// printed.
func TestCopyStoreCommand(t *testing.T) {
	bin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-hub")
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "hub")
	addr := serveBinary(t, bin, data)
	tokb, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokb))
	for _, u := range []string{
		`{"username":"alice","full_name":"Alice","cards":["04A1B2C3"],"pins":["2580"]}`,
		`{"username":"bob","full_name":"Bob","cards":["B0B0B0B0"]}`,
	} {
		if code, body := adminCall(t, addr, token, http.MethodPost, "/api/v1/users", u); code != http.StatusCreated {
			t.Fatalf("create user: %d %s", code, body)
		}
	}
	if code, body := adminCall(t, addr, token, http.MethodPost, "/api/v1/agents", `{"id":"printer-1"}`); code != http.StatusCreated {
		t.Fatalf("add agent: %d %s", code, body)
	}

	// Trust authentication: the password is sent only if asked, never here.
	const password = "s3cret-pw-4417"
	dsn := strings.Replace(pg.NewDatabase(t), "tessera@", "tessera:"+password+"@", 1)
	dsnFile := filepath.Join(dir, "dsn")
	keyFile := filepath.Join(dir, "secrets.key")
	badKey := filepath.Join(dir, "bad.key")
	for name, content := range map[string]string{dsnFile: dsn + "\n", keyFile: strings.Repeat("5e", 32) + "\n", badKey: "5e5e\n"} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	usage := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no secrets key", nil, []string{"--from", data, "--to-file", dsnFile}, "--secrets-key-file FILE is required"},
		{"short secrets key", nil, []string{"--from", data, "--to-file", dsnFile, "--secrets-key-file", badKey}, "want 64 hex digits"},
		{"no source", nil, []string{"--to-file", dsnFile, "--secrets-key-file", keyFile}, "--from DIR is required"},
		{"no DSN", []string{"TESSERA_HUB_DB="}, []string{"--from", data, "--secrets-key-file", keyFile}, "--to-file DSNFILE or $TESSERA_HUB_DB"},
		{"DSN in argv", nil, []string{"--from", data, "--secrets-key-file", keyFile, dsn}, "never on the command line"},
		{"source missing", nil, []string{"--from", filepath.Join(dir, "nothing"), "--to-file", dsnFile, "--secrets-key-file", keyFile}, "no such file"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runHubEnv(t, bin, tc.env, append([]string{"copy-store"}, tc.args...)...)
			if code != 2 || out != "" || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errs, tc.want)
			}
			if strings.Contains(errs, password) {
				t.Errorf("stderr shows the DSN's password: %q", errs)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a copy from a missing directory made it: %v", err)
	}

	out, errs, code := runHubEnv(t, bin, []string{"TESSERA_HUB_DB="}, "copy-store", "--from", data, "--to-file", dsnFile, "--secrets-key-file", keyFile)
	if code != 0 || !regexp.MustCompile(`(?m)^users +2 +[0-9a-f]{64}$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^cards +2 `).MatchString(out) || !regexp.MustCompile(`(?m)^agents +1 `).MatchString(out) ||
		!strings.Contains(out, "copied the hub of "+data+" to PostgreSQL") || !strings.Contains(out, "documents: 0 copied") {
		t.Fatalf("copy-store: exit %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
	again, errs, code := runHubEnv(t, bin, []string{"TESSERA_HUB_DB=" + dsn}, "copy-store", "--from", data, "--secrets-key-file", keyFile)
	if code != 0 || !strings.Contains(again, "already holds the hub of "+data) {
		t.Fatalf("copy-store again: exit %d, stdout:\n%s\nstderr: %s", code, again, errs)
	}
	// The same tables, rows and checksums both times.
	if table := func(s string) string { return s[:strings.Index(s, "\ncopied")] }; !strings.HasPrefix(again, table(out)+"\n") {
		t.Errorf("tables of the second run:\n%s\nof the first:\n%s", again, out)
	}
	for _, s := range []string{out, errs, again} {
		if strings.Contains(s, password) {
			t.Errorf("output shows the DSN's password: %q", s)
		}
	}
}
