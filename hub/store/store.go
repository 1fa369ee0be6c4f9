package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// Engine names a database engine.
type Engine string

// The two engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is the hub's database: a pool of connections to one engine.
type DB struct {
	sql    *sql.DB
	engine Engine
	// rebound caches queries' PostgreSQL forms (query text -> text), up
	// to maxRebound: a query built with a list of placeholders comes in
	// many lengths.
	mu      sync.Mutex
	rebound map[string]string
	// readers is SQLite's pool of read-only transactions (see
	// openSQLiteReaders); nil on PostgreSQL.
	readers *sql.DB
	// dsn is PostgreSQL's, for the listener's own connection (notify.go).
	dsn string
}

// maxRebound bounds the cache of rebound queries.
const maxRebound = 2048

// Engine reports which engine d runs on.
func (d *DB) Engine() Engine { return d.engine }

// SQL is the underlying pool, for what only one engine does (SQLite's
// backup API); the hub's own statements go through d.
func (d *DB) SQL() *sql.DB { return d.sql }

// Close closes the pool.
func (d *DB) Close() error {
	if d.readers != nil {
		d.readers.Close()
	}
	return d.sql.Close()
}

// PingContext checks that the database answers.
func (d *DB) PingContext(ctx context.Context) error { return d.sql.PingContext(ctx) }

// ExecContext runs a statement outside a transaction. On PostgreSQL a
// write takes the writers' lock for its own short transaction, as it
// would wait for SQLite's write lock.
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, a := d.prepare(query, args)
	if d.engine == Postgres && isWrite(query) {
		var res sql.Result
		err := d.locked(ctx, func(tx *sql.Tx) (err error) {
			res, err = tx.ExecContext(ctx, q, a...)
			return err
		})
		return res, err
	}
	return d.sql.ExecContext(ctx, q, a...)
}

// QueryContext runs a query outside a transaction. On PostgreSQL a write
// (with RETURNING) is refused: it would have to hold the writers' lock
// until the rows are closed, which nothing here sees. Such a write goes
// through QueryRowContext (one row) or a transaction. (SQLite still takes
// it: refusing it there too, so that the SQLite tests catch it, waits
// for the hub's last such call, expire's, to move into a transaction.)
func (d *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, a := d.prepare(query, args)
	if d.engine == Postgres && isWrite(query) {
		return nil, fmt.Errorf("store: a write with RETURNING outside a transaction: use QueryRowContext or a transaction: %.40s", query)
	}
	return d.sql.QueryContext(ctx, q, a...)
}

// QueryRowContext runs a query that returns at most one row.
func (d *DB) QueryRowContext(ctx context.Context, query string, args ...any) *Row {
	q, a := d.prepare(query, args)
	if d.engine == Postgres && isWrite(query) {
		return d.lockedRow(ctx, q, a)
	}
	return &Row{row: d.sql.QueryRowContext(ctx, q, a...)}
}

// BeginTx starts a transaction. A write transaction (opts nil or not
// ReadOnly) holds the writers' lock from its start to its end; a
// read-only one takes no lock and waits for no writer, on either engine.
func (d *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	pool := d.sql
	if opts != nil && opts.ReadOnly && d.readers != nil {
		pool = d.readers
	}
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if d.engine == Postgres && (opts == nil || !opts.ReadOnly) {
		if err := lockWriters(ctx, tx); err != nil {
			_ = tx.Rollback()
			return nil, err
		}
	}
	return &Tx{tx: tx, d: d}, nil
}

// prepare rebinds a query for the engine and converts its arguments.
func (d *DB) prepare(query string, args []any) (string, []any) {
	if d.engine != Postgres {
		return query, args
	}
	d.mu.Lock()
	q, ok := d.rebound[query]
	d.mu.Unlock()
	if !ok {
		q = rebind(query)
		d.mu.Lock()
		if len(d.rebound) < maxRebound {
			d.rebound[query] = q
		}
		d.mu.Unlock()
	}
	return q, pgArgs(args)
}

// isWrite reports whether a statement writes: it starts with INSERT,
// UPDATE, DELETE, REPLACE or WITH (a WITH may end in a write; taking the
// lock for a read costs only time).
func isWrite(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for _, kw := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"} {
		if len(q) >= len(kw) && strings.EqualFold(q[:len(kw)], kw) {
			return true
		}
	}
	return false
}

// ExecAtomic runs a write statement outside a transaction without the
// writers' lock on PostgreSQL, where the statement's own row locks are
// enough: for tables that no transaction reads and then writes (the
// agents' presence leases), one atomic statement at a time. Taking the
// lock for each of a fleet's 15,000 Boots made them one after the other,
// each with its own commit. On SQLite it is ExecContext.
func (d *DB) ExecAtomic(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, a := d.prepare(query, args)
	return d.sql.ExecContext(ctx, q, a...)
}

// QueryRowAtomic is ExecAtomic for a write with RETURNING (or a
// read): at most one row.
func (d *DB) QueryRowAtomic(ctx context.Context, query string, args ...any) *Row {
	q, a := d.prepare(query, args)
	return &Row{row: d.sql.QueryRowContext(ctx, q, a...)}
}
