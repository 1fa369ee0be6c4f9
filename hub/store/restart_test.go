package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// restartPool is how many connections the restart tests keep in the pool:
// each is left stale by the restart.
const restartPool = 4

// After a fast restart of PostgreSQL every pooled connection is stale
// (the server ended its session with 57P01 admin_shutdown); the first
// statements after it, as many as the pool held, each of every kind the
// hub runs, succeed on fresh connections.
func TestPostgresRestart(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	db, err := OpenPostgres(ctx, pg.NewDatabase(t), restartPool, contractPostgres)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, db *DB, i int) error
	}{
		{"read", func(ctx context.Context, db *DB, _ int) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n)
		}},
		{"write", func(ctx context.Context, db *DB, i int) error {
			_, err := db.ExecContext(ctx, "INSERT INTO kv (k, n) VALUES (?, ?)", fmt.Sprintf("restart-w%d", i), i)
			return err
		}},
		{"write returning", func(ctx context.Context, db *DB, i int) error {
			var n int
			return db.QueryRowContext(ctx, "UPDATE counter SET n = n + 1 WHERE id = 2 RETURNING n").Scan(&n)
		}},
		{"transaction", func(ctx context.Context, db *DB, i int) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, "INSERT INTO kv (k, n) VALUES (?, ?)", fmt.Sprintf("restart-t%d", i), i); err != nil {
				return err
			}
			return tx.Commit()
		}},
		{"read-only transaction", func(ctx context.Context, db *DB, _ int) error {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var n int
			return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM kv").Scan(&n)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
			defer cancel()
			fillPool(ctx, t, db)
			pg.Restart(t)
			for i := range restartPool + 1 {
				if err := tc.run(ctx, db, i); err != nil {
					t.Fatalf("statement %d after the restart: %v", i+1, err)
				}
			}
		})
	}
}

// fillPool opens restartPool connections at once and gives them back to
// the pool, idle.
func fillPool(ctx context.Context, t *testing.T, db *DB) {
	t.Helper()
	var txs []*Tx
	// Given back on failure too: a leaked transaction holds a connection
	// the next case would wait for.
	defer func() {
		for _, tx := range txs {
			_ = tx.Rollback()
		}
	}()
	for range restartPool {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("fill the pool: %v", err)
		}
		txs = append(txs, tx)
	}
}

// BenchmarkQueryRow is one short read outside a transaction on
// PostgreSQL, the hub's commonest statement: what the check of a pooled
// connection before its reuse costs (see OpenPostgres).
func BenchmarkQueryRow(b *testing.B) {
	ctx := context.Background()
	db, err := OpenPostgres(ctx, sharedPG.NewDatabase(b), 4, contractPostgres)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}
