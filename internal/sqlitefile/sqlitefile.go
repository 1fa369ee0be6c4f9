package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"
)

// Param is one connection parameter of the driver (github.com/mattn/go-sqlite3),
// such as {"_foreign_keys", "on"}.
type Param struct {
	Key, Value string
}

// durable are the parameters every store's DSN carries. They are set after
// the caller's, so a caller cannot weaken them.
var durable = []Param{
	{"_journal_mode", "WAL"},
	// FULL: a commit is on disk before the store reports it done. NORMAL
	// (the driver's default in WAL) can lose acknowledged transactions at a
	// power cut: accounting records an agent has already deleted, a claim
	// on a job that is printing, a ledger entry of a page already charged.
	{"_synchronous", "FULL"},
	{"_busy_timeout", "5000"},
	// Write transactions take the lock up front, so two writers never
	// deadlock upgrading from a shared lock (SQLITE_BUSY despite the
	// timeout), and a check-then-write in one transaction is atomic.
	{"_txlock", "immediate"},
}

// DSN builds the driver's connection string for the database at path,
// with WAL, synchronous=FULL, a 5 s busy timeout and IMMEDIATE write
// transactions, plus the caller's extra parameters. The path is
// URI-escaped so that a '?', '#' or '%' in a directory name is not read as
// parameters, a fragment or an escape. Every pragma is in the DSN because
// the driver applies DSN pragmas to each pooled connection, not just the
// first.
func DSN(path string, extra ...Param) string {
	q := url.Values{}
	for _, p := range extra {
		q.Set(p.Key, p.Value)
	}
	for _, p := range durable {
		q.Set(p.Key, p.Value)
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// ErrNotPrivate is wrapped in CreatePrivate's error when a file is too
// open and could not be restricted (the file exists and is usable); a
// caller may choose to warn and go on.
var ErrNotPrivate = errors.New("restrict file mode")

// CreatePrivate creates the database file at path readable by its owner
// only (0600) before SQLite sees it: SQLite would create it with the
// umask's mode, and it gives new -wal and -shm files the mode of the
// database file. A database file, -wal or -shm file left more open (by an
// older program, or someone) is restricted to 0600. The directory must
// exist. A file that cannot be restricted gives an error wrapping
// ErrNotPrivate, after the others have been tried.
func CreatePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	fi, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("stat file: %w", err)
	}
	var errs []error
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			errs = append(errs, err)
		}
	}
	// A -wal or -shm file that already exists keeps its own mode.
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path+suffix, 0o600); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNotPrivate, errors.Join(errs...))
	}
	return nil
}

// ErrNotDurable is wrapped in CheckDurable's error for a database that
// does not run in WAL mode with synchronous=FULL.
var ErrNotDurable = errors.New("database not durable")

// busyRetries and busyWait bound how long CheckDurable waits for another
// process turning the same new file into WAL (5 s).
const (
	busyRetries = 50
	busyWait    = 100 * time.Millisecond
)

// CheckDurable refuses a database that does not run as DSN asks (a driver
// ignoring a parameter, a filesystem without shared memory): its journal
// mode must be wal and synchronous FULL. Opening the first connection
// turns a new file into WAL, which takes an exclusive lock the busy timeout
// does not wait for; when several processes open the same new file at once
// (an agent and a technician's tool), CheckDurable retries for a while.
func CheckDurable(ctx context.Context, db *sql.DB) error {
	var mode string
	err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	for try := 0; IsBusy(err) && try < busyRetries; try++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(busyWait):
		}
		err = db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	}
	if err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("%w: journal mode is %q, want wal (is the file on a filesystem without shared memory?)", ErrNotDurable, mode)
	}
	var sync int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync != 2 { // 2 is FULL
		return fmt.Errorf("%w: synchronous is %d, want 2 (FULL)", ErrNotDurable, sync)
	}
	return nil
}
