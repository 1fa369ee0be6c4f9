package store

import (
	"context"
	"database/sql"
)

// Exec, Query and QueryRow are ExecContext, QueryContext and
// QueryRowContext without a context, for tests and tools.

// Exec runs a statement.
func (d *DB) Exec(query string, args ...any) (sql.Result, error) {
	return d.ExecContext(context.Background(), query, args...)
}

// Query runs a query.
func (d *DB) Query(query string, args ...any) (*sql.Rows, error) {
	return d.QueryContext(context.Background(), query, args...)
}

// QueryRow runs a query that returns at most one row.
func (d *DB) QueryRow(query string, args ...any) *Row {
	return d.QueryRowContext(context.Background(), query, args...)
}
