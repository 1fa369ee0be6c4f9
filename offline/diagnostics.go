package offline

import (
	"context"
	"fmt"
	"os"
)

// The diagnostics bundle's view of the store (agent/diagnostics.go): how
// big it is, what its tables hold and whether SQLite finds it sound, and
// the tasks the hub sent. Counts and states only: never a row's content,
// which names people and holds their credentials' verifiers.

// DBStats describes the database for a diagnostics bundle.
type DBStats struct {
	Path          string           `json:"path"`
	Files         map[string]int64 `json:"files"` // bytes of the file, its -wal and -shm
	SchemaVersion int              `json:"schema_version"`
	PageSize      int64            `json:"page_size"`
	PageCount     int64            `json:"page_count"`
	FreePages     int64            `json:"freelist_count"`
	Rows          map[string]int64 `json:"rows"`        // per table
	QuickCheck    string           `json:"quick_check"` // "ok", or SQLite's findings
}

// maxQuickCheckLines bounds what quick_check reports of a damaged file.
const maxQuickCheckLines = 20

// Stats reads the database's sizes, row counts per table and PRAGMA
// quick_check (which reads every page: seconds on a large file, so not
// for a hot path).
func (s *Store) Stats(ctx context.Context) (DBStats, error) {
	st := DBStats{Path: s.path, Files: map[string]int64{}, Rows: map[string]int64{}}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(s.path + suffix); err == nil {
			st.Files["tessera.db"+suffix] = fi.Size()
		}
	}
	var err error
	if st.SchemaVersion, err = s.SchemaVersion(ctx); err != nil {
		return st, err
	}
	for _, p := range []struct {
		pragma string
		dst    *int64
	}{{"page_size", &st.PageSize}, {"page_count", &st.PageCount}, {"freelist_count", &st.FreePages}} {
		if err := s.db.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(p.dst); err != nil {
			return st, fmt.Errorf("db stats: %s: %w", p.pragma, err)
		}
	}
	if err := s.countRows(ctx, st.Rows); err != nil {
		return st, err
	}
	st.QuickCheck, err = s.quickCheck(ctx)
	return st, err
}

// countRows counts the rows of every table of the schema.
func (s *Store) countRows(ctx context.Context, into map[string]int64) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return fmt.Errorf("db stats: tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("db stats: tables: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db stats: tables: %w", err)
	}
	for _, n := range names {
		var c int64
		// n comes from sqlite_schema, not from outside; quoted all the same.
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+n+`"`).Scan(&c); err != nil {
			return fmt.Errorf("db stats: count %s: %w", n, err)
		}
		into[n] = c
	}
	return nil
}

// quickCheck runs PRAGMA quick_check: "ok", or its first findings.
func (s *Store) quickCheck(ctx context.Context) (string, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("PRAGMA quick_check(%d)", maxQuickCheckLines))
	if err != nil {
		return "", fmt.Errorf("db stats: quick_check: %w", err)
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", fmt.Errorf("db stats: quick_check: %w", err)
		}
		if out != "" {
			out += "\n"
		}
		out += line
	}
	return out, rows.Err()
}

// TaskRecord is one task as the agent remembers it, without its result
// (the hub has it).
type TaskRecord struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	State      string `json:"state"`
	ReceivedAt string `json:"received_at"`
	EndedAt    string `json:"ended_at,omitempty"`
	Error      string `json:"error,omitempty"`
}

// RecentTasks lists the last limit tasks received, newest first.
func (s *Store) RecentTasks(ctx context.Context, limit int) ([]TaskRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, type, state, received_at, ended_at, error FROM tasks
		ORDER BY received_at DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent tasks: %w", err)
	}
	defer rows.Close()
	out := []TaskRecord{}
	for rows.Next() {
		var t TaskRecord
		if err := rows.Scan(&t.ID, &t.Type, &t.State, &t.ReceivedAt, &t.EndedAt, &t.Error); err != nil {
			return nil, fmt.Errorf("recent tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
