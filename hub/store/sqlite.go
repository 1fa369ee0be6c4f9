package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tessera-print/tessera/internal/sqlitefile"
)

// OpenSQLite opens (creating if needed, readable by its owner only) the
// SQLite database at path, checks that it runs in WAL mode with
// synchronous=FULL, and brings its schema up to date with migrations
// (PRAGMA user_version holds how many ran). maxConns bounds the pool:
// unbounded, 1,000 agents booting at once opened ~980 connections, each a
// thread and a page cache, that fought for the one write lock until calls
// failed "database is locked" (docs/benchmarks.md, Fleet).
func OpenSQLite(ctx context.Context, path string, maxConns int, migrations []string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := sqlitefile.CreatePrivate(abs); err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	// Foreign keys on: the schema's ON DELETE CASCADE needs them.
	dsn := sqlitefile.DSN(abs, sqlitefile.Param{Key: "_foreign_keys", Value: "on"})
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := sqlitefile.CheckDurable(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	if err := migrateSQLite(ctx, db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", abs, err)
	}
	readers, err := openSQLiteReaders(dsn, maxConns)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	return &DB{sql: db, engine: SQLite, readers: readers}, nil
}

// openSQLiteReaders opens the pool of read-only transactions. The
// driver begins every transaction of a pool the same way, and the main
// pool's take the write lock at once (_txlock=immediate), so a read-only
// transaction there would wait for any writer (up to the busy timeout,
// then fail "database is locked"). This pool's begin as SQLite does by
// default (deferred: in WAL mode a reader reads a snapshot beside the
// writer) and cannot write (query_only), as PostgreSQL's READ ONLY.
func openSQLiteReaders(dsn string, maxConns int) (*sql.DB, error) {
	base, query, _ := strings.Cut(dsn, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("read-only pool: %w", err)
	}
	params.Set("_txlock", "deferred")
	params.Set("_query_only", "1")
	db, err := sql.Open("sqlite3", base+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("read-only pool: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	return db, nil
}

func migrateSQLite(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this hub (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if err := migrateSQLiteStep(ctx, db, i+1, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

// migrateSQLiteStep applies one migration. user_version lives in the
// database header and is transactional, so a crash leaves either the old
// schema and version or the new ones.
func migrateSQLiteStep(ctx context.Context, db *sql.DB, version int, migration string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, migration); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	return tx.Commit()
}

// IsUnique reports whether err is a UNIQUE or PRIMARY KEY violation, on
// either engine.
func IsUnique(err error) bool { return sqlitefile.IsUnique(err) || isPgUnique(err) }
