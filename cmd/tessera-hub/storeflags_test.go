package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreFlags: where the store is, from --data or a PostgreSQL DSN
// (--db, --db-file, $TESSERA_HUB_DB) with --secrets-key-file, the same for
// every command; a password on the command line is refused.
func TestStoreFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("secrets.key", strings.Repeat("ab", 32)+"\n")
	short := write("short.key", "abcd")
	dsnFile := write("dsn", "postgres://hub:s3cret@db.lan/hub\n")
	tests := []struct {
		name    string
		args    []string
		env     string
		wantDB  string
		wantErr string
	}{
		{"data", []string{"--data", "/var/lib/hub"}, "", "", ""},
		{"nothing", nil, "", "", "--data DIR is required"},
		{"secrets without db", []string{"--data", "d", "--secrets-key-file", key}, "", "", "goes with a PostgreSQL DSN"},
		{"db", []string{"--db", "postgres://hub@db.lan/hub", "--secrets-key-file", key}, "", "postgres://hub@db.lan/hub", ""},
		{"db with password", []string{"--db", "postgres://hub:pw@db.lan/hub", "--secrets-key-file", key}, "", "", "holds a password"},
		{"db key=value password", []string{"--db", "host=db.lan password=pw", "--secrets-key-file", key}, "", "", "holds a password"},
		{"db-file", []string{"--db-file", dsnFile, "--secrets-key-file", key}, "", "postgres://hub:s3cret@db.lan/hub", ""},
		{"env", []string{"--secrets-key-file", key}, "postgres://hub:pw@db.lan/hub", "postgres://hub:pw@db.lan/hub", ""},
		{"twice", []string{"--db", "postgres://db.lan/hub", "--secrets-key-file", key}, "postgres://x/y", "", "give the PostgreSQL DSN once"},
		{"db without secrets key", []string{"--db", "postgres://db.lan/hub"}, "", "", "needs --secrets-key-file"},
		{"bad secrets key", []string{"--db", "postgres://db.lan/hub", "--secrets-key-file", short}, "", "", "want 64 hex digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var sf storeFlags
			sf.register(fs, "data")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			loc, secrets, err := sf.resolve("cmd", func(k string) string {
				if k == dbEnv {
					return tc.env
				}
				return ""
			})
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error shows the password: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			case loc.Database != tc.wantDB:
				t.Errorf("database %q, want %q", loc.Database, tc.wantDB)
			case (tc.wantDB != "") != (len(secrets) == 32):
				t.Errorf("secrets key of %d bytes", len(secrets))
			}
		})
	}
}
