package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(cfg, []byte(`{"hub_url":"ftp://x","job_order":"random"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"version", []string{"version"}, "", "tessera dev"},
		{"no command", nil, "no command given", ""},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, ""},
		{"bad flag", []string{"run", "--bogus"}, "flag provided but not defined", ""},
		{"missing config file", []string{"run", "--config", "/nonexistent.json"}, "read config", ""},
		// Every problem of a config is reported at once, before anything starts.
		{"invalid config", []string{"run", "--config", cfg, "--printer", "lpd://p/q"}, "hub_url", ""},
		{"invalid config lists all", []string{"run", "--config=" + cfg}, "job_order", ""},
		{"bad pipeline", []string{"run", "--data", t.TempDir(), "--hub", "http://127.0.0.1:1", "--printer", "ipp://127.0.0.1:1/ipp/print",
			"--panel-listen", "127.0.0.1:0", "--card-pipeline", "hex2dec|hexx"}, "card_pipeline", ""},
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
