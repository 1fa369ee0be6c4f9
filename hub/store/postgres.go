package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// writersLock is the key of the advisory lock every write takes on
// PostgreSQL: one per database, shared by every node ("TSSR" in ASCII).
const writersLock = 0x54535352

// OpenPostgres connects to the PostgreSQL database dsn names and brings
// its schema up to date with migrations (the schema's version is kept in
// the table schema_version). maxConns bounds the pool.
func OpenPostgres(ctx context.Context, dsn string, maxConns int, migrations []string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(shouldPing))
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	d := &DB{sql: db, engine: Postgres, rebound: map[string]string{}, dsn: dsn}
	if err := d.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := migratePostgres(ctx, d, migrations); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// pingIdle is how long a pooled connection may have been idle (since it
// was last taken from the pool) before the driver pings it on its next
// use; pgx's default is a second.
//
// A restart of PostgreSQL (fast shutdown) ends every session with 57P01
// admin_shutdown, which a pooled connection only reads on its next use:
// the statement sent then fails, and database/sql cannot tell whether it
// ran, so it is never retried. With the default, on a busy node each
// stale connection failed one call after a restart (TestPostgresRestart
// reproduces it). A failed ping tells database/sql the connection is bad
// before anything is sent: it takes another, or opens one.
//
// Every connection taken before a restart has been idle at least as long
// as the restart took (a stop and a start: 0.3 s and more in
// TestPostgresRestart), so pinging those idle past pingIdle finds them all
// unless a restart takes less than pingIdle.
// Pinging every reuse would cost a round trip per statement: 184 µs
// instead of 81 µs per short read here (BenchmarkQueryRow, medians of
// five, under load); a busy node reuses its connections within
// milliseconds and pays nothing. A single session ended while idle
// (pg_terminate_backend) and reused within pingIdle still fails one call.
const pingIdle = 50 * time.Millisecond

// shouldPing is the driver's check before reusing a pooled connection.
func shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration > pingIdle
}

// migratePostgres applies the migrations the database has not seen, each
// in a transaction of its own under the writers' lock, so that nodes
// started at once migrate once. The version table is made under the lock
// too: two CREATE TABLE IF NOT EXISTS at once on a fresh database fail
// one of them (type "schema_version" already exists).
func migratePostgres(ctx context.Context, d *DB, migrations []string) error {
	err := d.locked(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
		return err
	})
	if err != nil {
		return fmt.Errorf("schema version table: %w", err)
	}
	for {
		done, err := migrateOne(ctx, d, migrations)
		if err != nil || done {
			return err
		}
	}
}

func migrateOne(ctx context.Context, d *DB, migrations []string) (done bool, err error) {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return false, fmt.Errorf("schema version %d is newer than this hub (%d)", version, len(migrations))
	}
	if version == len(migrations) {
		return true, nil
	}
	if _, err := tx.tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	if _, err := tx.tx.ExecContext(ctx, "DELETE FROM schema_version"); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	if _, err := tx.tx.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES ($1)", version+1); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %d: %w", version+1, err)
	}
	return false, nil
}

func lockWriters(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(writersLock)); err != nil {
		return fmt.Errorf("take the writers' lock: %w", err)
	}
	return nil
}

// locked runs f in a short transaction that holds the writers' lock.
func (d *DB) locked(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := lockWriters(ctx, tx); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// lockedRow runs a write with RETURNING in a short locked transaction
// that the Row's Scan ends.
func (d *DB) lockedRow(ctx context.Context, q string, args []any) *Row {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return &Row{err: err}
	}
	if err := lockWriters(ctx, tx); err != nil {
		_ = tx.Rollback()
		return &Row{err: err}
	}
	return &Row{row: tx.QueryRowContext(ctx, q, args...), tx: tx}
}

// rebind turns the ? placeholders of a query into PostgreSQL's $1, $2, ...
// and SQLite's numbered ?NNN into $NNN; a plain ? after them is numbered
// as SQLite numbers it, one more than the largest number so far. A ? in a
// quoted string or identifier stays.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if num, err := strconv.Atoi(query[i+1 : j]); err == nil {
				n = max(n, num)
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(num))
				i = j - 1
				continue
			}
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// args converts arguments for the engine.
func (d *DB) args(args []any) []any {
	if d.engine != Postgres {
		return args
	}
	return pgArgs(args)
}

// pgArgs stores booleans as the integers 1 and 0, as SQLite does: the
// schema keeps flags in integer columns on both engines, so that the same
// SQL (connected = 1) runs on both.
func pgArgs(args []any) []any {
	var out []any
	for i, a := range args {
		var v any
		switch x := a.(type) {
		case bool:
			v = boolInt(x)
		case sql.NullBool:
			v = sql.NullInt64{Int64: boolInt(x.Bool), Valid: x.Valid}
		default:
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = v
	}
	if out == nil {
		return args
	}
	return out
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// isPgUnique reports a unique_violation (SQLSTATE 23505).
func isPgUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
