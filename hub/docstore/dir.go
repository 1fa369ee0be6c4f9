package docstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir keeps each document as a file named by its id in the directory it
// names; an upload is a temporary file .upload-* there, renamed at
// commit. Dir(path) is a store over a directory that exists already.
type Dir string

// uploadPrefix starts the names of uploads in progress; an id may not
// start with a dot, so none is taken for a document.
const uploadPrefix = ".upload-"

// NewDir opens (creating if needed, private to the hub's user) the
// directory dir.
func NewDir(dir string) (Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("docstore: %w", err)
	}
	return Dir(dir), nil
}

// Path is the file that holds document id (for what reads the directory
// itself: the SQLite hub's backup).
func (d Dir) Path(id string) string { return filepath.Join(string(d), id) }

// validID reports whether id can name a file in the directory: one path
// element, not hidden (so never an upload's name).
func validID(id string) bool {
	return id != "" && !strings.HasPrefix(id, ".") && !strings.ContainsAny(id, `/\`) && filepath.Base(id) == id
}

// Create starts an upload in a temporary file.
func (d Dir) Create(ctx context.Context) (Writer, error) {
	f, err := os.CreateTemp(string(d), uploadPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("docstore: create upload: %w", err)
	}
	return &dirWriter{f: f, d: d}, nil
}

// Open opens the file of document id.
func (d Dir) Open(ctx context.Context, id string) (Reader, error) {
	if !validID(id) {
		return nil, fmt.Errorf("docstore: open %q: %w", id, ErrNotFound)
	}
	f, err := os.Open(d.Path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("docstore: open %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("docstore: open %s: %w", id, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("docstore: open %s: %w", id, err)
	}
	return &dirReader{File: f, size: st.Size()}, nil
}

// Remove deletes the file of document id.
func (d Dir) Remove(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	if err := os.Remove(d.Path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("docstore: remove %s: %w", id, err)
	}
	return nil
}

// Sweep removes the temporary files last written more than age ago.
func (d Dir) Sweep(ctx context.Context, age time.Duration) (int, error) {
	matches, err := filepath.Glob(filepath.Join(string(d), uploadPrefix+"*"))
	if err != nil {
		return 0, fmt.Errorf("docstore: sweep: %w", err)
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil || st.ModTime().After(cutoff) {
			continue // gone already, or still being written
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("docstore: sweep: %w", err)
		}
		n++
	}
	return n, nil
}

// dirWriter is an upload to a temporary file.
type dirWriter struct {
	f    *os.File
	d    Dir
	done bool
}

func (w *dirWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// Commit syncs the file and renames it to the id: the document is whole
// on disk before its name exists.
func (w *dirWriter) Commit(ctx context.Context, id string) error {
	if w.done {
		return errors.New("docstore: upload already ended")
	}
	if !validID(id) {
		return fmt.Errorf("docstore: commit: invalid id %q", id)
	}
	w.done = true
	tmp := w.f.Name()
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("docstore: commit %s: %w", id, err)
	}
	if _, err := os.Stat(w.d.Path(id)); err == nil {
		os.Remove(tmp)
		return fmt.Errorf("docstore: commit %s: the id names a document already", id)
	}
	if err := os.Rename(tmp, w.d.Path(id)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("docstore: commit %s: %w", id, ErrAbandoned)
		}
		os.Remove(tmp)
		return fmt.Errorf("docstore: commit %s: %w", id, err)
	}
	return nil
}

// Abort closes and removes the temporary file.
func (w *dirWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("docstore: abort: %w", err)
	}
	return nil
}

// dirReader is a document's file.
type dirReader struct {
	*os.File
	size int64
}

func (r *dirReader) Size() int64 { return r.size }
