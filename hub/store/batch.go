package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Write is one statement of a batch (ExecBatch), written as for the other
// calls: ? placeholders, SQLite's forms.
type Write struct {
	Query string
	Args  []any
}

// StmtError is the error of one statement of a batch: the attempt ended
// there and committed nothing.
type StmtError struct {
	Index int // into the batch
	Err   error
}

func (e *StmtError) Error() string {
	return fmt.Sprintf("statement %d of the batch: %v", e.Index, e.Err)
}
func (e *StmtError) Unwrap() error { return e.Err }

// ExecBatch runs stmts in one transaction and commits it: all or nothing.
// rows[i] is how many rows stmts[i] changed. A statement that fails with
// an error of its own (a constraint, say) ends the attempt with a
// *StmtError naming it; any other error (the connection, the deadline,
// the commit) is no statement's.
//
// The transaction holds row locks only, as BeginRowTx's, and every
// statement must keep that rule. On PostgreSQL the statements go to the
// server together (pgx's pipeline): three round trips a batch, where one
// after the other took one each, so a fan-out's thousands of answers
// waited on round trips, not on the server (BenchmarkTaskAckWave).
func (d *DB) ExecBatch(ctx context.Context, stmts []Write) (rows []int64, err error) {
	if d.engine != Postgres {
		return d.execBatchTx(ctx, stmts)
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		rows, err = d.pipeline(ctx, dc.(*stdlib.Conn).Conn(), stmts)
		return err
	})
	return rows, err
}

// execBatchTx is ExecBatch one statement after the other.
func (d *DB) execBatchTx(ctx context.Context, stmts []Write) ([]int64, error) {
	tx, err := d.BeginRowTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // after Commit: a no-op
	rows := make([]int64, len(stmts))
	for i, s := range stmts {
		res, err := tx.ExecContext(ctx, s.Query, s.Args...)
		if err == nil {
			rows[i], err = res.RowsAffected()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, &StmtError{Index: i, Err: err}
		}
	}
	return rows, tx.Commit()
}

// pipeline is ExecBatch on PostgreSQL.
func (d *DB) pipeline(ctx context.Context, c *pgx.Conn, stmts []Write) ([]int64, error) {
	tx, err := c.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) // after Commit: a no-op
	b := &pgx.Batch{}
	for _, s := range stmts {
		q, a := d.prepare(s.Query, s.Args)
		b.Queue(q, a...)
	}
	br := tx.SendBatch(ctx, b)
	rows := make([]int64, len(stmts))
	for i := range stmts {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return nil, d.statementError(stmts, i, err)
		}
		rows[i] = tag.RowsAffected()
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	return rows, tx.Commit(ctx)
}

// statementError blames the statement that caused err when the server
// refused it for itself: bad data (SQLSTATE class 22), a constraint (23),
// a statement it cannot run (42). An error of preparing or encoding a
// statement names its text, and the first statement with that text is
// blamed: pgx reports it at the batch's first result. Anything else (a
// deadlock, the connection, a restart) is the transaction's.
func (d *DB) statementError(stmts []Write, i int, err error) error {
	var pre pgx.ErrPreprocessingBatch
	if errors.As(err, &pre) {
		for j, s := range stmts {
			if q, _ := d.prepare(s.Query, nil); q == pre.SQL() {
				return &StmtError{Index: j, Err: err}
			}
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		for _, class := range []string{"22", "23", "42"} {
			if strings.HasPrefix(pe.Code, class) {
				return &StmtError{Index: i, Err: err}
			}
		}
	}
	return err
}

// IsRetryable reports whether err ended a transaction that may simply be
// run again: a deadlock or a serialization failure (SQLSTATE class 40).
func IsRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "40")
}
