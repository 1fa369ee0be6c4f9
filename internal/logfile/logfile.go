// Package logfile is the agent's log file (config log_file): an io.Writer
// that appends to a file and, once the file passes its size limit, moves it
// to FILE.1 (replacing the previous one) and starts a new FILE. So the logs
// take at most about twice the limit on the disk, which on a printer's box
// is small and shared with the spool and the ledger.
package logfile

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// Writer is a size-rotated log file, safe for concurrent use: each Write
// lands whole in one file (a record is never split across the rotation).
type Writer struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open opens (creating, owner-only: log lines name users and printers)
// the log file at path for appending; it rotates when a write would take
// it past maxBytes.
func Open(path string, maxBytes int64) (*Writer, error) {
	if path == "" {
		return nil, errors.New("log file: no path")
	}
	if maxBytes < 1 {
		return nil, fmt.Errorf("log file %s: size limit %d: must be positive", path, maxBytes)
	}
	w := &Writer{path: path, max: maxBytes}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past its
// limit (a file holding nothing yet takes p whatever its size).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, os.ErrClosed
	}
	if w.size > 0 && w.size+int64(len(p)) > w.max {
		if err := w.rotate(); err != nil {
			// Logging goes on in the old file rather than not at all.
			n, werr := w.f.Write(p)
			w.size += int64(n)
			return n, errors.Join(err, werr)
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// rotate moves the file to FILE.1 and opens a new FILE.
func (w *Writer) rotate() error {
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("log file: rotate: %w", err)
	}
	old := w.f
	if err := w.open(); err != nil {
		// The renamed file is still open: keep writing to it.
		return err
	}
	return old.Close()
}

// Files returns the log files that exist, oldest first: FILE.1, FILE.
func (w *Writer) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, p := range []string{w.path + ".1", w.path} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Path is the log file's path.
func (w *Writer) Path() string { return w.path }

// Close closes the file; later writes fail with os.ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
