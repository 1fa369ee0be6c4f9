package hub

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/testenv"
)

// The hub's tests run on SQLite, or with TESSERA_HUB_TEST_DB=postgres on
// PostgreSQL (one private cluster for the package, a database per test
// copied from a migrated template): one suite, both engines (issue 13;
// make test runs both).
const engineEnv = "TESSERA_HUB_TEST_DB"

// testPG is the package's PostgreSQL cluster when the tests run on it,
// else nil. Set once by TestMain before the tests run, never changed.
var testPG *testenv.Postgres

// pgTemplate is the database, migrated once, that each test's database
// copies.
const pgTemplate = "hub_template"

func TestMain(m *testing.M) {
	var stop func()
	switch engine := os.Getenv(engineEnv); engine {
	case "", "sqlite":
	case "postgres":
		pg, stopPG, err := startTestPostgres()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub tests on PostgreSQL:", err)
			os.Exit(1)
		}
		testPG, stop = pg, stopPG
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: want sqlite or postgres\n", engineEnv, engine)
		os.Exit(2)
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// startTestPostgres starts the cluster and its migrated template.
func startTestPostgres() (*testenv.Postgres, func(), error) {
	pg, stop, err := testenv.StartPostgresMain()
	if err != nil {
		return nil, stop, err
	}
	err = pg.Template(pgTemplate, func(dsn string) error {
		db, err := store.OpenPostgres(context.Background(), dsn, 2, pgMigrations)
		if err != nil {
			return err
		}
		return db.Close()
	})
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	return pg, stop, nil
}

// testDatabase is the Config.Database of a test's hub: a fresh migrated
// PostgreSQL database when the tests run on PostgreSQL, else "" (SQLite in
// the data directory).
func testDatabase(t testing.TB) string {
	if testPG == nil {
		return ""
	}
	return testPG.NewDatabaseFrom(t, pgTemplate)
}

// where is the store of h, for the tools that open it beside the hub.
func (h *testHub) where() StoreLocation {
	return StoreLocation{DataDir: h.s.cfg.DataDir, Database: h.s.cfg.Database}
}

// sameStore makes a hub opened again use h's store: its data directory and,
// on PostgreSQL, its database (a restart).
func (h *testHub) sameStore(c *Config) {
	c.DataDir, c.Database = h.s.cfg.DataDir, h.s.cfg.Database
}

// sqliteOnly skips a test of what only the SQLite engine has (its
// migrations from old schemas, its files, its backup) when the suite runs
// on PostgreSQL.
func sqliteOnly(t *testing.T) {
	t.Helper()
	if testPG != nil {
		t.Skip("SQLite only: the suite runs on PostgreSQL")
	}
}
