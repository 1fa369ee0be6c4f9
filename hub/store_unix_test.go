//go:build unix

package hub

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The hub's database survives a power cut once it has acknowledged a write
// (synchronous=FULL on every pooled connection), is readable by its owner
// only, and opens at a path holding characters a DSN would misread.
func TestStoreDurableAndPrivate(t *testing.T) {
	// The usual umask would leave SQLite's files group- and world-readable;
	// the test sets it so the result does not depend on the environment.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	for _, name := range []string{"plain", "we?ird", "hash#dir", "per%41cent", "with space", "a?b#c%zz d"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "hub.db")
			ctx := context.Background()
			db, err := openDB(ctx, path)
			if err != nil {
				t.Fatalf("openDB: %v", err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, "INSERT INTO users (username, created_at, updated_at) VALUES ('u', 0, 0)"); err != nil {
				t.Fatal(err)
			}
			// Several connections held at once: each is a distinct pooled connection.
			var conns []interface{ Close() error }
			for i := range 3 {
				conn, err := db.SQL().Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, conn)
				var sync int
				if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
					t.Fatal(err)
				}
				if sync != 2 {
					t.Errorf("connection %d: synchronous = %d, want 2 (FULL)", i, sync)
				}
			}
			for _, c := range conns {
				c.Close()
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range entries {
				seen[e.Name()] = true
			}
			for _, f := range []string{"hub.db", "hub.db-wal", "hub.db-shm"} {
				if !seen[f] {
					t.Errorf("%s not in %s (files there: %v)", f, dir, seen)
					continue
				}
				fi, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if perm := fi.Mode().Perm(); perm != 0o600 {
					t.Errorf("%s mode %o, want 600", f, perm)
				}
			}
			if len(seen) != 3 {
				t.Errorf("files in the data directory: %v, want only hub.db and its -wal and -shm", seen)
			}
		})
	}
}
