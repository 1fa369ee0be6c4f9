package offline

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testBase = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// testClock ticks one millisecond per reading, so every timestamp differs
// and tests can tell which call wrote what. Safe for concurrent use.
func testClock(start time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

func openAt(t testing.TB, path string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Now: now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newStore(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "tessera.db"), testClock(testBase))
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "tessera")
	path := filepath.Join(dir, "agent.db")
	s := openAt(t, path, nil)
	if err := s.SetSetting(context.Background(), "k", "v"); err != nil { // makes the WAL exist
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700 | os.ModeDir},
		{path, 0o600},
		{path + "-wal", 0o600},
		{path + "-shm", 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatalf("stat %s: %v", c.path, err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
}

func TestOpenTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenPragmas(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// Every pooled connection must carry the pragmas, so ask several at once.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"},
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
}

func TestOpenBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A regular file where the directory should be.
	if _, err := Open(context.Background(), filepath.Join(file, "agent.db"), Options{}); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	path := filepath.Join(dir, "agent.db")
	s := openAt(t, path, nil)
	if err := s.SetSetting(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path asked for: %v", err)
	}
}

func TestMigrationsAppliedOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agent.db")
	first := testClock(testBase)
	s := openAt(t, path, first)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, testClock(testBase.Add(24*time.Hour)))
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(migrations()); v != want {
		t.Errorf("SchemaVersion = %d, want %d", v, want)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var ver int
		var at string
		if err := rows.Scan(&ver, &at); err != nil {
			t.Fatal(err)
		}
		when, err := parseTime(at)
		if err != nil {
			t.Fatal(err)
		}
		if !when.Before(testBase.Add(time.Hour)) {
			t.Errorf("migration %d applied_at %v: re-applied by the second Open", ver, when)
		}
		got = append(got, ver)
	}
	if len(got) != len(migrations()) {
		t.Fatalf("schema_migrations versions %v, want 1..%d once each", got, len(migrations()))
	}
	for i, ver := range got {
		if ver != i+1 {
			t.Errorf("schema_migrations versions %v, want 1..%d", got, len(migrations()))
		}
	}
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	step1 := migration{version: 1, sql: `CREATE TABLE a (x INTEGER)`}
	step2 := migration{version: 2, sql: `CREATE TABLE b (y INTEGER)`}
	broken := migration{version: 2, sql: `CREATE TABLE c (z INTEGER); INSERT INTO nowhere VALUES (1)`}
	tests := []struct {
		name        string
		first, then []migration
		wantVersion int
		wantErr     error // nil: no error; errAny: some error
		wantTables  []string
		noTables    []string
	}{
		{"fresh", nil, []migration{step1, step2}, 2, nil, []string{"a", "b"}, nil},
		{"one step later", []migration{step1}, []migration{step1, step2}, 2, nil, []string{"a", "b"}, nil},
		{"nothing to do", []migration{step1, step2}, []migration{step1, step2}, 2, nil, []string{"a", "b"}, nil},
		{"newer database", []migration{step1, step2}, []migration{step1}, 2, ErrSchemaTooNew, []string{"a", "b"}, nil},
		{"failing step rolls back", []migration{step1}, []migration{step1, broken}, 1, errAny, []string{"a"}, []string{"c"}},
		{"versions out of order", nil, []migration{step2}, 0, errAny, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "m.db")))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			now := testClock(testBase)
			log := discard()
			if err := migrate(ctx, db, tt.first, now, log); err != nil {
				t.Fatalf("first migrate: %v", err)
			}
			err = migrate(ctx, db, tt.then, now, log)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("migrate: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("migrate error = %v, want %v", err, tt.wantErr)
			}
			v, err := schemaVersion(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.wantVersion {
				t.Errorf("version %d, want %d", v, tt.wantVersion)
			}
			for _, name := range tt.wantTables {
				if !tableExists(t, db, name) {
					t.Errorf("table %s missing", name)
				}
			}
			for _, name := range tt.noTables {
				if tableExists(t, db, name) {
					t.Errorf("table %s exists: the failed step was not rolled back", name)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestOpenRefusesFutureSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agent.db")
	s := openAt(t, path, nil)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (99, ?)`,
		formatTime(testBase)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "99") {
		t.Errorf("error %q does not name the database's version", err)
	}
}

func TestAgentID(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agent.db")
	s := openAt(t, path, nil)
	id, err := s.AgentID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^agt-[0-9a-f]{16}$`).MatchString(id) {
		t.Errorf("agent id %q, want agt- and 16 hex digits", id)
	}
	stored, ok, err := s.Setting(ctx, "agent_id")
	if err != nil || !ok || stored != id {
		t.Errorf("Setting(agent_id) = %q, %v, %v; want %q", stored, ok, err, id)
	}
	if err := s.SetSetting(ctx, "agent_id", "agt-0000000000000000"); err == nil {
		t.Error("SetSetting(agent_id) succeeded; the id must never change")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, nil)
	again, err := s.AgentID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != id {
		t.Errorf("agent id after reopen %q, want %q", again, id)
	}
	other := newStore(t)
	if oid, _ := other.AgentID(ctx); oid == id {
		t.Errorf("two databases share the agent id %q", id)
	}
}

// Two agents' processes (or an agent and a CLI tool) opening a new file at
// once must agree on the schema and on one agent id.
func TestConcurrentOpenOfNewFile(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "agent.db")
		const n = 4
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := Open(ctx, path, Options{})
				if err != nil {
					errs[i] = err
					return
				}
				defer s.Close()
				ids[i], errs[i] = s.AgentID(ctx)
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: Open %d: %v", round, i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("round %d: agent ids differ: %v", round, ids)
			}
		}
		s := openAt(t, path, nil)
		var count int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != len(migrations()) {
			t.Fatalf("round %d: %d schema_migrations rows, want %d", round, count, len(migrations()))
		}
	}
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	steps := []struct {
		set       bool
		key, val  string
		wantVal   string
		wantFound bool
	}{
		{false, "hub.url", "", "", false},
		{true, "hub.url", "wss://hub.example", "wss://hub.example", true},
		{true, "hub.url", "wss://other.example", "wss://other.example", true},
		{true, "empty", "", "", true},
		{false, "HUB.URL", "", "", false}, // keys are case-sensitive
	}
	for i, st := range steps {
		if st.set {
			if err := s.SetSetting(ctx, st.key, st.val); err != nil {
				t.Fatalf("step %d: SetSetting: %v", i, err)
			}
		}
		v, ok, err := s.Setting(ctx, st.key)
		if err != nil {
			t.Fatalf("step %d: Setting: %v", i, err)
		}
		if v != st.wantVal || ok != st.wantFound {
			t.Errorf("step %d: Setting(%q) = %q, %v; want %q, %v", i, st.key, v, ok, st.wantVal, st.wantFound)
		}
	}
}

func TestClosedStore(t *testing.T) {
	s := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Setting(context.Background(), "k"); err == nil {
		t.Error("Setting on a closed store succeeded")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestDeviceKeyIsStableAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	ctx := context.Background()
	s := openAt(t, path, time.Now)
	k1, err := s.DeviceKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || bytes.Equal(k1, make([]byte, 32)) {
		t.Fatalf("device key %x: want 32 random bytes", k1)
	}
	if err := s.SetSetting(ctx, settingDeviceKey, "00"); err == nil {
		t.Fatal("SetSetting replaced the device key")
	}
	s.Close()
	k2, err := openAt(t, path, time.Now).DeviceKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("the device key changed across a reopen")
	}
	k3, err := newStore(t).DeviceKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1, k3) {
		t.Fatal("two stores share a device key")
	}
}
