package store

import (
	"context"
	"testing"
	"time"
)

// A row transaction writes while another holds the writers' lock, and
// its conditional UPDATE sees the row as committed meanwhile.
func TestRowTxSkipsTheWritersLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := openContractPostgres(ctx, t)
	locked, err := db.BeginTx(ctx, nil) // holds the writers' lock until Rollback
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Rollback()
	done := make(chan error, 1)
	go func() {
		tx, err := db.BeginRowTx(ctx)
		if err != nil {
			done <- err
			return
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = ?", 1); err != nil {
			done <- err
			return
		}
		done <- tx.Commit()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the row transaction waited for the writers' lock")
	}
}
