package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestServeNodesOnPostgres: two `tessera-hub serve` nodes on one
// PostgreSQL database (--db-file, --secrets-key-file), one with a data
// directory it leaves empty, one without: what one does through the admin API the other
// answers, and `agent add --db-file` beside them enrolls an agent both
// list. The DSN's password never reaches argv.
func TestServeNodesOnPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	keyFile := filepath.Join(dir, "secrets.key")
	if err := os.WriteFile(dsnFile, []byte(pg.NewDatabase(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("5e", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := []string{"--db-file", dsnFile, "--secrets-key-file", keyFile}
	// Node 2 has no data directory at all: the database holds everything.
	n1 := startServe(t, append([]string{"--data", filepath.Join(dir, "n1"), "--listen", "127.0.0.1:0"}, store...)...)
	n2 := startServe(t, append([]string{"--listen", "127.0.0.1:0"}, store...)...)
	const token = "admin-token-for-tests" // startServe's
	if code, body := adminCall(t, n1, token, http.MethodPost, "/api/v1/users", `{"username":"alice","pins":["25803"]}`); code != http.StatusCreated {
		t.Fatalf("create alice at node 1: %d %s", code, body)
	}
	if code, body := adminCall(t, n2, token, http.MethodGet, "/api/v1/users/alice", ""); code != http.StatusOK || !strings.Contains(body, `"pin_count":1`) {
		t.Errorf("alice at node 2: %d %s", code, body)
	}
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"agent", "add", "printer-1"}, store...), &out, io.Discard, func(string) string { return "" })
	if err != nil || !tokenRe.MatchString(out.String()) {
		t.Fatalf("agent add --db-file: %v %q", err, out.String())
	}
	for _, addr := range []string{n1, n2} {
		if ids := agentIDs(t, addr, token); !slices.Contains(ids, "printer-1") {
			t.Errorf("agents at %s: %v", addr, ids)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "n1")); len(entries) != 0 {
		t.Errorf("node 1 wrote %d files in its data directory: on PostgreSQL the database holds everything", len(entries))
	}
}
