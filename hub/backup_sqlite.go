//go:build cgo

package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/tessera-print/tessera/clock"
)

// Backup API retries: a step that finds the source locked (a writer
// holds it in a way a reader cannot pass, or a checkpoint is running)
// is tried again after backupRetryWait, at most backupRetries times.
const (
	backupRetryWait = 50 * time.Millisecond
	backupRetries   = 1200 // one minute
)

// onlineCopy copies the database of src into dst with SQLite's online
// backup API. It copies in a single step: an incremental backup restarts
// whenever another process writes the source between two steps, so under
// a busy hub it might never finish, whereas one step reads one snapshot
// from start to end, and in WAL mode writers go on meanwhile.
func onlineCopy(ctx context.Context, clk clock.Clock, dst, src *sql.Conn) error {
	return dst.Raw(func(d any) error {
		return src.Raw(func(s any) error {
			dc, ok1 := d.(*sqlite3.SQLiteConn)
			sc, ok2 := s.(*sqlite3.SQLiteConn)
			if !ok1 || !ok2 {
				return errors.New("not SQLite connections")
			}
			b, err := dc.Backup("main", sc, "main")
			if err != nil {
				return fmt.Errorf("start: %w", err)
			}
			if err := stepAll(ctx, clk, b); err != nil {
				b.Close()
				return err
			}
			if err := b.Finish(); err != nil {
				return fmt.Errorf("finish: %w", err)
			}
			return nil
		})
	})
}

// stepAll runs the backup's one step until it is done, waiting and
// retrying while the source is busy or locked (Step reports those as not
// done, without an error).
func stepAll(ctx context.Context, clk clock.Clock, b *sqlite3.SQLiteBackup) error {
	for range backupRetries {
		done, err := b.Step(-1)
		if err != nil {
			return fmt.Errorf("step: %w", err)
		}
		if done {
			return nil
		}
		t, c := clk.NewTimer(backupRetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c:
		}
	}
	return fmt.Errorf("the source database stayed locked for %v", backupRetryWait*backupRetries)
}
