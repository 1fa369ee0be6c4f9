package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Tx is a transaction; a write transaction holds the writers' lock (see
// the package doc) until Commit or Rollback.
type Tx struct {
	tx *sql.Tx
	d  *DB
}

// ExecContext runs a statement in the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, a := t.d.prepare(query, args)
	return t.tx.ExecContext(ctx, q, a...)
}

// QueryContext runs a query in the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, a := t.d.prepare(query, args)
	return t.tx.QueryContext(ctx, q, a...)
}

// QueryRowContext runs a query that returns at most one row.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *Row {
	q, a := t.d.prepare(query, args)
	return &Row{row: t.tx.QueryRowContext(ctx, q, a...)}
}

// PrepareContext prepares a statement for the transaction; its arguments
// are passed as the engine takes them (Args).
func (t *Tx) PrepareContext(ctx context.Context, query string) (*Stmt, error) {
	q, _ := t.d.prepare(query, nil)
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &Stmt{st: st, d: t.d}, nil
}

// Commit commits the transaction.
func (t *Tx) Commit() error { return t.tx.Commit() }

// Rollback rolls the transaction back; after Commit it does nothing.
func (t *Tx) Rollback() error { return t.tx.Rollback() }

// Stmt is a prepared statement of a transaction.
type Stmt struct {
	st *sql.Stmt
	d  *DB
}

// ExecContext runs the statement with args.
func (s *Stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, s.d.args(args)...)
}

// Close releases the statement.
func (s *Stmt) Close() error { return s.st.Close() }

// Row is the result of QueryRowContext.
type Row struct {
	row *sql.Row
	// tx, when set, is the short transaction a write with RETURNING ran in
	// (PostgreSQL): Scan ends it.
	tx  *sql.Tx
	err error
}

// Scan copies the row's columns into dest; sql.ErrNoRows when there is
// none.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.row.Scan(dest...)
	if r.tx == nil {
		return err
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		_ = r.tx.Rollback()
		return err
	}
	if cerr := r.tx.Commit(); cerr != nil {
		return fmt.Errorf("commit: %w", cerr)
	}
	return err
}

// Err reports the query's error, if any, without scanning.
func (r *Row) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.row.Err()
}

// QueryRowContext runs the statement as a query of at most one row.
func (s *Stmt) QueryRowContext(ctx context.Context, args ...any) *Row {
	return &Row{row: s.st.QueryRowContext(ctx, s.d.args(args)...)}
}
