package localspool

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A leased copy is encrypted at rest (neither file holds its plaintext),
// reads back whole, counts against the quota, gives its space back when
// removed, and survives a restart; what a crash left (a temporary file, a
// document without metadata) is removed at the next start.
func TestLeasedCopies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := newSpool(t, Config{Dir: dir, Quota: 8 << 10})
	doc := []byte("%PDF-1.4 the leased document " + strings.Repeat("x", 1000))
	meta := []byte(`{"lease_id":"ab12"}`)
	if err := s.PutCopy("ab12", meta, bytes.NewReader(doc)); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{docSuffix, metaSuffix} {
		b, err := os.ReadFile(filepath.Join(dir, copiesDir, "ab12"+suffix))
		if err != nil || bytes.Contains(b, []byte("leased document")) || bytes.Contains(b, []byte("lease_id")) {
			t.Fatalf("%s at rest: %v, or holds plaintext", suffix, err)
		}
	}
	body, err := s.OpenCopy("ab12")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if m, err := s.CopyMeta("ab12"); !bytes.Equal(got, doc) || err != nil || !bytes.Equal(m, meta) {
		t.Fatalf("read back %d bytes, meta %q (%v)", len(got), m, err)
	}
	used := s.used
	if used <= int64(len(doc)) {
		t.Fatalf("used %d bytes for a %d-byte copy", used, len(doc))
	}
	// The quota holds for copies: 8 KiB cannot take 10 KiB more.
	if err := s.PutCopy("cd34", meta, bytes.NewReader(make([]byte, 10<<10))); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("a copy beyond the quota: %v, want ErrSpoolFull", err)
	}
	if s.used != used || s.inflight != 0 {
		t.Fatalf("after the refused copy: used %d inflight %d, want %d and 0", s.used, s.inflight, used)
	}
	if err := s.PutCopy("../x", meta, bytes.NewReader(doc)); err == nil {
		t.Fatal("a copy name with a path was taken")
	}

	// A restart: the copy is counted again; a crash's leftovers go.
	os.WriteFile(filepath.Join(dir, copiesDir, tmpPrefix+"1"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, copiesDir, "ef56"+docSuffix), []byte("no metadata"), 0o600)
	s2 := newSpool(t, Config{Dir: dir, KeyFile: filepath.Join(filepath.Dir(dir), "key"), Quota: 8 << 10})
	names, err := s2.CountCopies()
	if err != nil || len(names) != 1 || names[0] != "ab12" {
		t.Fatalf("copies after the restart: %v (%v)", names, err)
	}
	if s2.used != used {
		t.Errorf("used after the restart %d, want %d", s2.used, used)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, copiesDir))
	if len(entries) != 2 {
		t.Errorf("files after the restart: %d, want the copy's two", len(entries))
	}
	if err := s2.RemoveCopy("ab12"); err != nil || s2.used != 0 {
		t.Fatalf("remove: %v, used %d", err, s2.used)
	}
	if _, err := s2.OpenCopy("ab12"); err == nil {
		t.Error("a removed copy opened")
	}
}
