//go:build unix

package hub

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Everything the hub writes in its data directory is its own only, whatever
// the umask: the database and its -wal and -shm, hub.key, admin-token, job
// documents (files 0600), the directories (0700). The umask is set to 000
// so that nothing rests on the usual 022 or 077.
func TestDataDirectoryPrivateUnderUmask0(t *testing.T) {
	sqliteOnly(t)
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Join(t.TempDir(), "data")
	if _, err := AdminToken("", dir, nil); err != nil {
		t.Fatal(err)
	}
	h := newTestHub(t, func(c *Config) { c.DataDir = dir })
	h.createUser(map[string]any{"username": "alice"})
	h.uploadJob(map[string]string{"owner": "alice"}, "a.pdf", readTestdata(t, "default.pdf"))
	if _, err := h.s.IssueAgentToken(t.Context(), "printer-1"); err != nil {
		t.Fatal(err)
	}
	// agent add on a directory no hub has opened yet creates it.
	other := filepath.Join(t.TempDir(), "other")
	if _, err := AddAgent(t.Context(), StoreLocation{DataDir: other}, "printer-2"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, root := range []string{dir, other} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			want := fs.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), want)
			}
			seen[d.Name()] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"hub.db", "hub.db-wal", "hub.db-shm", "hub.key", "admin-token", "jobs"} {
		if !seen[name] {
			t.Errorf("no %s in the data directory (%v)", name, seen)
		}
	}
	if len(seen) < 8 {
		t.Errorf("files seen: %v; want a job document too", seen)
	}
}
