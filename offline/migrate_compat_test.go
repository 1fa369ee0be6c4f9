package offline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// A newer agent's steps: 11 additive (a column, a table), 12 not.
var (
	newerAdditive = migration{version: len(migrations()) + 1, additive: true, sql: `
ALTER TABLE ledger ADD COLUMN trial_note TEXT NOT NULL DEFAULT '';
CREATE TABLE trial_things (id INTEGER PRIMARY KEY, note TEXT NOT NULL);`}
	newerBreaking = migration{version: len(migrations()) + 2, sql: `
ALTER TABLE ledger RENAME COLUMN owner TO user_name;`}
)

// openSteps opens path as an agent that knows steps.
func openSteps(t *testing.T, path string, steps []migration) (*Store, error) {
	t.Helper()
	return open(context.Background(), path, Options{Now: testClock(testBase), Logger: discard()}, steps)
}

// printed writes a ledger record for job, as a release does.
func printed(t *testing.T, s *Store, job, owner string) {
	t.Helper()
	driveTo(t, s, job, StatePrinting, false)
	if _, err := s.CommitPrinted(context.Background(), job, protocol.Record{Owner: owner, Pages: 1, Copies: 1}); err != nil {
		t.Fatalf("%s: %v", job, err)
	}
}

// owners is every ledger record's owner, newest first, and how many records
// wait in the outbox.
func owners(t *testing.T, s *Store) (string, int) {
	t.Helper()
	recs, err := s.Records(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Owner)
	}
	pending, err := s.PendingOf(context.Background(), KindAccounting)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ","), pending
}

// An update's new version migrates the store with an additive step and
// writes records on trial; rolled back, the old version (this code) opens
// the newer store as it is, finds every record, and writes its own; the
// new version, updated to again, finds them all, its step not applied
// twice.
func TestNewerAdditiveSchemaOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	newer := append(migrations(), newerAdditive)
	old, err := openSteps(t, path, migrations())
	if err != nil {
		t.Fatal(err)
	}
	printed(t, old, "hub:1", "before")
	old.Close()

	trial, err := openSteps(t, path, newer)
	if err != nil {
		t.Fatal(err)
	}
	printed(t, trial, "hub:2", "on-trial")
	if _, err := trial.db.Exec(`INSERT INTO trial_things (note) VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	trial.Close()

	back, err := openSteps(t, path, migrations())
	if err != nil {
		t.Fatalf("the old version refused the additive schema: %v", err)
	}
	if v, _ := back.SchemaVersion(context.Background()); v != newerAdditive.version {
		t.Errorf("schema %d, want %d as the newer version left it", v, newerAdditive.version)
	}
	printed(t, back, "hub:3", "after")
	if got, pending := owners(t, back); got != "after,on-trial,before" || pending != 3 {
		t.Errorf("after the rollback: records %s, %d pending", got, pending)
	}
	back.Close()

	again, err := openSteps(t, path, newer)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var notes int
	if err := again.db.QueryRow(`SELECT COUNT(*) FROM trial_things`).Scan(&notes); err != nil || notes != 1 {
		t.Errorf("the newer version's table: %d rows, %v", notes, err)
	}
	if got, pending := owners(t, again); got != "after,on-trial,before" || pending != 3 {
		t.Errorf("updated again: records %s, %d pending", got, pending)
	}
}

// A step that is not additive makes the store refuse every program that
// does not know it, clearly; a program that knows it opens the additive
// steps after it.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	newest := append(migrations(), newerAdditive, newerBreaking)
	s, err := openSteps(t, path, newest)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, steps := range [][]migration{migrations(), append(migrations(), newerAdditive)} {
		_, err := openSteps(t, path, steps)
		want := "needs an agent that knows schema 12 or later; this program knows up to"
		if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), want) {
			t.Errorf("an agent knowing %d steps: %v", len(steps), err)
		}
	}

	// Code that knows step 12 opens 13, additive.
	db, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	later := migration{version: newerBreaking.version + 1, additive: true, sql: `CREATE TABLE later (x INTEGER)`}
	if err := migrate(ctx, db, append(newest, later), testClock(testBase), discard()); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, newest, testClock(testBase), discard()); err != nil {
		t.Errorf("an agent knowing 12 refused 13, additive: %v", err)
	}
}

// The markers: additive steps inherit the one before; the others are their
// own; a database from before the markers gains the column (0: unknown,
// refused when newer).
func TestCompatibleDownTo(t *testing.T) {
	var steps []migration
	for v, additive := range []bool{false, true, false, true, true} {
		steps = append(steps, migration{version: v + 1, additive: additive, sql: fmt.Sprintf(`CREATE TABLE t%d (x INTEGER)`, v+1)})
	}
	got := compatibleDownTo(steps)
	for v, want := range map[int]int{1: 1, 2: 1, 3: 3, 4: 3, 5: 3} {
		if got[v] != want {
			t.Errorf("step %d compatible down to %d, want %d", v, got[v], want)
		}
	}
	db, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
		INSERT INTO schema_migrations VALUES (1, 'x'), (2, 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, steps, testClock(testBase), discard()); err != nil {
		t.Fatal(err)
	}
	var mark int
	if err := db.QueryRow(`SELECT compatible_down_to FROM schema_migrations WHERE version = 5`).Scan(&mark); err != nil || mark != 3 {
		t.Errorf("step 5's marker %d, %v", mark, err)
	}
	if err := migrate(ctx, db, steps[:1], testClock(testBase), discard()); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("an agent knowing step 1 opened a database at 5 (compatible down to 3): %v", err)
	}
}
