package hub

import (
	"context"
	"database/sql"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/tessera-print/tessera/hub/store"
)

// migrations are applied in order; PRAGMA user_version holds how many ran.
// Never edit a released migration: append a new one.
// A schema change appends to pgMigrations (schema_postgres.go) as well.
var migrations = []string{
	// 1: the initial schema. Times are Unix nanoseconds (UTC) so that
	// comparisons and ordering are plain integer comparisons.
	`
CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	full_name     TEXT NOT NULL DEFAULT '',
	language      TEXT NOT NULL DEFAULT '',
	password_hash TEXT,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE TABLE cards (
	lookup     BLOB PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	expires_at INTEGER
);
CREATE INDEX cards_user ON cards(user_id);
CREATE TABLE pins (
	lookup     BLOB PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	hash       TEXT NOT NULL,
	expires_at INTEGER
);
CREATE INDEX pins_user ON pins(user_id);
CREATE TABLE jobs (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	id            TEXT NOT NULL UNIQUE,
	owner         TEXT NOT NULL,
	name          TEXT NOT NULL,
	pages         INTEGER NOT NULL,
	copies        INTEGER NOT NULL,
	color         INTEGER NOT NULL,
	duplex        INTEGER NOT NULL,
	format        TEXT NOT NULL,
	size          INTEGER NOT NULL,
	sha256        TEXT NOT NULL,
	state         TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT '',
	submitted_at  INTEGER NOT NULL,
	printed_at    INTEGER,
	printed_pages INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_owner_state ON jobs(owner, state, seq);
CREATE INDEX jobs_state_submitted ON jobs(state, submitted_at);
CREATE TABLE download_tokens (
	token_hash BLOB PRIMARY KEY,
	job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	expires_at INTEGER NOT NULL
);
CREATE INDEX download_tokens_expiry ON download_tokens(expires_at);
CREATE TABLE agents (
	id           TEXT PRIMARY KEY,
	token_hash   BLOB UNIQUE,
	version      TEXT NOT NULL DEFAULT '',
	capabilities TEXT NOT NULL DEFAULT '[]',
	printer      TEXT NOT NULL DEFAULT '{}',
	connected    INTEGER NOT NULL DEFAULT 0,
	last_seen    INTEGER,
	created_at   INTEGER NOT NULL
);
CREATE TABLE accounting (
	n              INTEGER PRIMARY KEY AUTOINCREMENT,
	id             TEXT NOT NULL UNIQUE,
	agent_id       TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	owner          TEXT NOT NULL,
	job_id         TEXT NOT NULL DEFAULT '',
	type           TEXT NOT NULL,
	pages          INTEGER NOT NULL,
	copies         INTEGER NOT NULL,
	color          INTEGER NOT NULL,
	duplex         INTEGER NOT NULL,
	offline        INTEGER NOT NULL,
	printer_serial TEXT NOT NULL DEFAULT '',
	at             INTEGER NOT NULL,
	received_at    INTEGER NOT NULL
);
CREATE INDEX accounting_owner ON accounting(owner, n);
CREATE INDEX accounting_job ON accounting(job_id, n);
CREATE TABLE printer_events (
	n        INTEGER PRIMARY KEY AUTOINCREMENT,
	agent_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	at       INTEGER NOT NULL,
	status   TEXT NOT NULL DEFAULT '',
	reasons  TEXT NOT NULL DEFAULT '[]',
	data     TEXT NOT NULL DEFAULT '{}',
	received_at INTEGER NOT NULL
);
CREATE INDEX printer_events_agent ON printer_events(agent_id, n);
`,
	// 2: per-user lockout after failed PIN or password verifications. Keyed
	// by the username as given, so an unknown username locks like a known
	// one and the lockout reveals nothing about which names exist.
	`
CREATE TABLE login_failures (
	username     TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	first_at     INTEGER NOT NULL,
	locked_until INTEGER
);
`,
	// 3: user policies. policy holds the rules as JSON (force mono, duplex
	// above, windows), NULL for none; quota_pages is the balance of pages
	// left, NULL for no quota. The balance is a column of its own so that
	// accounting decrements it in SQL, in the transaction that stores the
	// record it charges.
	`
ALTER TABLE users ADD COLUMN policy TEXT;
ALTER TABLE users ADD COLUMN quota_pages INTEGER;
`,
	// 4: delegated jobs (the sender of a job printed for someone else) and
	// the paper a job asks for.
	`
ALTER TABLE jobs ADD COLUMN delegated_by TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN media TEXT NOT NULL DEFAULT '';
`,
	// 5: lockout counters are keyed by a keyed hash of the name typed, no
	// longer the name (sometimes a mistyped password): the old rows go.
	`
DELETE FROM login_failures;
`,
	// 6: which agent holds a job (printing it, or keeping it uncertain):
	// a job held at one printer is not handed to another.
	`
ALTER TABLE jobs ADD COLUMN printing_agent TEXT NOT NULL DEFAULT '';
`,
	// 7: records whose pages could not be counted (never charged).
	`
ALTER TABLE accounting ADD COLUMN unreconciled INTEGER NOT NULL DEFAULT 0;
`,
	// 8: exactly once. alerts: what the hub tells an administrator, one
	// table for every kind (code); once_key raises an alert only once per
	// code and key. jobs.claim_id: the current claim (the last fetch), so a
	// status of an earlier attempt changes nothing; jobs.claim_attempt: the
	// agent's name of the attempt that claim belongs to, so a fetch again in
	// the same attempt keeps it; jobs.heard_at: when the
	// holder last said anything about the job (a fetch, a status), so a job
	// left printing in silence does not stay invisible. claims: jobs held
	// outside the hub (a CUPS queue shared by several agents), claimed by
	// one agent at a time. accounting_agent_seq finds an agent's highest
	// sequence number (Boot's last_seq).
	`
CREATE TABLE alerts (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	code     TEXT NOT NULL,
	agent_id TEXT NOT NULL DEFAULT '',
	at       INTEGER NOT NULL,
	message  TEXT NOT NULL,
	data     TEXT NOT NULL DEFAULT '{}',
	once_key TEXT
);
CREATE INDEX alerts_code ON alerts(code, id);
CREATE INDEX alerts_at ON alerts(at);
CREATE UNIQUE INDEX alerts_once ON alerts(code, once_key) WHERE once_key IS NOT NULL;
ALTER TABLE jobs ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN claim_attempt TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN heard_at INTEGER;
CREATE INDEX accounting_agent_seq ON accounting(agent_id, seq);
CREATE TABLE claims (
	key        TEXT PRIMARY KEY,
	agent_id   TEXT NOT NULL,
	claim_id   TEXT NOT NULL,
	done       INTEGER NOT NULL DEFAULT 0,
	claimed_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX claims_updated ON claims(updated_at);
`,
	// 9: login tokens (the trust issue): what an agent acts on for a
	// person, bound to the agent and the user, kept only as a hash; ended_at
	// is set by Logout. Rows are kept 30 days past expiry (accounting checks
	// login records against them). The device-token binding of point 4
	// needs no schema: agents.token_hash is set at an id's first Boot.
	`
CREATE TABLE login_tokens (
	token_hash BLOB PRIMARY KEY,
	agent_id   TEXT NOT NULL,
	username   TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	ended_at   INTEGER
);
CREATE INDEX login_tokens_expiry ON login_tokens(expires_at);
`,
	// 10: the basis of accounting records (the trust issue). basis: what
	// the hub found the record stands on (claim, login, device);
	// claim_id and login_token_hash: what the agent named (the token only
	// hashed); uncharged: left uncharged by the hub (beyond a cap, or
	// out of bounds); cap_hour: the hour a record counts in under the
	// per-agent cap (NULL when it does not count), which the hub picks
	// (its own at, or the time received when at is too far off), so it
	// is stored rather than derived (records stored before count in the
	// hour of their at, as device records did). accounting_claim finds
	// the record charged on a claim. claim_log: every claim the hub issued, kept
	// like the records that may name it (a job's claim_id holds only the
	// current one, claims only a key's current one), filled by triggers
	// on the two places a claim is issued so no claim escapes it; for a
	// hub job with its pages × copies when claimed (impressions), what a
	// record on the claim is charged at most outside the per-agent cap;
	// the current claims are copied in.
	`
ALTER TABLE accounting ADD COLUMN basis TEXT NOT NULL DEFAULT 'device';
ALTER TABLE accounting ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
ALTER TABLE accounting ADD COLUMN login_token_hash BLOB;
ALTER TABLE accounting ADD COLUMN uncharged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounting ADD COLUMN cap_hour INTEGER;
CREATE INDEX accounting_cap_hour ON accounting(agent_id, cap_hour) WHERE cap_hour IS NOT NULL;
CREATE INDEX accounting_claim ON accounting(claim_id) WHERE claim_id != '';
UPDATE accounting SET cap_hour = at - at % 3600000000000 WHERE type = 'print';
CREATE TABLE claim_log (
	claim_id    TEXT PRIMARY KEY,
	agent_id    TEXT NOT NULL,
	job_id      TEXT NOT NULL DEFAULT '',
	key         TEXT NOT NULL DEFAULT '',
	owner       TEXT NOT NULL DEFAULT '',
	impressions INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX claim_log_job ON claim_log(job_id, agent_id) WHERE job_id != '';
CREATE TRIGGER jobs_claim_log AFTER UPDATE OF claim_id ON jobs
WHEN NEW.claim_id != '' AND NEW.printing_agent != '' BEGIN
	INSERT OR IGNORE INTO claim_log (claim_id, agent_id, job_id, owner, impressions)
	VALUES (NEW.claim_id, NEW.printing_agent, NEW.id, NEW.owner, NEW.pages * NEW.copies);
END;
CREATE TRIGGER claims_insert_log AFTER INSERT ON claims BEGIN
	INSERT OR IGNORE INTO claim_log (claim_id, agent_id, key) VALUES (NEW.claim_id, NEW.agent_id, NEW.key);
END;
CREATE TRIGGER claims_update_log AFTER UPDATE OF claim_id ON claims BEGIN
	INSERT OR IGNORE INTO claim_log (claim_id, agent_id, key) VALUES (NEW.claim_id, NEW.agent_id, NEW.key);
END;
INSERT OR IGNORE INTO claim_log (claim_id, agent_id, job_id, owner, impressions)
	SELECT claim_id, printing_agent, id, owner, pages * copies FROM jobs WHERE claim_id != '' AND printing_agent != '';
INSERT OR IGNORE INTO claim_log (claim_id, agent_id, key) SELECT claim_id, agent_id, key FROM claims;
`,
	// 11: login throttles per agent and hub-wide (the trust issue). The
	// per-agent lockout, shaped as login_failures so one throttle serves
	// both: username names the counter (a keyed hash of the agent id). The
	// hub-wide rate lives in memory.
	`
CREATE TABLE agent_login_failures (
	username     TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	first_at     INTEGER NOT NULL,
	locked_until INTEGER
);
`,
	// 12: hub settings and a user's home agent (the offline issue).
	// settings holds one row per key, its value as JSON, rather than one
	// JSON row: a key absent means "the default", so a PUT stores only the
	// keys it names, a default changed by a later hub reaches the sites
	// that never set it, and a new setting needs no migration.
	// users.home_agent: the agent id of the user's home printer, '' for
	// none; it need not name an enrolled agent.
	`
CREATE TABLE settings (
	key        TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
ALTER TABLE users ADD COLUMN home_agent TEXT NOT NULL DEFAULT '';
`,
	// 13: offline verifiers of cards and PINs (the offline issue, hub.go's
	// offline key). Each row is tied to its credential's row by that row's
	// lookup key, card_lookup or pin_lookup, with ON DELETE CASCADE: a card
	// removed, a PIN replaced or a user deleted takes its verifier with it
	// whatever the path (admin API, import, a later one), and a login can
	// tell whether its credential has a verifier from the lookup key alone,
	// without the slow hash. For the same reason the expiry is not copied:
	// it is the credential's expires_at, read through the join. params is
	// the JSON of the argon2id parameters the verifier was computed with,
	// so a change of parameters shows which are stale. UNIQUE (kind,
	// verifier) is the agent's lookup: one slow hash, then an index.
	`
CREATE TABLE offline_verifiers (
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	kind        TEXT NOT NULL CHECK (kind IN ('card', 'pin')),
	card_lookup BLOB UNIQUE REFERENCES cards(lookup) ON DELETE CASCADE,
	pin_lookup  BLOB UNIQUE REFERENCES pins(lookup) ON DELETE CASCADE,
	verifier    BLOB NOT NULL,
	params      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	CHECK ((kind = 'card') = (card_lookup IS NOT NULL) AND (kind = 'pin') = (pin_lookup IS NOT NULL))
);
CREATE UNIQUE INDEX offline_verifiers_verifier ON offline_verifiers(kind, verifier);
CREATE INDEX offline_verifiers_user ON offline_verifiers(user_id);
`,
	// 14: versions of what agents cache for offline logins (the offline
	// issue, usersync.go). offline_seq.version is bumped by every change an
	// agent's cache must see, and the user's offline_version takes the new
	// value: the agent asks for what changed since the version it holds.
	// Triggers do the bumping so that no path (admin API, import, quota
	// charged by a record, a verifier learnt at login, a later one) can
	// forget it. A deleted user leaves a tombstone; floor is the oldest
	// version the tombstones still cover (pruned or after a change of
	// scope, an agent below it gets a full set). terms are the offline key's
	// id and the verifiers' cost the hub last ran with (offline.go).
	`
CREATE TABLE offline_seq (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL,
	floor   INTEGER NOT NULL,
	terms   TEXT NOT NULL DEFAULT ''
);
INSERT INTO offline_seq (id, version, floor) VALUES (1, 1, 0);
ALTER TABLE users ADD COLUMN offline_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX users_offline_version ON users(offline_version);
CREATE TABLE offline_tombstones (
	username   TEXT NOT NULL,
	home_agent TEXT NOT NULL,
	version    INTEGER NOT NULL
);
CREATE INDEX offline_tombstones_version ON offline_tombstones(version);
CREATE TRIGGER offline_user_insert AFTER INSERT ON users BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = NEW.id;
END;
CREATE TRIGGER offline_user_update AFTER UPDATE OF username, full_name, language, policy, quota_pages, home_agent ON users BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = NEW.id;
END;
CREATE TRIGGER offline_user_delete AFTER DELETE ON users BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	INSERT INTO offline_tombstones (username, home_agent, version)
		VALUES (OLD.username, OLD.home_agent, (SELECT version FROM offline_seq WHERE id = 1));
END;
CREATE TRIGGER offline_card_insert AFTER INSERT ON cards BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = NEW.user_id;
END;
CREATE TRIGGER offline_card_update AFTER UPDATE ON cards BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id IN (OLD.user_id, NEW.user_id);
END;
CREATE TRIGGER offline_card_delete AFTER DELETE ON cards BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = OLD.user_id;
END;
CREATE TRIGGER offline_pin_insert AFTER INSERT ON pins BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = NEW.user_id;
END;
CREATE TRIGGER offline_pin_update AFTER UPDATE ON pins BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id IN (OLD.user_id, NEW.user_id);
END;
CREATE TRIGGER offline_pin_delete AFTER DELETE ON pins BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = OLD.user_id;
END;
CREATE TRIGGER offline_verifier_insert AFTER INSERT ON offline_verifiers BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = NEW.user_id;
END;
CREATE TRIGGER offline_verifier_delete AFTER DELETE ON offline_verifiers BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = OLD.user_id;
END;
`,
	// 15: records (the offline issue, point 5). The record type fax becomes
	// fax-out (fax-in is new); records gain sheets, paper_size, clicks,
	// account and the work's started_at and finished_at (NULL: unknown).
	// Print records stored before get sheets and clicks from their pages as
	// normalizeRecord gives an old agent's new ones (one click per side: the
	// paper is unknown), so a resend after the upgrade matches. accounting_at
	// serves the listing's since and until.
	`
UPDATE accounting SET type = 'fax-out' WHERE type = 'fax';
ALTER TABLE accounting ADD COLUMN sheets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounting ADD COLUMN paper_size TEXT NOT NULL DEFAULT '';
ALTER TABLE accounting ADD COLUMN clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounting ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE accounting ADD COLUMN started_at INTEGER;
ALTER TABLE accounting ADD COLUMN finished_at INTEGER;
UPDATE accounting SET clicks = pages,
	sheets = CASE WHEN duplex = 0 THEN pages
		WHEN copies > 1 AND pages % copies = 0 THEN copies * ((pages / copies + 1) / 2)
		ELSE (pages + 1) / 2 END
	WHERE type = 'print' AND pages > 0 AND unreconciled = 0;
CREATE INDEX accounting_at ON accounting(at);
`,
	// 16: each agent's sync status as its last Heartbeat reported it (the
	// offline issue, point 5): when the hub last acknowledged something,
	// how many messages wait in its outbox and since when (the agent's
	// times, nanoseconds; NULL: never, none), and when the hub heard it
	// (NULL: never reported, an agent older than the field).
	`
ALTER TABLE agents ADD COLUMN sync_last_success INTEGER;
ALTER TABLE agents ADD COLUMN sync_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN sync_oldest_pending INTEGER;
ALTER TABLE agents ADD COLUMN sync_reported_at INTEGER;
`,
	// 17: leases of hub jobs to the printer they are meant for (the offline
	// issue, point 3; leases.go). One active lease per job at most. The
	// lease's claim_id is the job's current claim while it is active.
	// granted_run and granted_mono: the hub run that granted it and its
	// monotonic clock then, so a lease expires on both clocks.
	`
CREATE TABLE leases (
	lease_id     TEXT PRIMARY KEY,
	job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	agent_id     TEXT NOT NULL,
	claim_id     TEXT NOT NULL,
	state        TEXT NOT NULL,
	granted_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	granted_run  TEXT NOT NULL,
	granted_mono INTEGER NOT NULL,
	fetched_at   INTEGER,
	ended_at     INTEGER
);
CREATE UNIQUE INDEX leases_job_active ON leases(job_id) WHERE state = 'active';
CREATE INDEX leases_agent_active ON leases(agent_id, granted_at) WHERE state = 'active';
`,
	// 18: a user an administrator locks (the offline issue: "a locked user
	// is applied at once on connected agents"): no login anywhere, online
	// or offline, until unlocked; their jobs and records stay. The offline
	// version follows the flag as it follows the user's other fields.
	`
ALTER TABLE users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER offline_user_update;
CREATE TRIGGER offline_user_update AFTER UPDATE OF username, full_name, language, policy, quota_pages, home_agent, locked ON users BEGIN
	UPDATE offline_seq SET version = version + 1 WHERE id = 1;
	UPDATE users SET offline_version = (SELECT version FROM offline_seq WHERE id = 1) WHERE id = NEW.id;
END;
`,
	// 19: tasks, hub -> agent (the cloud-link issue, point 5; tasks.go).
	// seq orders them (listing, delivery oldest first); times in
	// nanoseconds; deadline = created_at + the pending expiry; started_at
	// is when the agent took it (the in-progress expiry counts from it);
	// delivered_at when it first acknowledged it. reported: a TaskStatus
	// was stored (an end known only from a TaskAck still takes the
	// status that carries the result).
	`
CREATE TABLE tasks (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	agent_id     TEXT NOT NULL,
	type         TEXT NOT NULL,
	payload      TEXT NOT NULL,
	state        TEXT NOT NULL,
	phase        TEXT NOT NULL DEFAULT '',
	progress     INTEGER NOT NULL DEFAULT 0,
	result       TEXT,
	error        TEXT NOT NULL DEFAULT '',
	deadline     INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	started_at   INTEGER,
	delivered_at INTEGER,
	reported     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_agent_state ON tasks(agent_id, state, seq);
CREATE INDEX tasks_state ON tasks(state, seq);
`,
	// 20: QR login codes (the cloud-link issue, "login"; qrlogin.go): the
	// hash of each code an agent shows, until it expires or is used.
	`
CREATE TABLE qr_logins (
	code_hash  BLOB PRIMARY KEY,
	agent_id   TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX qr_logins_agent ON qr_logins(agent_id, expires_at);
`,
	// 21: enrollment (the cloud-link issue, point 1; enroll_*.go).
	// enrollment_codes: organisation codes, kept as a keyed hash only;
	// used counts the agents enrolled with one, at most uses.
	// enrollment_claims: the claim codes of pending agents, one per kept
	// key (key_hash), until claimed and collected. enroll_failures: the
	// failed organisation codes per remote host (a throttle, throttle.go).
	// agents gain name and grp (given at claim or by the code), cert_sha256
	// (the client certificate the hub's CA issued, when it did) and
	// awaiting_boot: an identity issued that no Boot has used yet.
	`
CREATE TABLE enrollment_codes (
	id         TEXT PRIMARY KEY,
	code_hash  BLOB NOT NULL UNIQUE,
	uses       INTEGER NOT NULL,
	used       INTEGER NOT NULL DEFAULT 0,
	grp        TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE TABLE enrollment_claims (
	code       TEXT PRIMARY KEY,
	agent_id   TEXT NOT NULL,
	key_hash   BLOB NOT NULL UNIQUE,
	remote     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	claimed_at INTEGER,
	name       TEXT NOT NULL DEFAULT '',
	grp        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX enrollment_claims_expiry ON enrollment_claims(expires_at);
CREATE TABLE enroll_failures (
	username     TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	first_at     INTEGER NOT NULL,
	locked_until INTEGER
);
ALTER TABLE agents ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN grp TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN cert_sha256 BLOB;
ALTER TABLE agents ADD COLUMN awaiting_boot INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX agents_cert ON agents(cert_sha256) WHERE cert_sha256 IS NOT NULL;
CREATE INDEX agents_grp ON agents(grp) WHERE grp != '';
`,
	// open_token_unused: the device token was bound by open enrollment and
	// no connection has presented it yet. A tokenless Boot of that id may
	// bind a new one: the agent may have timed out before the answer that
	// carried it arrived (docs/benchmarks.md, Fleet, point 5).
	`
ALTER TABLE agents ADD COLUMN open_token_unused INTEGER NOT NULL DEFAULT 0;
`,
	// 23: a user's cards and PINs keep the order of the list that stored
	// them (the user view shows them so) in a column of their own, where
	// SQLite's rowid kept it: PostgreSQL has no rowid (issue 13).
	`
ALTER TABLE cards ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pins ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
UPDATE cards SET position = rowid;
UPDATE pins SET position = rowid;
`,
	// 24: the secrets every node of a hub on PostgreSQL needs (hub.key,
	// offline.key, the agent CA, the admin token's hash), sealed with the
	// key of --secrets-key-file (sealed.go). A SQLite hub keeps its
	// secrets in files of its data directory: the table stays empty there.
	`
CREATE TABLE secrets (
	name       TEXT PRIMARY KEY,
	sealed     BLOB NOT NULL,
	created_at INTEGER NOT NULL
);
`,
	// 25: job documents in the database, in chunks (hub/docstore,
	// Postgres), so that every node of a hub on PostgreSQL reaches every
	// one. A SQLite hub keeps its documents as files in DATA/jobs: the
	// tables stay empty there, made so that both engines keep one schema.
	`
CREATE TABLE documents (
	blob       INTEGER PRIMARY KEY,
	id         TEXT UNIQUE,
	size       INTEGER NOT NULL DEFAULT 0,
	chunk_size INTEGER NOT NULL,
	started_at INTEGER NOT NULL
);
CREATE INDEX documents_uploads ON documents(started_at) WHERE id IS NULL;
CREATE TABLE document_chunks (
	blob INTEGER NOT NULL REFERENCES documents(blob) ON DELETE CASCADE,
	n    INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (blob, n)
);
`,
	// 26: which node of a hub on PostgreSQL holds an agent's one live
	// connection, for how long more on the database's clock (presence
	// leases, cluster_presence.go). A SQLite hub is one node: empty there.
	`
CREATE TABLE presence_leases (
	agent_id   TEXT PRIMARY KEY,
	node       TEXT NOT NULL,
	remote     TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	alive_at   INTEGER
);
CREATE INDEX presence_leases_node ON presence_leases(node);
`,
	// 27: hub.key can be rotated (keyrotate.go). key_id on cards and PINs
	// names the hub.key their lookup was computed with (hubKeyID; 0: the key
	// current when the row was written, stamped at the next rotation), so
	// a rotation can count the rows still under the previous key. hub_key
	// holds the current key's id: a node started before a rotation sees
	// that it runs on a stale key and refuses to write cards and PINs.
	`
ALTER TABLE cards ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pins ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;
CREATE TABLE hub_key (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	key_id INTEGER NOT NULL
);
`,
	// 28: an agent unregistered by its unregister task (unregister.go):
	// when, its identity revoked for good (no Boot, enrollment or claim
	// binds the id again), listed unregistered.
	`
ALTER TABLE agents ADD COLUMN unregistered_at INTEGER;
`,
	// 29: administrators of the console (issue 15, point 3; admins.go):
	// accounts with a role and an argon2id password hash; their console
	// sessions, each named by the SHA-256 of its id (the cookie's value
	// is never stored), so any node checks one; the audit log of what
	// they (or the admin token, actor "token") changed through the admin
	// API (audit.go).
	`
CREATE TABLE admins (
	username      TEXT PRIMARY KEY,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE TABLE admin_sessions (
	id_hash    TEXT PRIMARY KEY,
	username   TEXT NOT NULL REFERENCES admins(username) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_username ON admin_sessions(username);
CREATE INDEX admin_sessions_expires ON admin_sessions(expires_at);
CREATE TABLE audit_log (
	n      INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	method TEXT NOT NULL,
	path   TEXT NOT NULL,
	target TEXT NOT NULL,
	status INTEGER NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
`,
	// 30: print tokens (issue 15, point 1; printtokens.go): what an
	// operating system keeps in its keychain for the hub's IPP printer
	// instead of the person's password; only their SHA-256 is stored.
	`
CREATE TABLE print_tokens (
	id         TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE INDEX print_tokens_user ON print_tokens(user_id);
`,
}

// maxDBConns bounds the hub's SQLite connections: readers run beside a
// writer in WAL mode, and more than a few per core only wait.
const maxDBConns = 16

// openDB opens (creating if needed) the hub's SQLite database and brings
// its schema up to date. The database holds password hashes, card lookups
// and who printed what: its files are readable by their owner only.
func openDB(ctx context.Context, path string) (*store.DB, error) {
	return store.OpenSQLite(ctx, path, maxDBConns, migrations)
}

// maxPGConns bounds a node's connections to PostgreSQL: the writers take
// turns (one lock), readers run beside them, and the server's own limit
// (max_connections, 100 by default) is shared by every node.
const maxPGConns = 16

// openStore opens the hub's store: PostgreSQL when cfg.Database names
// one, else SQLite in the data directory.
func openStore(ctx context.Context, cfg Config) (*store.DB, error) {
	if cfg.Database != "" {
		return store.OpenPostgres(ctx, cfg.Database, maxPGConns, pgMigrations)
	}
	return openDB(ctx, filepath.Join(cfg.DataDir, "hub.db"))
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool { return store.IsUnique(err) }

// nanos and fromNanos convert between time.Time and the stored integers.
func nanos(t time.Time) int64 { return t.UnixNano() }

// storableTime reports whether t fits the stored form (UnixNano is only
// defined from 1678 to 2262); a zero time from an agent does not.
func storableTime(t time.Time) bool {
	return t.Year() > 1700 && t.Year() < 2250
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func optNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
