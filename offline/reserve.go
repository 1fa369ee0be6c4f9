package offline

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tessera-print/tessera/internal/sqlitefile"
)

// ErrDiskFull says the data directory's file system is (nearly) full: a
// write SQLite refused with SQLITE_FULL (it refuses the whole transaction,
// so the ledger stays as it was), or free space below the reserve
// (Reserve). Match it with errors.Is.
var ErrDiskFull = errors.New("the agent's data disk is full")

// diskFull marks a write SQLite refused for want of space with
// ErrDiskFull, keeping the driver's error.
func diskFull(err error) error {
	if err != nil && sqlitefile.IsFull(err) && !errors.Is(err, ErrDiskFull) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// FreeSpace reads the bytes an unprivileged process may still write on
// the file system holding dir (statfs).
type FreeSpace interface {
	Free(dir string) (int64, error)
}

// Statfs is the real FreeSpace.
type Statfs struct{}

// Free reads dir's file system.
func (Statfs) Free(dir string) (int64, error) { return statfsFree(dir) }

// Reserve keeps room on the data directory's file system for what is
// already under way: below MinFree, new sessions are refused (Check), so
// the records of sessions and releases in flight still fit, and the
// ledger never meets a full disk in the middle of ordinary work. Should it
// meet one all the same, SQLite refuses the write whole (ErrDiskFull),
// and the ledger is intact.
type Reserve struct {
	Dir     string
	MinFree int64 // bytes; 0: no reserve
	Space   FreeSpace
	Logger  *slog.Logger

	mu  sync.Mutex
	low bool // the last Check found too little: logged once per change
}

// Check reports ErrDiskFull when the free space is below the reserve. A
// file system whose free space cannot be read is not taken for full
// (logged): an unknown is no reason to stop every session.
func (r *Reserve) Check() error {
	if r == nil || r.MinFree <= 0 {
		return nil
	}
	space := r.Space
	if space == nil {
		space = Statfs{}
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	free, err := space.Free(r.Dir)
	if err != nil {
		log.Warn("cannot read the data disk's free space; sessions are not stopped", "dir", r.Dir, "err", err)
		return nil
	}
	low := free < r.MinFree
	r.mu.Lock()
	changed := low != r.low
	r.low = low
	r.mu.Unlock()
	if changed && low {
		log.Error("the data disk is nearly full: new sessions are refused until space is freed",
			"dir", r.Dir, "free_mib", free>>20, "reserve_mib", r.MinFree>>20)
	} else if changed {
		log.Info("the data disk has room again: sessions are accepted", "dir", r.Dir, "free_mib", free>>20)
	}
	if low {
		return fmt.Errorf("%w: %d MiB free on %s, below the reserve of %d MiB", ErrDiskFull, free>>20, r.Dir, r.MinFree>>20)
	}
	return nil
}
