package offline

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// migration is one step of the schema. Steps are never edited once released:
// a change is a new step, so every database reaches the same schema.
//
// additive says that code which does not know the step still reads and
// writes the database correctly once it is applied: the step only adds
// tables, indexes, or columns with a default that code never has to
// write, and changes the meaning of nothing that code reads or writes. An
// agent update rolled back after its new version migrated the store
// (docs/updates.md) leaves the old version a newer schema: it opens it only
// if every step it does not know is additive (compatibleDownTo).
type migration struct {
	version  int
	sql      string
	additive bool
}

// migrations lists every schema step, in order, starting at version 1.
func migrations() []migration {
	return []migration{
		{version: 1, sql: schemaV1},
		{version: 2, sql: schemaV2},
		{version: 3, sql: schemaV3},
		{version: 4, sql: schemaV4},
		{version: 5, sql: schemaV5},
		{version: 6, sql: schemaV6},
		{version: 7, sql: schemaV7},
		{version: 8, sql: schemaV8},
		{version: 9, sql: schemaV9},
		{version: 10, sql: schemaV10},
	}
}

// schemaV1 is the first schema. Timestamps are fixed-width UTC text (see
// timeLayout); booleans are 0/1.
const schemaV1 = `
CREATE TABLE settings (
	key        TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at TEXT NOT NULL
);

-- Counters that must never go backwards, even when the rows they numbered
-- are deleted by retention; "ledger" is the per-agent record sequence.
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ledger', 0);

-- The release journal: one row per job id, so a second release of the same
-- job finds the first.
CREATE TABLE journal (
	job_id           TEXT PRIMARY KEY,
	owner            TEXT NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('claimed', 'sending', 'printing', 'printed', 'failed')),
	attempt          INTEGER NOT NULL CHECK (attempt >= 1),
	printer_job_name TEXT NOT NULL,
	printer_job_id   INTEGER NOT NULL DEFAULT 0,
	keep             INTEGER NOT NULL DEFAULT 0,
	reason           TEXT NOT NULL DEFAULT '',
	impressions      INTEGER NOT NULL DEFAULT 0,
	pages            INTEGER NOT NULL DEFAULT 0,
	copies           INTEGER NOT NULL DEFAULT 1,
	color            INTEGER NOT NULL DEFAULT 0,
	duplex           INTEGER NOT NULL DEFAULT 0,
	claimed_at       TEXT NOT NULL,
	updated_at       TEXT NOT NULL
);
CREATE INDEX journal_unfinished ON journal (claimed_at) WHERE state IN ('claimed', 'sending', 'printing');

-- The ledger: the agent's own accounting records. seq is the per-agent
-- sequence number; id is "<agent id>:<seq>". job_id and attempt tie a print
-- record to the release that produced it, at most one record per attempt.
CREATE TABLE ledger (
	seq            INTEGER PRIMARY KEY,
	id             TEXT NOT NULL UNIQUE,
	agent_id       TEXT NOT NULL,
	job_id         TEXT,
	attempt        INTEGER,
	owner          TEXT NOT NULL,
	type           TEXT NOT NULL,
	pages          INTEGER NOT NULL,
	copies         INTEGER NOT NULL,
	color          INTEGER NOT NULL,
	duplex         INTEGER NOT NULL,
	offline        INTEGER NOT NULL,
	printer_serial TEXT NOT NULL DEFAULT '',
	at             TEXT NOT NULL,
	created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX ledger_job_attempt ON ledger (job_id, attempt) WHERE job_id IS NOT NULL;

-- The outbox: what the hub has not acknowledged yet, keyed for idempotency.
CREATE TABLE outbox (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	kind            TEXT NOT NULL,
	key             TEXT NOT NULL UNIQUE,
	payload         TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_attempt_at TEXT
);

CREATE TABLE outbox_meta (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	last_ack_at TEXT
);
INSERT INTO outbox_meta (id) VALUES (1);
`

// compatible_down_to is each step's marker (compatibleDownTo): the lowest
// schema version whose code may use the database once the step is
// applied. Databases from before the markers gain the column with 0, an
// unknown marker.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version            INTEGER PRIMARY KEY,
	applied_at         TEXT NOT NULL,
	compatible_down_to INTEGER NOT NULL DEFAULT 0
)`

// compatibleDownTo is each step's marker, by version: a step that is not
// additive needs code that knows it; an additive one is usable by the code
// the step before it was usable by. Steps 1 to 10 are from before the
// markers and count as not additive (every code that reads markers knows
// them).
func compatibleDownTo(steps []migration) map[int]int {
	marks := map[int]int{}
	for _, m := range steps {
		marks[m.version] = m.version
		if m.additive && m.version > 1 {
			marks[m.version] = marks[m.version-1]
		}
	}
	return marks
}

// addMarkerColumn gives a schema_migrations table from before the markers
// its compatible_down_to column.
func addMarkerColumn(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'compatible_down_to'`).Scan(&n)
	if err != nil || n == 1 {
		return err
	}
	_, err = db.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN compatible_down_to INTEGER NOT NULL DEFAULT 0`)
	return err
}

// checkNewer decides whether code that knows schema steps up to known may
// use a database at schema current > known: only when current's marker
// is at most known (every step it does not know is additive).
func checkNewer(ctx context.Context, db *sql.DB, current, known int, log *slog.Logger) error {
	var mark int
	if err := db.QueryRowContext(ctx, `SELECT compatible_down_to FROM schema_migrations WHERE version = ?`, current).Scan(&mark); err != nil {
		return fmt.Errorf("read schema %d's compatibility: %w", current, err)
	}
	if mark == 0 || mark > known {
		needs := "an agent that knows it"
		if mark > 0 {
			needs = fmt.Sprintf("an agent that knows schema %d or later", mark)
		}
		return fmt.Errorf("database is at schema version %d, which needs %s; this program knows up to %d; refusing to open it (upgrade the agent, or restore a backup): %w",
			current, needs, known, ErrSchemaTooNew)
	}
	log.Warn("the database is at a newer schema than this program's, compatible with it: opened as it is",
		"schema", current, "known", known, "compatible_down_to", mark)
	return nil
}

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return v, nil
}

// migrate applies the steps the database lacks, each in its own transaction
// with its schema_migrations row, so a crash leaves the database at a whole
// version. The version is read again inside each transaction: another
// process opening the same file may have applied the step meanwhile.
func migrate(ctx context.Context, db *sql.DB, steps []migration, now func() time.Time, log *slog.Logger) error {
	if _, err := db.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := addMarkerColumn(ctx, db); err != nil {
		return fmt.Errorf("schema_migrations: add compatible_down_to: %w", err)
	}
	known := 0
	for i, m := range steps {
		if m.version != i+1 {
			return fmt.Errorf("migration %d has version %d: versions must count up from 1", i, m.version)
		}
		known = m.version
	}
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > known {
		return checkNewer(ctx, db, current, known, log)
	}
	marks := compatibleDownTo(steps)
	for _, m := range steps[current:] {
		applied := false
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			v, err := schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if v >= m.version {
				return nil
			}
			if v != m.version-1 {
				return fmt.Errorf("database is at version %d, expected %d", v, m.version-1)
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at, compatible_down_to) VALUES (?, ?, ?)`,
				m.version, formatTime(now()), marks[m.version]); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("apply migration %d: %w", m.version, err)
		}
		if applied {
			log.Info("applied schema migration", "version", m.version)
		}
	}
	return nil
}

// schemaV2 adds the login failure counters: one row per key ("user:NAME" or
// "device"), so a lockout survives a restart. Keys never hold a PIN or a
// card number.
const schemaV2 = `
CREATE TABLE login_failures (
	key          TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	last_failure TEXT NOT NULL,
	locked_until TEXT NOT NULL DEFAULT ''
);
`

// schemaV3 lets the journal hold "uncertain" releases. SQLite cannot alter
// a CHECK constraint, so the table is rebuilt (in the migration's
// transaction) with the same columns.
const schemaV3 = `
CREATE TABLE journal_v3 (
	job_id           TEXT PRIMARY KEY,
	owner            TEXT NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('claimed', 'sending', 'printing', 'printed', 'failed', 'uncertain')),
	attempt          INTEGER NOT NULL CHECK (attempt >= 1),
	printer_job_name TEXT NOT NULL,
	printer_job_id   INTEGER NOT NULL DEFAULT 0,
	keep             INTEGER NOT NULL DEFAULT 0,
	reason           TEXT NOT NULL DEFAULT '',
	impressions      INTEGER NOT NULL DEFAULT 0,
	pages            INTEGER NOT NULL DEFAULT 0,
	copies           INTEGER NOT NULL DEFAULT 1,
	color            INTEGER NOT NULL DEFAULT 0,
	duplex           INTEGER NOT NULL DEFAULT 0,
	claimed_at       TEXT NOT NULL,
	updated_at       TEXT NOT NULL
);
INSERT INTO journal_v3 SELECT job_id, owner, state, attempt, printer_job_name, printer_job_id, keep, reason,
	impressions, pages, copies, color, duplex, claimed_at, updated_at FROM journal;
DROP TABLE journal;
ALTER TABLE journal_v3 RENAME TO journal;
CREATE INDEX journal_unfinished ON journal (claimed_at) WHERE state IN ('claimed', 'sending', 'printing');
`

// schemaV4 marks ledger records whose pages could not be counted, so they
// are told apart from jobs that printed nothing.
const schemaV4 = `
ALTER TABLE ledger ADD COLUMN unreconciled INTEGER NOT NULL DEFAULT 0;
`

// schemaV5 keeps, per release, the source's claim on the attempt (the
// hub's claim_id of its FetchJob, or the claim a CUPS job was released
// under), so every status about the attempt names it, after a restart too.
const schemaV5 = `
ALTER TABLE journal ADD COLUMN source_claim TEXT NOT NULL DEFAULT '';
`

// schemaV6 keeps, per release, the hub's login token of the session that
// released it, so the fetch and the accounting record name the session
// after a restart too (cleared when the release settles); and each
// record's basis (protocol.Record: claim, login, device) with its claim or
// login token, so a reissued record keeps it. Records from before have
// none: they are sent as they were (an empty basis counts as device).
const schemaV6 = `
ALTER TABLE journal ADD COLUMN login_token TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN basis TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN login_token TEXT NOT NULL DEFAULT '';
`

// schemaV7 is the credential cache (the offline issue, users.go): the users
// the hub lets this agent serve offline, and the verifiers of their cards
// and PINs, looked up by value after one slow hash. user is the
// protocol.User the hub would answer at an online login, as JSON (no
// password, no secret). generation is the full sync that last
// listed the user: a full sync ends by deleting the users it did not list.
// The version the cache holds, the site's offline key and the verifiers'
// parameters are settings rows.
const schemaV7 = `
CREATE TABLE cached_users (
	username      TEXT PRIMARY KEY,
	user          TEXT NOT NULL,
	version       INTEGER NOT NULL,
	generation    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE cached_credentials (
	kind       TEXT NOT NULL CHECK (kind IN ('card', 'pin')),
	verifier   BLOB NOT NULL,
	username   TEXT NOT NULL REFERENCES cached_users(username) ON DELETE CASCADE,
	expires_at TEXT,
	PRIMARY KEY (kind, verifier)
) WITHOUT ROWID;
CREATE INDEX cached_credentials_user ON cached_credentials(username);
`

// schemaV8 (the offline issue, records): the ledger's records gain
// sheets, paper size (PWG media name), clicks (A4-equivalent sides),
// account (empty until accounts exist) and the times the work started
// and finished (empty when unknown); records from before have 0 and
// empty strings
// (the hub fills sheets and clicks of an old print record from its
// pages). The journal keeps the paper each attempt asked for, so a
// release followed after a restart is recorded on the right paper.
const schemaV8 = `
ALTER TABLE ledger ADD COLUMN sheets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN paper_size TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN started_at TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN finished_at TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN media TEXT NOT NULL DEFAULT '';
`

// schemaV9 is the session meter's table (package meter): one row per
// panel session, so a session whose printer could not be read at logout
// is retried after a restart too, and a settled session is never charged
// twice. start holds the counters read at login as JSON (empty when
// none could be read); ledger_seq the ledger's sequence at login, so the print
// check sums the print records made during the session. login_token is
// kept only while the session is unsettled (its records' basis).
const schemaV9 = `
CREATE TABLE meter_sessions (
	id          TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	basis       TEXT NOT NULL,
	login_token TEXT NOT NULL DEFAULT '',
	offline     INTEGER NOT NULL DEFAULT 0,
	state       TEXT NOT NULL CHECK (state IN ('open', 'pending', 'done')),
	started_at  TEXT NOT NULL,
	ended_at    TEXT NOT NULL DEFAULT '',
	ledger_seq  INTEGER NOT NULL,
	start       TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	records     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX meter_sessions_unsettled ON meter_sessions (started_at) WHERE state != 'done';
`

// schemaV10 is the tasks table (the cloud-link issue, offline/tasks.go):
// one row per task id the hub delivered, so a redelivered id is never
// run twice, only its state told. result is the task's result as JSON
// (empty when none); error its error in words.
const schemaV10 = `
CREATE TABLE tasks (
	id          TEXT PRIMARY KEY,
	type        TEXT NOT NULL,
	state       TEXT NOT NULL,
	received_at TEXT NOT NULL,
	ended_at    TEXT NOT NULL DEFAULT '',
	result      TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT ''
);
`
