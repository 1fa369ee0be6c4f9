package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/internal/testenv"
)

// TestAdminAdd: `tessera-hub admin add` reads the password from standard
// input and creates the administrator, on SQLite (--data) and PostgreSQL
// (--db-file, --secrets-key-file); an empty, short or missing password, a
// bad role and a taken username are refused, and the password is never in
// the database in clear.
func TestAdminAdd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	sqlite := []string{"--data", data}
	engines := map[string][]string{"sqlite": sqlite}
	if os.Getenv("TESSERA_HUB_TEST_DB") == "postgres" {
		engines["postgres"] = postgresStoreFlags(t)
	}
	const pw = "correct horse battery staple"
	for engine, store := range engines {
		cases := []struct {
			name, username, role, stdin string
			wantErr                     error // nil: any error
			ok                          bool
		}{
			{"administrator", "root", "administrator", pw + "\n", nil, true},
			{"reports without a newline", "accountant", "reports", pw, nil, true},
			{"taken username", "root", "reports", pw + "\n", hub.ErrAdminExists, false},
			{"empty password", "eve", "administrator", "\n", nil, false},
			{"no standard input", "eve", "administrator", "", nil, false},
			{"short password", "eve", "administrator", "short\n", hub.ErrInvalidAdmin, false},
			{"bad role", "eve", "owner", pw + "\n", hub.ErrInvalidAdmin, false},
			{"bad username", "e ve", "administrator", pw + "\n", hub.ErrInvalidAdmin, false},
		}
		for _, c := range cases {
			t.Run(engine+"/"+c.name, func(t *testing.T) {
				var out bytes.Buffer
				args := append([]string{"add", "--username", c.username, "--role", c.role}, store...)
				err := adminCommand(context.Background(), args, strings.NewReader(c.stdin), &out, io.Discard, func(string) string { return "" })
				switch {
				case c.ok && err != nil:
					t.Fatalf("admin add: %v", err)
				case c.ok && !strings.Contains(out.String(), c.username):
					t.Errorf("stdout %q", out.String())
				case !c.ok && err == nil:
					t.Fatal("admin add accepted it")
				case !c.ok && c.wantErr != nil && !errors.Is(err, c.wantErr):
					t.Errorf("error %v, want %v", err, c.wantErr)
				}
			})
		}
	}
	for _, f := range []string{"hub.db", "hub.db-wal"} {
		b, err := os.ReadFile(filepath.Join(data, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(pw)) {
			t.Errorf("%s holds the password in clear", f)
		}
	}
}

// postgresStoreFlags are the store flags of a new PostgreSQL database.
func postgresStoreFlags(t *testing.T) []string {
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()
	dsnFile, keyFile := filepath.Join(dir, "dsn"), filepath.Join(dir, "secrets.key")
	if err := os.WriteFile(dsnFile, []byte(pg.NewDatabase(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("5e", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--db-file", dsnFile, "--secrets-key-file", keyFile}
}
