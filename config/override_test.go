package config

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckRemote: a set-config task's unknown and refused keys are all
// reported at once; the keys it may set pass.
func TestCheckRemote(t *testing.T) {
	tests := []struct {
		name string
		o    Override
		want []string // "" : no error
	}{
		{"allowed keys", Override{"session_timeout": json.RawMessage(`"75s"`), "language": json.RawMessage(`"fr"`)}, nil},
		{"data_dir", Override{"data_dir": json.RawMessage(`"/tmp"`)}, []string{"key data_dir cannot be set remotely"}},
		{"identity and trust together", Override{"device_token_file": json.RawMessage(`"x"`), "hub_ca_file": json.RawMessage(`"x"`),
			"technician_pin_file": json.RawMessage(`"x"`), "proxy_password_file": json.RawMessage(`"x"`)},
			[]string{"key device_token_file cannot", "key hub_ca_file cannot", "key technician_pin_file cannot", "key proxy_password_file cannot"}},
		{"unknown and refused together", Override{"sesion_timeout": json.RawMessage(`"1s"`), "hub_cert_sha256": json.RawMessage(`[]`)},
			[]string{`unknown key "sesion_timeout"`, "key hub_cert_sha256 cannot"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRemote(tc.o)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckRemote: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckRemote passed, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestApplyOverride: every bad key and value is reported at once, the
// good ones are set.
func TestApplyOverride(t *testing.T) {
	cfg := Default()
	err := cfg.ApplyOverride(Override{"session_timeout": json.RawMessage(`"banana"`), "language": json.RawMessage(`"fr"`),
		"nope": json.RawMessage(`1`), "data_dir": json.RawMessage(`"/x"`), "pin_min_length": json.RawMessage(`"six"`)})
	for _, w := range []string{"session_timeout: time: invalid duration \"banana\"", `unknown key "nope"`, "data_dir cannot be overridden", "pin_min_length"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %q", err, w)
		}
	}
	if cfg.Language != "fr" {
		t.Errorf("language %q, want fr (set despite the others)", cfg.Language)
	}
}

// TestLayersPrecedence: the file is under the override, the override under
// the flags; the override is read from the data directory the file and
// the flags name.
func TestLayersPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.json")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(file, `{"session_timeout": "10s", "language": "de", "job_order": "oldest", "log_level": "warn"}`)
	if err := WriteOverride(OverridePath(dir), Override{"language": json.RawMessage(`"fr"`), "log_level": json.RawMessage(`"error"`)}); err != nil {
		t.Fatal(err)
	}
	flags := func(args ...string) func(*Config) error {
		return func(c *Config) error {
			fs := flag.NewFlagSet("run", flag.ContinueOnError)
			c.Flags(fs)
			return fs.Parse(args)
		}
	}
	tests := []struct {
		name  string
		args  []string
		check func(Config) string
	}{
		{"file under override", []string{"--data", dir}, func(c Config) string {
			if c.Language != "fr" || c.SessionTimeout != Duration(10*time.Second) || c.JobOrder != "oldest" {
				return "language " + c.Language + ", session_timeout " + time.Duration(c.SessionTimeout).String()
			}
			return ""
		}},
		{"override under flags", []string{"--data", dir, "--log-level", "debug"}, func(c Config) string {
			if c.LogLevel != "debug" || c.Language != "fr" {
				return "log_level " + c.LogLevel + ", language " + c.Language
			}
			return ""
		}},
		{"no override in another data directory", []string{"--data", t.TempDir()}, func(c Config) string {
			if c.Language != "de" || c.LogLevel != "warn" {
				return "language " + c.Language
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Layers{File: file, Flags: flags(tc.args...)}.Load()
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestWriteOverride: 0600, read back the same, removed when empty.
func TestWriteOverride(t *testing.T) {
	path := OverridePath(t.TempDir())
	o := Override{"session_timeout": json.RawMessage(`"75s"`)}
	if err := WriteOverride(path, o); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("override file: %v %v, want mode 0600", st, err)
	}
	got, err := ReadOverride(path)
	if err != nil || string(got["session_timeout"]) != `"75s"` || len(got) != 1 {
		t.Fatalf("read back %v %v", got, err)
	}
	if err := WriteOverride(path, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadOverride(path); err != nil || len(got) != 0 {
		t.Fatalf("after an empty write: %v %v", got, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an empty override leaves no file: %v", err)
	}
}

// TestValueCompares: a value is compared in the config's own form.
func TestValueCompares(t *testing.T) {
	a, b := Default(), Default()
	if err := a.ApplyOverride(Override{"session_timeout": json.RawMessage(`"75s"`)}); err != nil {
		t.Fatal(err)
	}
	if err := b.ApplyOverride(Override{"session_timeout": json.RawMessage(`"1m15s"`)}); err != nil {
		t.Fatal(err)
	}
	if a.Value("session_timeout") != b.Value("session_timeout") || a.Value("session_timeout") == Default().Value("session_timeout") {
		t.Errorf("values %s %s", a.Value("session_timeout"), b.Value("session_timeout"))
	}
}
