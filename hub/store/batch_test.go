package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// testExecBatch: a batch commits all its statements with each one's rows
// (bools and NULLs converted as elsewhere); a statement that fails names
// itself and commits nothing of the batch.
func testExecBatch(ctx context.Context, t *testing.T, db *DB, key string) {
	ins := "INSERT INTO kv (k, n, flag, s) VALUES (?, ?, ?, ?)"
	rows, err := db.ExecBatch(ctx, []Write{
		{ins, []any{key + "-a", 1, true, sql.NullString{}}},
		{ins, []any{key + "-b", 2, false, "x"}},
		{"UPDATE kv SET n = n + 10 WHERE k IN (?, ?)", []any{key + "-a", key + "-b"}},
		{"UPDATE kv SET n = 0 WHERE k = ?", []any{key + "-none"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 1, 2, 0}; !slices.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	var n, flag int64
	if err := db.QueryRowContext(ctx, "SELECT n, flag FROM kv WHERE k = ?", key+"-a").Scan(&n, &flag); err != nil || n != 11 || flag != 1 {
		t.Errorf("a: n %d flag %d, %v", n, flag, err)
	}

	_, err = db.ExecBatch(ctx, []Write{
		{ins, []any{key + "-c", 3, false, "y"}},
		{ins, []any{key + "-a", 4, false, "z"}}, // a duplicate
		{ins, []any{key + "-d", 5, false, "w"}},
	})
	var se *StmtError
	if !errors.As(err, &se) || se.Index != 1 || !IsUnique(se.Err) {
		t.Fatalf("a duplicate in a batch: %v, want statement 1's unique violation", err)
	}
	var count int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM kv WHERE k IN (?, ?)", key+"-c", key+"-d").Scan(&count); err != nil || count != 0 {
		t.Errorf("the failed batch left %d rows, %v", count, err)
	}

	// A statement the engine cannot run (PostgreSQL refuses it when
	// preparing, before any result) is blamed on itself, not on the first.
	_, err = db.ExecBatch(ctx, []Write{
		{ins, []any{key + "-e", 6, false, "v"}},
		{"UPDATE kv SET no_such_column = 1 WHERE k = ?", []any{key + "-e"}},
	})
	if !errors.As(err, &se) || se.Index != 1 {
		t.Errorf("a statement that cannot run: %v, want statement 1's error", err)
	}
}

func TestIsRetryable(t *testing.T) {
	for code, want := range map[string]bool{"40P01": true, "40001": true, "23505": false, "57P01": false, "": false} {
		if got := IsRetryable(&pgconn.PgError{Code: code}); got != want {
			t.Errorf("%q: %v", code, got)
		}
	}
	if IsRetryable(errors.New("deadlock")) {
		t.Error("an error that is not PostgreSQL's")
	}
}
