package localspool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Copies are documents the agent keeps for another source: the hub jobs
// leased to it (docs/protocol.md, "Leases: hub jobs that print offline"),
// prefetched so that they print while the hub is unreachable. They are
// encrypted at rest with the spool's own key, as held jobs are, and count
// against the spool's quota and reserve. Each copy is two files in the
// spool's copies directory: NAME.doc.age (the document) and
// NAME.meta.age (the caller's metadata); the metadata is written last, so
// a copy without it is incomplete and CountCopies removes it.
const (
	copiesDir = "copies"
	// maxCopyMeta bounds a copy's metadata.
	maxCopyMeta = 64 << 10
)

// ErrSpoolFull is a copy the quota or the reserve has no room for.
var ErrSpoolFull = errSpoolFull

// validCopyName accepts 1 to 64 lowercase hex digits, so that a name from
// the hub never names another file.
func validCopyName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func (s *Spool) copyPath(name, suffix string) string {
	return filepath.Join(s.cfg.Dir, copiesDir, name+suffix)
}

// PutCopy stores a document and its metadata under name, encrypted,
// replacing a copy of that name. It refuses (ErrSpoolFull) a copy the
// quota or the reserve has no room for, and leaves nothing behind then.
func (s *Spool) PutCopy(name string, meta []byte, body io.Reader) error {
	if !validCopyName(name) {
		return fmt.Errorf("copy %q: not a copy name", name)
	}
	if len(meta) > maxCopyMeta {
		return fmt.Errorf("copy %s: metadata of %d bytes", name, len(meta))
	}
	dir := filepath.Join(s.cfg.Dir, copiesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	s.RemoveCopy(name) // a copy fetched again replaces the old one
	rec, err := s.encryptTo(dir, body)
	defer s.release(rec)
	if err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	if err := os.Rename(rec.tmp, s.copyPath(name, docSuffix)); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	sealed, err := s.seal(meta)
	if err == nil {
		err = writeAtomic(dir, s.copyPath(name, metaSuffix), sealed)
	}
	if err != nil {
		os.Remove(s.copyPath(name, docSuffix))
		return fmt.Errorf("copy %s: %w", name, err)
	}
	s.mu.Lock()
	s.used += rec.disk + int64(len(sealed))
	s.mu.Unlock()
	return nil
}

// encryptTo encrypts body into a temporary file of dir, counted against
// the quota as it is written (in s.inflight until released).
func (s *Spool) encryptTo(dir string, body io.Reader) (*received, error) {
	f, err := os.CreateTemp(dir, tmpPrefix)
	rec := &received{released: err != nil}
	if err != nil {
		return rec, err
	}
	rec.tmp = f.Name()
	defer f.Close()
	w, err := age.Encrypt(&quotaWriter{s: s, w: f, rec: rec}, s.recipient)
	if err != nil {
		return rec, err
	}
	if rec.size, err = io.Copy(w, body); err != nil {
		return rec, err
	}
	if err := w.Close(); err != nil {
		return rec, err
	}
	return rec, f.Sync()
}

// seal encrypts a small plaintext with the spool's key.
func (s *Spool) seal(plain []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, s.recipient)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CopyMeta reads a copy's metadata.
func (s *Spool) CopyMeta(name string) ([]byte, error) {
	if !validCopyName(name) {
		return nil, fmt.Errorf("copy %q: %w", name, fs.ErrNotExist)
	}
	f, err := os.Open(s.copyPath(name, metaSuffix))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := age.Decrypt(io.LimitReader(f, maxCopyMeta+1024), s.identity)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", name, err)
	}
	return io.ReadAll(r)
}

// OpenCopy streams a copy's document, decrypted; the caller closes it.
func (s *Spool) OpenCopy(name string) (io.ReadCloser, error) {
	if !validCopyName(name) {
		return nil, fmt.Errorf("copy %q: %w", name, fs.ErrNotExist)
	}
	return s.openDocument(s.copyPath(name, docSuffix))
}

// RemoveCopy deletes a copy (metadata first, so a crash in between leaves
// an incomplete copy that CountCopies removes) and gives its space back.
// A copy that does not exist is no error.
func (s *Spool) RemoveCopy(name string) error {
	if !validCopyName(name) {
		return nil
	}
	var freed int64
	for _, suffix := range []string{metaSuffix, docSuffix} {
		path := s.copyPath(name, suffix)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = os.Remove(path)
		}
		if err != nil {
			return fmt.Errorf("remove copy %s: %w", name, err)
		}
		freed += fi.Size()
	}
	s.mu.Lock()
	s.used = max(0, s.used-freed)
	s.mu.Unlock()
	return nil
}

// CountCopies lists the complete copies, counts their bytes in the spool's
// use (once, at start) and removes what a crash left: temporary files and
// documents without metadata.
func (s *Spool) CountCopies() ([]string, error) {
	dir := filepath.Join(s.cfg.Dir, copiesDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read copies: %w", err)
	}
	metas := map[string]bool{}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), metaSuffix); ok && validCopyName(name) {
			metas[name] = true
		}
	}
	var names []string
	var used int64
	for _, e := range entries {
		name, isDoc := strings.CutSuffix(e.Name(), docSuffix)
		switch {
		case strings.HasPrefix(e.Name(), tmpPrefix), isDoc && !metas[name]:
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		case isDoc:
			names = append(names, name)
		}
		if fi, err := e.Info(); err == nil {
			used += fi.Size()
		}
	}
	s.mu.Lock()
	s.used += used
	s.mu.Unlock()
	return names, nil
}
