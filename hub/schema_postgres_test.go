package hub

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/testenv"
)

// TestPostgresSchemaMatchesSQLite migrates a fresh SQLite hub database and
// a fresh PostgreSQL one and compares what the hub's SQL depends on: the
// tables, their columns (order, type, NOT NULL, DEFAULT), primary keys,
// unique constraints, indexes (unique, partial and their WHERE), foreign
// keys, the number of CHECKs and the triggers; then how they behave: the
// same statements write the same rows through the triggers and break the
// same constraints on both. Also: reopening a migrated PostgreSQL
// database is a no-op, and two nodes migrating a fresh one at once both
// succeed.
func TestPostgresSchemaMatchesSQLite(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lite, err := openDB(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pdb := openPG(ctx, t, pg.NewDatabase(t))

	want, err := sqliteSchema(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	got, err := postgresSchema(ctx, pdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 {
		t.Fatalf("SQLite's schema described in %d lines only: %q", len(want), want)
	}
	if missing, extra := setDiff(want, got), setDiff(got, want); len(missing)+len(extra) > 0 {
		t.Errorf("PostgreSQL's schema differs from SQLite's.\nin SQLite, not in PostgreSQL:\n\t%s\nin PostgreSQL, not in SQLite:\n\t%s",
			strings.Join(missing, "\n\t"), strings.Join(extra, "\n\t"))
	}

	t.Run("reopen", func(t *testing.T) { testPostgresReopen(ctx, t, pg) })
	t.Run("concurrent", func(t *testing.T) { testPostgresConcurrentMigrate(ctx, t, pg) })
	t.Run("triggers", func(t *testing.T) { testPostgresTriggers(ctx, t, lite, pdb) })
	t.Run("constraints", func(t *testing.T) { testPostgresConstraints(ctx, t, lite, pdb) })
}

func openPG(ctx context.Context, t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.OpenPostgres(ctx, dsn, 4, pgMigrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testPostgresReopen: opening a migrated database again changes nothing.
func testPostgresReopen(ctx context.Context, t *testing.T, pg *testenv.Postgres) {
	dsn := pg.NewDatabase(t)
	first := openPG(ctx, t, dsn)
	if _, err := first.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "k", `"v"`, 1); err != nil {
		t.Fatal(err)
	}
	first.Close()
	again := openPG(ctx, t, dsn)
	checkPostgresVersion(ctx, t, again)
	var value string
	if err := again.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", "k").Scan(&value); err != nil || value != `"v"` {
		t.Errorf("after reopening: setting %q, %v", value, err)
	}
}

// testPostgresConcurrentMigrate: nodes started at once on a fresh
// database both come up, and the schema is made once.
func testPostgresConcurrentMigrate(ctx context.Context, t *testing.T, pg *testenv.Postgres) {
	dsn := pg.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.OpenPostgres(ctx, dsn, 2, pgMigrations)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i+1, err)
		}
	}
	checkPostgresVersion(ctx, t, openPG(ctx, t, dsn))
}

func checkPostgresVersion(ctx context.Context, t *testing.T, db *store.DB) {
	t.Helper()
	var rows, version int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_version").Scan(&rows, &version)
	if err != nil || rows != 1 || version != len(pgMigrations) {
		t.Errorf("schema_version: %d rows, version %d (want 1 row, %d), %v", rows, version, len(pgMigrations), err)
	}
}

// setDiff returns what a holds that b does not.
func setDiff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// sqliteSchema describes SQLite's schema as lines, one per fact, in the
// form postgresSchema gives PostgreSQL's.
func sqliteSchema(ctx context.Context, db *store.DB) ([]string, error) {
	tables, err := strs(ctx, db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, table := range tables {
		lines, err := sqliteTable(ctx, db, table)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", table, err)
		}
		out = append(out, lines...)
	}
	triggers, err := strs(ctx, db, "SELECT tbl_name || ' trigger ' || name FROM sqlite_master WHERE type = 'trigger'")
	return append(out, triggers...), err
}

func sqliteTable(ctx context.Context, db *store.DB, table string) ([]string, error) {
	// A primary key column is NOT NULL in PostgreSQL, and in SQLite only
	// by its declaration (a quirk kept for compatibility): either way the
	// hub never stores NULL there.
	columns, err := strs(ctx, db, `SELECT ? || ' column ' || (cid + 1) || ' ' || name || ' ' ||
		CASE upper(type) WHEN 'INTEGER' THEN 'bigint' WHEN 'TEXT' THEN 'text "C"' WHEN 'BLOB' THEN 'bytea'
			WHEN 'REAL' THEN 'double precision' ELSE 'type ' || type END ||
		CASE WHEN "notnull" OR pk > 0 THEN ' NOT NULL' ELSE '' END ||
		COALESCE(' DEFAULT ' || dflt_value, '')
		FROM pragma_table_info(?) ORDER BY cid`, table, table)
	if err != nil {
		return nil, err
	}
	pk, err := strs(ctx, db, "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", table)
	if err != nil {
		return nil, err
	}
	out := columns
	if len(pk) > 0 {
		out = append(out, fmt.Sprintf("%s primary key (%s)", table, strings.Join(pk, ", ")))
	}
	indexes, err := sqliteIndexes(ctx, db, table)
	if err != nil {
		return nil, err
	}
	fks, err := sqliteForeignKeys(ctx, db, table)
	if err != nil {
		return nil, err
	}
	var create string
	if err := db.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&create); err != nil {
		return nil, err
	}
	checks := strings.Count(strings.ToUpper(create), "CHECK (")
	return append(append(append(out, indexes...), fks...), fmt.Sprintf("%s checks %d", table, checks)), nil
}

// sqliteIndexes describes a table's unique constraints (by columns: their
// names are SQLite's own) and its named indexes.
func sqliteIndexes(ctx context.Context, db *store.DB, table string) ([]string, error) {
	type index struct {
		name, origin   string
		unique, partly bool
	}
	rows, err := db.QueryContext(ctx, `SELECT name, origin, "unique", partial FROM pragma_index_list(?)`, table)
	if err != nil {
		return nil, err
	}
	var list []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.origin, &ix.unique, &ix.partly); err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, ix := range list {
		cols, err := strs(ctx, db, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", ix.name)
		if err != nil {
			return nil, err
		}
		switch ix.origin {
		case "pk":
		case "u":
			out = append(out, fmt.Sprintf("%s unique (%s)", table, strings.Join(cols, ", ")))
		default:
			where := ""
			if ix.partly {
				var create string
				if err := db.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", ix.name).Scan(&create); err != nil {
					return nil, err
				}
				_, where, _ = strings.Cut(create, " WHERE ")
			}
			out = append(out, indexLine(table, ix.name, ix.unique, cols, where))
		}
	}
	return out, nil
}

// indexLine describes a named index, its WHERE in one spelling for both
// engines: PostgreSQL gives (grp <> ”::text) for grp != ”.
func indexLine(table, name string, unique bool, cols []string, where string) string {
	kind := "index"
	if unique {
		kind = "unique index"
	}
	line := fmt.Sprintf("%s %s %s (%s)", table, kind, name, strings.Join(cols, ", "))
	if where == "" {
		return line
	}
	where = strings.NewReplacer("::text", "", "<>", "!=", "(", "", ")", "").Replace(where)
	return line + " WHERE " + strings.Join(strings.Fields(where), " ")
}

func sqliteForeignKeys(ctx context.Context, db *store.DB, table string) ([]string, error) {
	// Every foreign key of the hub has one column.
	return strs(ctx, db, `SELECT ? || ' foreign key (' || "from" || ') references ' || "table" || ' (' || "to" || ')' ||
		CASE on_delete WHEN 'NO ACTION' THEN '' ELSE ' on delete ' || lower(on_delete) END
		FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table, table)
}

// postgresSchema describes PostgreSQL's schema as sqliteSchema does
// SQLite's (the table schema_version, the store's own, left out).
func postgresSchema(ctx context.Context, db *store.DB) ([]string, error) {
	queries := []struct {
		q    string
		args []any
	}{{
		// Columns, numbered from 1 (SQLite's cid + 1).
		`SELECT c.table_name || ' column ' ||
			c.ordinal_position || ' ' || c.column_name || ' ' ||
			CASE c.data_type WHEN 'text' THEN 'text "' || COALESCE(c.collation_name, 'default') || '"' ELSE c.data_type END ||
			CASE c.is_nullable WHEN 'NO' THEN ' NOT NULL' ELSE '' END ||
			COALESCE(' DEFAULT ' || regexp_replace(c.column_default, '::(text|bigint)$', ''), '')
		FROM information_schema.columns c
		WHERE c.table_schema = 'public' AND c.table_name != 'schema_version'`, nil}, {
		`SELECT rel.relname || ' primary key (' || string_agg(a.attname, ', ' ORDER BY k.n) || ')'
		FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
			JOIN pg_namespace ns ON ns.oid = rel.relnamespace AND ns.nspname = 'public'
			CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
			JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum = k.attnum
		WHERE con.contype = 'p' AND rel.relname != 'schema_version'
		GROUP BY rel.relname, con.oid`, nil}, {
		`SELECT rel.relname || ' unique (' || string_agg(a.attname, ', ' ORDER BY k.n) || ')'
		FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
			JOIN pg_namespace ns ON ns.oid = rel.relnamespace AND ns.nspname = 'public'
			CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
			JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum = k.attnum
		WHERE con.contype = 'u'
		GROUP BY rel.relname, con.oid`, nil}, {
		`SELECT rel.relname || ' foreign key (' || a.attname || ') references ' || frel.relname || ' (' || fa.attname || ')' ||
			CASE con.confdeltype WHEN 'c' THEN ' on delete cascade' WHEN 'n' THEN ' on delete set null' ELSE '' END
		FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
			JOIN pg_namespace ns ON ns.oid = rel.relnamespace AND ns.nspname = 'public'
			JOIN pg_class frel ON frel.oid = con.confrelid
			JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum = con.conkey[1]
			JOIN pg_attribute fa ON fa.attrelid = frel.oid AND fa.attnum = con.confkey[1]
		WHERE con.contype = 'f'`, nil}, {
		`SELECT rel.relname || ' checks ' || COUNT(con.oid)
		FROM pg_class rel JOIN pg_namespace ns ON ns.oid = rel.relnamespace AND ns.nspname = 'public'
			LEFT JOIN pg_constraint con ON con.conrelid = rel.oid AND con.contype = 'c'
		WHERE rel.relkind = 'r' AND rel.relname != 'schema_version'
		GROUP BY rel.relname`, nil}, {
		`SELECT tgrelid::regclass::text || ' trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal`, nil}}
	var out []string
	for _, q := range queries {
		lines, err := strs(ctx, db, q.q, q.args...)
		if err != nil {
			return nil, fmt.Errorf("%.60s: %w", q.q, err)
		}
		out = append(out, lines...)
	}
	indexes, err := postgresIndexes(ctx, db)
	return append(out, indexes...), err
}

// postgresIndexes describes the indexes that back no constraint (the
// named ones of CREATE INDEX).
func postgresIndexes(ctx context.Context, db *store.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT rel.relname, ic.relname, ix.indisunique,
			array_to_string(ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true) FROM generate_series(1, ix.indnkeyatts) AS k ORDER BY k), '|'),
			COALESCE(pg_get_expr(ix.indpred, ix.indrelid, true), '')
		FROM pg_index ix JOIN pg_class rel ON rel.oid = ix.indrelid JOIN pg_class ic ON ic.oid = ix.indexrelid
			JOIN pg_namespace ns ON ns.oid = rel.relnamespace AND ns.nspname = 'public'
		WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var table, name, cols, where string
		var unique bool
		if err := rows.Scan(&table, &name, &unique, &cols, &where); err != nil {
			return nil, err
		}
		out = append(out, indexLine(table, name, unique, strings.Split(cols, "|"), where))
	}
	return out, rows.Err()
}

// strs runs a query of one text column.
func strs(ctx context.Context, db *store.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// testPostgresTriggers runs the same statements on both engines, each
// firing triggers (offline versions, tombstones, the claim log), and
// compares what the triggers wrote.
func testPostgresTriggers(ctx context.Context, t *testing.T, lite, pdb *store.DB) {
	steps := []struct {
		query string
		args  []any
	}{
		{"INSERT INTO users (username, created_at, updated_at) VALUES (?, 1, 1), (?, 1, 1)", []any{"alice", "bob"}},
		{"INSERT INTO cards (lookup, user_id) SELECT ?, id FROM users WHERE username = ?", []any{[]byte{1}, "alice"}},
		{"INSERT INTO cards (lookup, user_id) SELECT ?, id FROM users WHERE username = ?", []any{[]byte{2}, "alice"}},
		{"INSERT INTO pins (lookup, user_id, hash) SELECT ?, id, 'h' FROM users WHERE username = ?", []any{[]byte{3}, "bob"}},
		{`INSERT INTO offline_verifiers (user_id, kind, card_lookup, verifier, params, created_at)
			SELECT id, 'card', ?, ?, '{}', 1 FROM users WHERE username = ?`, []any{[]byte{1}, []byte{9}, "alice"}},
		{"UPDATE users SET full_name = ? WHERE username = ?", []any{"Bob", "bob"}},
		{"UPDATE users SET updated_at = 2 WHERE username = ?", []any{"bob"}},
		{"UPDATE users SET locked = ? WHERE username = ?", []any{true, "bob"}},
		{"UPDATE cards SET user_id = (SELECT id FROM users WHERE username = ?) WHERE lookup = ?", []any{"bob", []byte{2}}},
		{"DELETE FROM pins WHERE lookup = ?", []any{[]byte{3}}},
		{"INSERT INTO users (username, home_agent, created_at, updated_at) VALUES (?, ?, 1, 1)", []any{"carol", "a9"}},
		{"DELETE FROM users WHERE username = ?", []any{"carol"}},
		{`INSERT INTO jobs (id, owner, name, pages, copies, color, duplex, format, size, sha256, state, submitted_at)
			VALUES ('j1', 'bob', 'n', 3, 2, 0, 0, 'pdf', 1, 's', 'held', 1)`, nil},
		{"UPDATE jobs SET claim_id = 'c0' WHERE id = 'j1'", nil},
		{"UPDATE jobs SET printing_agent = 'a1', claim_id = 'c1' WHERE id = 'j1'", nil},
		{"UPDATE jobs SET claim_id = 'c1', pages = 7 WHERE id = 'j1'", nil},
		{"INSERT INTO claims (key, agent_id, claim_id, claimed_at, updated_at) VALUES ('k1', 'a2', 'c2', 1, 1)", nil},
		{"UPDATE claims SET claim_id = 'c3' WHERE key = 'k1'", nil},
		{"UPDATE claims SET done = 1 WHERE key = 'k1'", nil},
	}
	dumps := []string{
		"SELECT version || ' ' || floor FROM offline_seq",
		"SELECT username || ' ' || offline_version || ' ' || locked FROM users ORDER BY username",
		"SELECT username || ' ' || home_agent || ' ' || version FROM offline_tombstones ORDER BY version",
		"SELECT user_id FROM cards ORDER BY lookup",
		"SELECT claim_id || ' ' || agent_id || ' ' || job_id || ' ' || key || ' ' || owner || ' ' || impressions FROM claim_log ORDER BY claim_id",
	}
	results := make([][]string, 2)
	for i, db := range []*store.DB{lite, pdb} {
		for _, s := range steps {
			if _, err := db.ExecContext(ctx, s.query, s.args...); err != nil {
				t.Fatalf("%s: %s: %v", db.Engine(), s.query, err)
			}
		}
		for _, q := range dumps {
			lines, err := strs(ctx, db, q)
			if err != nil {
				t.Fatalf("%s: %s: %v", db.Engine(), q, err)
			}
			results[i] = append(results[i], q+":", "\t"+strings.Join(lines, "\n\t"))
		}
	}
	if !slices.Equal(results[0], results[1]) {
		t.Errorf("the triggers wrote differently.\nSQLite:\n%s\nPostgreSQL:\n%s", strings.Join(results[0], "\n"), strings.Join(results[1], "\n"))
	}
}

// testPostgresConstraints runs, on both engines, statements that the
// schema's constraints must refuse (CHECKs, foreign keys, unique and
// partial unique indexes) and some they must take, each in a transaction
// rolled back, after the trigger test's rows (bob, job j1).
func testPostgresConstraints(ctx context.Context, t *testing.T, lite, pdb *store.DB) {
	const job = `INSERT INTO leases (lease_id, job_id, agent_id, claim_id, state, granted_at, expires_at, granted_run, granted_mono)
		VALUES (?, 'j1', 'a1', 'c1', ?, 1, 2, 'r', 1)`
	const alert = "INSERT INTO alerts (code, at, message, once_key) VALUES ('x', 1, 'm', ?)"
	tests := []struct {
		name  string
		stmts [][]any // each: query, then its arguments
		ok    bool
	}{
		{"card verifier without its card", [][]any{{`INSERT INTO offline_verifiers (user_id, kind, pin_lookup, verifier, params, created_at)
			SELECT id, 'card', NULL, ?, '{}', 1 FROM users WHERE username = 'bob'`, []byte{8}}}, false},
		{"verifier of another kind", [][]any{{`INSERT INTO offline_verifiers (user_id, kind, card_lookup, verifier, params, created_at)
			SELECT id, 'face', ?, ?, '{}', 1 FROM users WHERE username = 'bob'`, []byte{2}, []byte{8}}}, false},
		{"a second offline_seq", [][]any{{"INSERT INTO offline_seq (id, version, floor) VALUES (2, 1, 0)"}}, false},
		{"card of no user", [][]any{{"INSERT INTO cards (lookup, user_id) VALUES (?, 999)", []byte{7}}}, false},
		{"download token of no job", [][]any{{"INSERT INTO download_tokens (token_hash, job_id, expires_at) VALUES (?, 'nojob', 1)", []byte{7}}}, false},
		{"two active leases of a job", [][]any{{job, "l1", "active"}, {job, "l2", "active"}}, false},
		{"an active lease beside ended ones", [][]any{{job, "l1", "ended"}, {job, "l2", "ended"}, {job, "l3", "active"}}, true},
		{"an alert raised twice once", [][]any{{alert, "k"}, {alert, "k"}}, false},
		{"alerts without a once key", [][]any{{alert, nil}, {alert, nil}}, true},
		{"two agents of one certificate", [][]any{
			{"INSERT INTO agents (id, cert_sha256, created_at) VALUES ('g1', ?, 1)", []byte{1}},
			{"INSERT INTO agents (id, cert_sha256, created_at) VALUES ('g2', ?, 1)", []byte{1}}}, false},
		{"a user named twice", [][]any{{"INSERT INTO users (username, created_at, updated_at) VALUES ('bob', 1, 1)"}}, false},
		{"user names differing in case", [][]any{{"INSERT INTO users (username, created_at, updated_at) VALUES ('Bob', 1, 1)"}}, true},
	}
	for _, db := range []*store.DB{lite, pdb} {
		for _, tc := range tests {
			err := rolledBack(ctx, db, tc.stmts)
			if (err == nil) != tc.ok {
				t.Errorf("%s: %s: %v, want ok %v", db.Engine(), tc.name, err, tc.ok)
			}
		}
	}
}

// rolledBack runs statements in a transaction it rolls back, and returns
// the first one's error.
func rolledBack(ctx context.Context, db *store.DB, stmts [][]any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st[0].(string), st[1:]...); err != nil {
			return err
		}
	}
	return nil
}
