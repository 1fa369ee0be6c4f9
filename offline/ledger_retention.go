package offline

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// pruneBatch bounds the records one transaction of PruneSent deletes, so
// a first pruning of a long history never holds the write lock for long.
const pruneBatch = 500

// PruneSent deletes the ledger's records written before `before` that the
// hub acknowledged (none is pending in the outbox), at most pruneBatch per
// transaction, and returns how many it deleted. A record not yet
// acknowledged is never deleted, whatever its age. The ledger's sequence
// counter is kept apart (counters), so new records never reuse a deleted
// record's id. A zero before deletes nothing: the caller has no trusted
// time to judge age by (the time rule).
func (s *Store) PruneSent(ctx context.Context, before time.Time) (int, error) {
	if before.IsZero() {
		return 0, nil
	}
	total := 0
	for {
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM ledger WHERE seq IN (
				SELECT seq FROM ledger WHERE created_at < ?
				AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.key = ledger.id)
				ORDER BY seq LIMIT ?)`, formatTime(before), pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune sent records before %s: %w", formatTime(before), err)
		}
		total += int(n)
		if n < pruneBatch || ctx.Err() != nil {
			return total, nil
		}
	}
}
