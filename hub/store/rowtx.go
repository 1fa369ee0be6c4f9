package store

import "context"

// BeginRowTx starts a write transaction that relies on PostgreSQL's row
// locks alone, without the writers' lock every other write transaction
// takes (BeginTx): for the hot writes of thousands of agents on several
// nodes, which would otherwise queue one node's batch behind another's
// for the whole of each transaction, round trips included.
//
// Only a transaction whose every statement is safe under READ COMMITTED
// may use it: each statement touches rows by key and carries its own
// condition in its WHERE (or ON CONFLICT ... WHERE), which PostgreSQL
// evaluates again on the row's latest version once it holds the row, and
// nothing it writes depends on what an earlier statement read. Two such
// transactions that update the same rows in different orders can meet in
// a deadlock; PostgreSQL ends one of them with an error (SQLSTATE 40P01),
// which the caller sees as a failed write. On SQLite it is BeginTx: one
// writer at a time is all SQLite has.
func (d *DB) BeginRowTx(ctx context.Context) (*Tx, error) {
	if d.engine != Postgres {
		return d.BeginTx(ctx, nil)
	}
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, d: d}, nil
}
