package hub

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// writeUsers creates users w-0, w-1, ... each with a card, through the
// admin API, until ctx ends; written counts those created.
func writeUsers(ctx context.Context, h *testHub, written *atomic.Int64) error {
	for i := 0; ; i++ {
		body := fmt.Sprintf(`{"username":"w-%d","cards":["W-CARD-%d"]}`, i, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/api/v1/users", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.srv.Client().Do(req)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("create w-%d: %s", i, resp.Status)
		}
		written.Add(1)
	}
}

// userRows are the stored users, in order: what a restore must keep.
func (h *testHub) userRows() []string {
	h.t.Helper()
	rows, err := h.s.db.Query("SELECT username, full_name, COALESCE(password_hash, ''), created_at FROM users ORDER BY id")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, full, hash string
		var created int64
		if err := rows.Scan(&name, &full, &hash, &created); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%d", name, full, hash, created))
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// loginAs is the user a card, PIN or password logs in as at a, "" if
// refused.
func (a *testAgent) loginAs(req protocol.AuthorizeRequest) string {
	a.t.Helper()
	resp := a.authorize(req)
	if resp.Status != protocol.AuthAccepted || resp.User == nil {
		return ""
	}
	return resp.User.Username
}

// populatedHub is a hub with alice (password, card, PIN), bob, an agent,
// a held job of alice's, a deleted job of bob's and a held job whose
// document is gone, as if removed after the backup's snapshot.
func populatedHub(t *testing.T) (h *testHub, held, deleted, lost string) {
	h = openHub(t)
	h.createUser(map[string]any{"username": "alice", "full_name": "Alice", "password": "correct horse battery",
		"cards": []any{"04A1B2C3"}, "pins": []any{"2580"}})
	h.createUser(map[string]any{"username": "bob"})
	doc := readTestdata(t, "default.pdf")
	held = h.uploadJob(map[string]string{"owner": "alice", "name": "held"}, "default.pdf", doc)
	deleted = h.uploadJob(map[string]string{"owner": "bob", "name": "deleted"}, "default.pdf", doc)
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/jobs/"+deleted, nil), http.StatusNoContent)
	lost = h.uploadJob(map[string]string{"owner": "bob", "name": "lost"}, "default.pdf", doc)
	if err := os.Remove(h.s.documentPath(lost)); err != nil {
		t.Fatal(err)
	}
	h.mustDial("").boot("agent-1")
	return h, held, deleted, lost
}

// A backup taken while users are being created restores into a fresh hub
// that serves the same users, cards, PINs and documents: the database is
// one snapshot (each user with its card or not at all), its counts are
// the manifest's, and every file is private.
func TestBackupWhileWriting(t *testing.T) {
	sqliteOnly(t)
	h, held, deleted, lost := populatedHub(t)
	ctx, stop := context.WithCancel(t.Context())
	var written atomic.Int64
	errc := make(chan error, 1)
	go func() { errc <- writeUsers(ctx, h, &written) }()
	testutil.WaitFor(t, 10*time.Second, "users being written", func() bool { return written.Load() >= 3 })
	archive := filepath.Join(t.TempDir(), "hub-backup.tar.gz")
	before := written.Load()
	m, err := BackupToFile(t.Context(), h.dir, archive, BackupOptions{HubVersion: "1.2.3"})
	during := written.Load() - before
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	t.Logf("users written: %d before the backup, %d while it ran; %d in it", before, during, m.Counts["users"]-2)
	if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v, want mode 0600", fi, err)
	}
	if m.Format != BackupFormat || m.HubVersion != "1.2.3" || m.SchemaVersion != len(migrations) || !reflect.DeepEqual(m.LostDocuments, []string{lost}) {
		t.Errorf("manifest: format %d, version %q, schema %d, lost %v", m.Format, m.HubVersion, m.SchemaVersion, m.LostDocuments)
	}

	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := filepath.Join(t.TempDir(), "restored")
	rm, err := Restore(t.Context(), f, dir)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !reflect.DeepEqual(rm, m) {
		t.Errorf("Restore's manifest %+v, Backup's %+v", rm, m)
	}
	checkPrivate(t, dir)
	r := newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true })

	orig, got := h.userRows(), r.userRows()
	if int64(len(got)) != m.Counts["users"] || len(got) < 2+3 || len(got) > len(orig) || !reflect.DeepEqual(got, orig[:len(got)]) {
		t.Fatalf("restored users (%d, manifest %d) are not the first of the original's (%d)", len(got), m.Counts["users"], len(orig))
	}
	for table, n := range m.Counts {
		var c int64
		if err := r.s.db.QueryRow("SELECT count(*) FROM " + table).Scan(&c); err != nil || c != n {
			t.Errorf("%s: %d rows restored (%v), manifest %d", table, c, err, n)
		}
	}
	a := r.mustDial("")
	a.boot("agent-2")
	last := len(got) - 2 - 1 // the last writer's user restored
	for _, tc := range []struct {
		req  protocol.AuthorizeRequest
		want string
	}{
		{protocol.AuthorizeRequest{Card: "04A1B2C3"}, "alice"},
		{protocol.AuthorizeRequest{PIN: "2580"}, "alice"},
		{protocol.AuthorizeRequest{Username: "alice", Password: "correct horse battery"}, "alice"},
		{protocol.AuthorizeRequest{Card: fmt.Sprintf("W-CARD-%d", last)}, fmt.Sprintf("w-%d", last)},
		{protocol.AuthorizeRequest{Card: fmt.Sprintf("W-CARD-%d", last+1)}, ""},
	} {
		if got := a.loginAs(tc.req); got != tc.want {
			t.Errorf("%+v on the restored hub logs in %q, want %q", tc.req, got, tc.want)
		}
	}
	checkRestoredJobs(t, r, held, deleted, lost)
}

// checkRestoredJobs checks the jobs of populatedHub on a restored hub.
func checkRestoredJobs(t *testing.T, r *testHub, held, deleted, lost string) {
	t.Helper()
	doc, err := os.ReadFile(r.s.documentPath(held))
	if err != nil || !bytes.Equal(doc, readTestdata(t, "default.pdf")) {
		t.Errorf("held job's document restored: %v, same %v", err, bytes.Equal(doc, readTestdata(t, "default.pdf")))
	}
	if j := r.getJob(held); j.State != stateHeld {
		t.Errorf("held job restored %s", j.State)
	}
	if _, err := os.Stat(r.s.documentPath(deleted)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted job's document: %v, want none", err)
	}
	if j := r.getJob(lost); j.State != stateDeleted || j.Reason != lostReason {
		t.Errorf("job whose document was lost: %s %q, want deleted %q", j.State, j.Reason, lostReason)
	}
}

// checkPrivate checks that dir and everything under it is its owner's
// only: 0700 directories, 0600 files.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// repack rewrites a backup: edit returns an entry's new content, or nil
// to leave it out; extra entries go before the manifest.
func repack(t *testing.T, archive []byte, edit func(name string, data []byte) []byte, extra ...*tar.Header) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	write := func(hdr *tar.Header, data []byte) {
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == manifestName {
			for _, x := range extra {
				write(x, []byte("x"))
			}
		}
		if data = edit(hdr.Name, data); data != nil {
			write(hdr, data)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// editManifest is a repack edit changing the manifest only.
func editManifest(t *testing.T, change func(m *BackupManifest)) func(string, []byte) []byte {
	return func(name string, data []byte) []byte {
		if name != manifestName {
			return data
		}
		var m BackupManifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		change(&m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// Restore refuses a directory that holds anything, and an archive that is
// damaged, incomplete, altered, of a newer schema, or holding a file a
// backup does not: the target stays as it was, and nothing is left beside.
func TestRestoreRefuses(t *testing.T) {
	sqliteOnly(t)
	h, held, _, _ := populatedHub(t)
	var buf bytes.Buffer
	if _, err := Backup(t.Context(), h.dir, &buf, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	same := func(_ string, data []byte) []byte { return data }
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name    string
		archive []byte
		full    bool // the target holds a file already
		want    string
	}{
		{"data directory not empty", good, true, "not empty"},
		{"not gzip", []byte("hello"), false, "not a hub backup"},
		{"a flipped bit", flipped, false, ""},
		{"cut short", good[:len(good)*2/3], false, ""},
		{"no manifest", repack(t, good, func(n string, d []byte) []byte {
			if n == manifestName {
				return nil
			}
			return d
		}), false, "no manifest"},
		{"document altered", repack(t, good, func(n string, d []byte) []byte {
			if n == docsDirName+"/"+held {
				d = append(bytes.Clone(d), '\n')
			}
			return d
		}), false, "the backup is damaged"},
		{"file left out", repack(t, good, func(n string, d []byte) []byte {
			if n == "hub.key" {
				return nil
			}
			return d
		}), false, "not in the archive"},
		{"newer schema", repack(t, good, editManifest(t, func(m *BackupManifest) { m.SchemaVersion = len(migrations) + 1 })), false, "is newer than this hub's"},
		{"other format", repack(t, good, editManifest(t, func(m *BackupManifest) { m.Format = BackupFormat + 1 })), false, "backup format 2"},
		{"counts differ", repack(t, good, editManifest(t, func(m *BackupManifest) { m.Counts["users"]++ })), false, "rows, the manifest says"},
		{"path outside", repack(t, good, same, &tar.Header{Name: "../evil", Mode: 0o600, Typeflag: tar.TypeReg}), false, "not a file of a hub backup"},
		{"unlisted file", repack(t, good, same, &tar.Header{Name: "jobs/extra", Mode: 0o600, Typeflag: tar.TypeReg}), false, "in the archive, not in the manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "hub")
			if tc.full {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "notes"), []byte("mine"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Restore(t.Context(), bytes.NewReader(tc.archive), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: %v, want an error saying %q", err, tc.want)
			}
			if tc.full != errors.Is(err, ErrDataDirNotEmpty) {
				t.Errorf("errors.Is(%v, ErrDataDirNotEmpty) = %v", err, !tc.full)
			}
			entries, _ := os.ReadDir(parent)
			if want := map[bool]int{true: 1, false: 0}[tc.full]; len(entries) != want {
				t.Errorf("%d entries beside, want %d: %v", len(entries), want, entries)
			}
			if tc.full {
				if b, err := os.ReadFile(filepath.Join(dir, "notes")); err != nil || string(b) != "mine" {
					t.Errorf("the existing file: %q %v", b, err)
				}
			}
		})
	}
}

// A backup that fails leaves the file it was to replace whole, and no
// temporary file beside it.
func TestBackupToFileKeepsOldOnFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.tar.gz")
	if err := os.WriteFile(path, []byte("yesterday's backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := BackupToFile(t.Context(), filepath.Join(dir, "no-hub-here"), path, BackupOptions{})
	if err == nil || !strings.Contains(err.Error(), "no hub database") {
		t.Fatalf("BackupToFile of a directory without a hub: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "yesterday's backup" {
		t.Errorf("the older backup: %q %v", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left beside it: %v", entries)
	}
}
