package testenv

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// TestPostgres checks the private cluster: a committed row survives a fast
// restart and an immediate stop (a crash), and databases are distinct.
func TestPostgres(t *testing.T) {
	pg := StartPostgres(t)
	dsn := pg.NewDatabase(t)
	if !strings.HasPrefix(dsn, "postgres://tessera@127.0.0.1:") {
		t.Errorf("DSN %q", dsn)
	}
	execSQL(t, dsn, "CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL)")
	execSQL(t, dsn, "INSERT INTO jobs VALUES (1, 'report.pdf')")

	steps := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"restart", func(t *testing.T) { pg.Restart(t) }},
		{"kill and start", func(t *testing.T) { pg.Kill(t); pg.Start(t) }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			if got := queryString(t, dsn, "SELECT name FROM jobs WHERE id = 1"); got != "report.pdf" {
				t.Errorf("after %s: name %q, want report.pdf", s.name, got)
			}
		})
	}

	other := pg.NewDatabase(t)
	if other == dsn {
		t.Fatalf("two NewDatabase gave the same DSN %s", dsn)
	}
	if got := queryString(t, other, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'jobs'"); got != "0" {
		t.Errorf("the second database sees the first one's table (%s)", got)
	}
	if got := queryString(t, dsn, "SHOW max_connections"); got != "300" {
		t.Errorf("max_connections %s, want 300", got)
	}
	if got := queryString(t, dsn, "SHOW fsync"); got != "on" {
		t.Errorf("fsync %s, want on", got)
	}
	if !strings.Contains(pg.Log(), "database system is ready to accept connections") {
		t.Errorf("the log lacks the server's start:\n%s", pg.Log())
	}
}

// TestPostgresMain checks the cluster a TestMain shares: it serves
// databases, empty or copies of a template, until stop, which removes it;
// and one that could not start ends only the tests that ask it for a
// database.
func TestPostgresMain(t *testing.T) {
	pg, stop, err := StartPostgresMain()
	if errors.Is(err, ErrUnavailable) {
		Unavailable(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dsn := pg.NewDatabase(t)
	if got := queryString(t, dsn, "SELECT current_database()"); !strings.HasPrefix(got, "t_testpostgresmain_") {
		t.Errorf("current_database %q", got)
	}
	if err := pg.Template("tmpl_jobs", func(dsn string) error {
		// Left open on purpose: Template must end its session.
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return err
		}
		t.Cleanup(func() { db.Close() })
		_, err = db.Exec("CREATE TABLE jobs (id int PRIMARY KEY); INSERT INTO jobs VALUES (1)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	first, second := pg.NewDatabaseFrom(t, "tmpl_jobs"), pg.NewDatabaseFrom(t, "tmpl_jobs")
	execSQL(t, first, "INSERT INTO jobs VALUES (2)")
	for _, c := range []struct{ dsn, want string }{{first, "2"}, {second, "1"}} {
		if got := queryString(t, c.dsn, "SELECT count(*)::text FROM jobs"); got != c.want {
			t.Errorf("copy of the template: %s jobs, want %s", got, c.want)
		}
	}

	stop()
	if _, err := os.Stat(pg.dir); !os.IsNotExist(err) {
		t.Errorf("the cluster's folder is still there after stop: %v", err)
	}
	if err := pg.ping(); err == nil {
		t.Errorf("the server still answers after stop")
	}

	t.Setenv("CI", "") // Unavailable skips outside CI
	broken := &Postgres{err: fmt.Errorf("%w: not here", ErrUnavailable)}
	var sub *testing.T
	t.Run("unavailable", func(t *testing.T) {
		sub = t
		broken.NewDatabase(t)
	})
	if !sub.Skipped() {
		t.Errorf("NewDatabase on a cluster that could not start did not skip")
	}
}

// TestDatabaseName checks that names stay valid identifiers for any test
// name, unique and within PostgreSQL's 63 bytes.
func TestDatabaseName(t *testing.T) {
	for _, name := range []string{
		"TestX",
		"TestPostgres/kill_and_start",
		strings.Repeat("TestAVeryLongName/with/sub/tests#01", 4),
		"Test/Ünïcode ☃",
	} {
		a, b := databaseName(name), databaseName(name)
		if a == b {
			t.Errorf("%q: two equal names %s", name, a)
		}
		if len(a) > 63 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("%q: bad name %q", name, a)
		}
	}
}

// execSQL runs one statement on a fresh connection: one opened before a
// restart would be broken.
func execSQL(t *testing.T, dsn, stmt string) {
	t.Helper()
	db := openDB(t, dsn)
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func queryString(t *testing.T, dsn, query string) string {
	t.Helper()
	var s string
	if err := openDB(t, dsn).QueryRow(query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
