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
		time.Duration(cfg.SessionTimeout) != 90*time.Second || cfg.JobOrder != "oldest" || cfg.PanelListen != "127.0.0.1:8631" ||
		cfg.SecondBadge != "logout" || cfg.Language != "en" {
		t.Fatalf("config %+v", cfg)
	}
}

// ok is a valid config file with extra, a `"key":value` list, added.
func ok(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"hub_url":"http://h:1","printer_uri":"ipp://p/ipp"` + extra + `}`
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
		{"bad second badge", `{"hub_url":"http://h:1","printer_uri":"ipp://p/ipp","second_badge":"switch"}`, "second_badge"},
		{"language without a catalogue", ok(`"language":"xx"`), `language "xx": want one of en, fr, de, cs`},
		{"unknown theme", ok(`"theme":"dark"`), `theme "dark": want one of standard, high-contrast`},
		{"theme spelled otherwise", ok(`"theme":"high_contrast"`), `theme "high_contrast"`},
		{"theme in capitals", ok(`"theme":"Standard"`), `theme "Standard"`},
		{"empty theme", ok(`"theme":""`), `theme "": want one of`},
		// Login and reader rules; ok is a config that passes, so each case
		// fails for its one key.
		{"unknown login mode", ok(`"login":["bogus"]`), `login: unknown mode "bogus"`},
		{"pin too short", ok(`"pin_min_length":3`), "pin_min_length 3: must be 4 to 16"},
		{"pin too long", ok(`"pin_min_length":17`), "pin_min_length 17: must be 4 to 16"},
		{"no lockout failures", ok(`"lockout_failures":0`), "lockout_failures: must be 1 or more"},
		{"negative debounce", ok(`"debounce":"-1s"`), "debounce: must be 0 (off) to 1m"},
		{"debounce too long", ok(`"debounce":"2m"`), "debounce: must be 0 (off) to 1m"},
		{"trailing data", ok(`"pin_min_length":4`) + "}", "unexpected data after the JSON object"},
		{"job larger than the spool", ok(`"ipp_max_job_mib":600,"ipp_spool_quota_mib":500`), "must fit in the quota"},
		{"unknown time zone", ok(`"time_zone":"Europe/Pariss"`), `time_zone "Europe/Pariss": want an IANA name`},
		{"offset is not a zone", ok(`"time_zone":"+01:00"`), `time_zone "+01:00"`},
		{"Local is not an IANA name", ok(`"time_zone":"Local"`), `time_zone "Local"`},
		{"a path is not a zone", ok(`"time_zone":"../../etc/passwd"`), `time_zone "../../etc/passwd"`},
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

// TestAccepts pins the edges of the ranges TestRejects refuses beyond, and
// that the base file of TestRejects is valid on its own.
func TestAccepts(t *testing.T) {
	tests := []struct {
		name, file string
		check      func(Config) bool
	}{
		{"base and debounce default", ok(""), func(c Config) bool { return time.Duration(c.Debounce) == 2*time.Second }},
		{"debounce off", ok(`"debounce":"0s"`), func(c Config) bool { return c.Debounce == 0 }},
		{"debounce at most", ok(`"debounce":"1m"`), func(c Config) bool { return time.Duration(c.Debounce) == time.Minute }},
		{"longest pin minimum", ok(`"pin_min_length":16`), func(c Config) bool { return c.PINMinLength == 16 }},
		{"one lockout failure", ok(`"lockout_failures":1`), func(c Config) bool { return c.LockoutFailures == 1 }},
		{"time zone default is the system's", ok(""), func(c Config) bool { l, err := c.Location(); return err == nil && l == time.Local }},
		{"time zone", ok(`"time_zone":"Europe/Paris"`), func(c Config) bool { l, err := c.Location(); return err == nil && l.String() == "Europe/Paris" }},
		{"theme default", ok(""), func(c Config) bool { return c.Theme == "standard" }},
		{"theme standard", ok(`"theme":"standard"`), func(c Config) bool { return c.Theme == "standard" }},
		{"theme high-contrast", ok(`"theme":"high-contrast"`), func(c Config) bool { return c.Theme == "high-contrast" }},
		{"time zone UTC", ok(`"time_zone":"UTC"`), func(c Config) bool { l, err := c.Location(); return err == nil && l == time.UTC }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.json")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if !tc.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

// QR login is a mode of its own, alone or beside the others.
func TestQRLoginMode(t *testing.T) {
	for _, modes := range []string{`["qr"]`, `["card","qr"]`, `["card+pin","password","qr"]`} {
		p := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(p, []byte(ok(`"login":`+modes)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err != nil {
			t.Errorf("login %s: %v", modes, err)
		}
	}
}
