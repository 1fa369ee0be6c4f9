package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

func TestCommands(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.json")
	// A data directory of the test's own: never the default one, which
	// the parallel cases would share (and its lock).
	if err := os.WriteFile(cfg, []byte(`{"hub_url":"ftp://x","job_order":"random","data_dir":"`+t.TempDir()+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"version", []string{"version"}, "", "tessera 0.0.0-dev"},
		{"version names the update roots", []string{"version"}, "", "update root c0f8380bebfed55f tessera-root-2026"},
		{"no command", nil, "no command given", ""},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, ""},
		{"bad flag", []string{"run", "--bogus"}, "flag provided but not defined", ""},
		{"missing config file", []string{"run", "--config", "/nonexistent.json"}, "read config", ""},
		// Every problem of a config is reported at once, before anything starts.
		{"invalid config", []string{"run", "--config", cfg, "--data", t.TempDir(), "--printer", "lpd://p/q"}, "hub_url", ""},
		{"invalid config lists all", []string{"run", "--config=" + cfg}, "job_order", ""},
		{"bad pipeline", []string{"run", "--data", t.TempDir(), "--hub", "http://127.0.0.1:1", "--printer", "ipp://127.0.0.1:1/ipp/print",
			"--panel-listen", "127.0.0.1:0", "--card-pipeline", "hex2dec|hexx"}, "card_pipeline", ""},
		// The flag names the file, overriding the config: a directory
		// there is refused as device_token_file before anything starts.
		{"device token file", []string{"run", "--data", t.TempDir(), "--hub", "http://127.0.0.1:1", "--printer", "ipp://127.0.0.1:1/ipp/print",
			"--panel-listen", "127.0.0.1:0", "--device-token-file", t.TempDir()}, "device_token_file", ""},
		{"unknown login mode", []string{"run", "--data", t.TempDir(), "--hub", "http://127.0.0.1:1", "--printer", "ipp://127.0.0.1:1/ipp/print",
			"--login", "card,face"}, `login: unknown mode "face"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tc.args, strings.NewReader(""), &out, &errOut)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output %q, want %q", out.String(), tc.wantOut)
			}
		})
	}
}

// TestExitStatus runs the built binary: what main makes of an error (the
// exit status, the message on stderr) is only visible from outside.
func TestExitStatus(t *testing.T) {
	bin := testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"version", []string{"version"}, 0, ""},
		{"unknown command", []string{"frobnicate"}, 2, `tessera: unknown command "frobnicate"`},
		{"card refused", []string{"card", "convert", "--pipeline", "hex2dec", "94GZ"}, 1, "not a hexadecimal"},
		// An unknown login mode is refused before anything starts, as a
		// start-up error.
		{"unknown login mode", []string{"run", "--data", t.TempDir(), "--hub", "http://127.0.0.1:1", "--printer", "ipp://127.0.0.1:1/ipp/print",
			"--panel-listen", "127.0.0.1:0", "--login", "card,face"}, 2, `tessera: config: login: unknown mode "face"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				code = ee.ExitCode()
			case err != nil:
				t.Fatalf("run %s: %v", bin, err)
			}
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Fatalf("exit status %d, stderr %q; want %d and %q", code, stderr.String(), tc.wantCode, tc.wantStderr)
			}
		})
	}
}
