package store

import (
	"context"
	"testing"
	"time"
)

// TestAtomicSkipsTheWritersLock: on PostgreSQL, ExecAtomic and
// QueryRowAtomic do not wait for a write transaction that holds the
// writers' lock (an ordinary write does: testWriteOutsideTxWaits).
func TestAtomicSkipsTheWritersLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := openContractPostgres(ctx, t)
	tx, err := db.BeginTx(ctx, nil) // holds the writers' lock until Rollback
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	done := make(chan error, 1)
	go func() {
		if _, err := db.ExecAtomic(ctx, "UPDATE counter SET n = n + 1 WHERE id = ?", 1); err != nil {
			done <- err
			return
		}
		var n int64
		done <- db.QueryRowAtomic(ctx, "UPDATE counter SET n = n + 1 WHERE id = ? RETURNING n", 1).Scan(&n)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the atomic writes waited for the writers' lock")
	}
}
