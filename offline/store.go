package offline

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/tessera-print/tessera/internal/sqlitefile"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives the store's few operational messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock for every timestamp the store writes; nil means time.Now.
	Now func() time.Time
}

// Store is the agent's SQLite database. It is safe for concurrent use, also
// by several Stores (or processes) on the same file: every write is an
// IMMEDIATE transaction, so SQLite serialises them.
type Store struct {
	db      *sql.DB
	log     *slog.Logger
	now     func() time.Time
	path    string
	agentID string
}

// ErrSchemaTooNew is returned by Open for a database written by a newer
// version of the program: running old code on it could corrupt the ledger.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// ErrNotFound is returned for a job id that has no row in the journal.
var ErrNotFound = errors.New("no such job in the journal")

// settingAgentID is the settings key of the agent's id; SetSetting refuses it
// because the id names every accounting record the agent ever wrote.
const settingAgentID = "agent_id"

// timeLayout is fixed-width so that stored timestamps sort as text and stay
// readable with the sqlite3 shell.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// dsn builds the driver's connection string: sqlitefile's (WAL,
// synchronous=FULL, busy timeout, IMMEDIATE write transactions, the path
// URI-escaped) with foreign keys on.
func dsn(path string) string {
	return sqlitefile.DSN(path, sqlitefile.Param{Key: "_foreign_keys", Value: "on"})
}

// Open opens (creating if needed) the database at path, checks that it runs
// in WAL mode with synchronous=FULL, and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	return open(ctx, path, opts, migrations())
}

// open is Open with the schema steps given (tests stand for a newer agent's).
func open(ctx context.Context, path string, opts Options, steps []migration) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := createFile(abs, log); err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	db, err := sql.Open("sqlite3", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	s := &Store{db: db, log: log, now: now, path: abs}
	if err := s.init(ctx, steps); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return s, nil
}

// createFile makes the parent directory (owner only) and the database
// file with owner-only permissions before SQLite sees it
// (sqlitefile.CreatePrivate). The ledger names people; a file someone left
// too open that cannot be restricted is logged, not refused.
func createFile(path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	err := sqlitefile.CreatePrivate(path)
	if errors.Is(err, sqlitefile.ErrNotPrivate) {
		log.Warn("store file is readable by others and could not be restricted", "path", path, "err", err)
		return nil
	}
	return err
}

func (s *Store) init(ctx context.Context, steps []migration) error {
	if err := sqlitefile.CheckDurable(ctx, s.db); err != nil {
		return err
	}
	if err := migrate(ctx, s.db, steps, s.now, s.log); err != nil {
		return err
	}
	id, err := s.ensureAgentID(ctx)
	if err != nil {
		return err
	}
	s.agentID = id
	return nil
}

// Close closes the database. Committed data is already on disk; Close only
// releases the connections (and lets SQLite checkpoint the WAL).
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// SchemaVersion reports the highest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.db)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// AgentID returns the agent's id, generated once when the database was
// created and never changed afterwards.
func (s *Store) AgentID(ctx context.Context) (string, error) {
	return s.agentID, nil
}

// ensureAgentID generates the id on first use. Two processes opening a new
// database at once both try; the IMMEDIATE transaction and INSERT OR IGNORE
// make the first one win and the second read it.
func (s *Store) ensureAgentID(ctx context.Context) (string, error) {
	candidate, err := newAgentID()
	if err != nil {
		return "", err
	}
	var id string
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO settings (key, value, updated_at) VALUES (?, ?, ?)`,
			settingAgentID, candidate, formatTime(s.now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingAgentID).Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("agent id: %w", err)
	}
	if id == candidate {
		s.log.Info("generated agent id", "agent_id", id)
	}
	return id, nil
}

func newAgentID() (string, error) {
	b, err := randomHex(8)
	if err != nil {
		return "", fmt.Errorf("generate agent id: %w", err)
	}
	return "agt-" + b, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Setting returns the value stored under key, and whether there was one.
func (s *Store) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting stores value under key, replacing any earlier value. The agent
// id cannot be set: changing it would reuse record ids the hub already holds.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if key == settingAgentID || key == settingDeviceKey {
		return fmt.Errorf("set setting %s: it is generated by the store and never changes", key)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, formatTime(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("set setting %s: %w", key, err)
	}
	return nil
}

// inTx runs fn in one IMMEDIATE transaction (the DSN's _txlock), committing
// if fn returns nil. Taking the write lock at BEGIN is what makes a
// check-then-write atomic against other connections and processes, and it
// avoids the deadlock of two readers upgrading to writers at once.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, s.db, fn)
}

func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return diskFull(err)
	}
	if err := tx.Commit(); err != nil {
		return diskFull(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// settingDeviceKey keeps the per-device secret of DeviceKey.
const settingDeviceKey = "device_key"

// DeviceKey returns this agent's 32-byte secret, created at random on
// first use and kept in the store (a 0600 file). It keys the hashes the
// agent keeps of people's identifiers (HMAC-SHA-256), so that what is at
// rest is useless on another device and names no one.
func (s *Store) DeviceKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	var v string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, settingDeviceKey, hex.EncodeToString(fresh), formatTime(s.now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, settingDeviceKey).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("device key: the stored key is damaged (%d bytes)", len(key))
	}
	return key, nil
}
