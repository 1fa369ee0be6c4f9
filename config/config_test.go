package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadAndFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tessera.json")
	data := `{"data_dir":"/srv/t","hub_url":"https://hub.example:8443","printer_uri":"ipps://p.lan/ipp/print",
	"readers":["tcp-listen://127.0.0.1:7000"],"session_timeout":"90s","job_order":"oldest"}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.Flags(fs)
	if err := fs.Parse([]string{"--reader", "tcp-listen://127.0.0.1:7001", "--reader", "tcp-listen://127.0.0.1:7002", "--data", "/d"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/d" || len(cfg.Readers) != 2 || cfg.Readers[0] != "tcp-listen://127.0.0.1:7001" ||
		time.Duration(cfg.SessionTimeout) != 90*time.Second || cfg.JobOrder != "oldest" || cfg.PanelListen != "127.0.0.1:8631" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"unknown key", `{"hub_urll":"x"}`, "unknown field"},
		{"bad duration", `{"session_timeout":60}`, "duration"},
		{"missing hub and printer", `{}`, "hub_url: required"},
		{"bad hub scheme", `{"hub_url":"ftp://h:1","printer_uri":"ipp://p/ipp"}`, "hub_url"},
		{"bad printer scheme", `{"hub_url":"http://h:1","printer_uri":"lpd://p/q"}`, "printer_uri"},
		{"bad order", `{"hub_url":"http://h:1","printer_uri":"ipp://p/ipp","job_order":"random"}`, "job_order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.json")
			_ = os.WriteFile(path, []byte(tc.file), 0o600)
			cfg, err := Load(path)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
