package hub

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/hub/docstore"
	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/offline/verifier"
)

// CopyStore copies the SQLite hub in fromDir to the PostgreSQL database
// toDSN names (tessera-hub copy-store, issue 13 point 3): every table of
// the SQLite catalogue, every column by name, values as stored (card and
// PIN lookups, password and PIN hashes, token hashes stay what they are:
// nothing is decrypted), in one PostgreSQL transaction, then verified
// table by table (row counts and checksums, see tableSum) before it
// commits.
//
// It is safe to run again. A target that already holds exactly the
// source's data is verified and left alone (CopyReport.AlreadyCopied); an
// empty one is filled: new, or where nodes started but wrote no data
// (copySkipped, copyCounters); one that holds anything else is refused
// with ErrCopyTargetNotEmpty, never merged nor wiped.
//
// The source is read in one read-only transaction, a snapshot: a hub
// serving fromDir meanwhile loses nothing, but what it writes after the
// snapshot is not in the copy (stop it first to move a site). Opening
// either store migrates it to this hub's schema first, as serve would.
// What is not copied yet is listed in CopyReport.NotCopied.
func CopyStore(ctx context.Context, fromDir, toDSN string, secretsKey []byte, log *slog.Logger) (CopyReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(fromDir, "hub.db")
	// openDB would create an empty database: a mistyped --from must fail.
	if _, err := os.Stat(path); err != nil {
		return CopyReport{}, fmt.Errorf("copy store: source: %w", err)
	}
	src, err := openDB(ctx, path)
	if err != nil {
		return CopyReport{}, fmt.Errorf("copy store: source: %w", err)
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, toDSN, 2, pgMigrations)
	if err != nil {
		return CopyReport{}, fmt.Errorf("copy store: target: %w", err)
	}
	defer dst.Close()
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return CopyReport{}, fmt.Errorf("copy store: source: %w", err)
	}
	defer stx.Rollback()
	// The target's transaction holds the writers' lock: no node of the
	// target hub writes while the copy looks at it and fills it.
	dtx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return CopyReport{}, fmt.Errorf("copy store: target: %w", err)
	}
	defer dtx.Rollback()
	report, err := copyStoreTx(ctx, stx, dtx, log)
	if err != nil {
		return report, err
	}
	// The writers' lock goes with the transaction (committed, or, when
	// the target held the data already, nothing to commit): the steps
	// below write through other connections.
	_ = dtx.Rollback()
	// After the tables: a document goes in chunks of their own
	// transactions (hub/docstore), and the secrets once the data they
	// open is there. Both are safe to run again.
	if err := copySecrets(ctx, fromDir, dst, secretsKey); err != nil {
		return report, fmt.Errorf("copy store: %w", err)
	}
	if report.Documents, err = copyDocuments(ctx, fromDir, dst); err != nil {
		return report, fmt.Errorf("copy store: %w", err)
	}
	return report, nil
}

// copySecrets seals the source's hub.key, hub.key.previous (after a
// rotation) and offline.key (files of its
// data directory) into the target, replacing any a node made there before
// the copy (they would open none of the copied cards and PINs), and the
// hash of its generated admin token, unless the target holds one.
func copySecrets(ctx context.Context, fromDir string, dst *store.DB, secretsKey []byte) error {
	s, err := newSealer(secretsKey)
	if err != nil {
		return err
	}
	now := nanos(time.Now())
	for name, want := range map[string]int{secretHubKey: 32, secretPrevHubKey: 32, secretOfflineKey: verifier.KeySize} {
		key, err := os.ReadFile(filepath.Join(fromDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a hub that never made it: the first node makes one
		}
		if err != nil || len(key) != want {
			return fmt.Errorf("secret %s: %d bytes, %v", name, len(key), err)
		}
		if err := s.store(ctx, dst, name, key, now, true); err != nil {
			return err
		}
	}
	tok, err := os.ReadFile(filepath.Join(fromDir, "admin-token"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	_, err = s.sealedSecret(ctx, dst, secretAdminHash, now, func() ([]byte, error) {
		return adminHash(strings.TrimSpace(string(tok))), nil
	})
	return err
}

// copyDocuments streams the documents of the source's data directory into
// the target's document store, those it does not hold yet, and returns how
// many it copied.
func copyDocuments(ctx context.Context, fromDir string, dst *store.DB) (int, error) {
	entries, err := os.ReadDir(filepath.Join(fromDir, "jobs"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("documents: %w", err)
	}
	src, to := docstore.Dir(filepath.Join(fromDir, "jobs")), docstore.NewPostgres(dst.SQL())
	n := 0
	for _, e := range entries {
		id := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(id, ".") {
			continue // an upload a crash left behind
		}
		if r, err := to.Open(ctx, id); err == nil {
			r.Close()
			continue // copied by an earlier run
		}
		if _, err := docstore.Copy(ctx, to, src, id); err != nil {
			return n, fmt.Errorf("document %s: %w", id, err)
		}
		n++
	}
	return n, nil
}

// CopyReport says what CopyStore did.
type CopyReport struct {
	// Tables are the tables copied (or verified), in copy order: parents
	// before the tables whose foreign keys name them.
	Tables []CopiedTable
	// AlreadyCopied is set when the target held exactly the source's data
	// already: verified, nothing written.
	AlreadyCopied bool
	// Documents is how many job documents this run copied (those an
	// earlier run copied are not counted again).
	Documents int
	// NotCopied names what the copy leaves out, for the caller to say.
	NotCopied []string
}

// CopiedTable is one table of a copy: its rows and its checksum, equal on
// both sides once the copy is done.
type CopiedTable struct {
	Name     string
	Rows     int64
	Checksum string // hex, see tableSum
}

// ErrCopyTargetNotEmpty refuses a copy into a database that holds other
// data than the source's.
var ErrCopyTargetNotEmpty = errors.New("the PostgreSQL database holds other data than this hub's: copy-store fills an empty (or new) database, or verifies one it filled; it never merges into nor wipes one")

// ErrCopyMismatch fails a copy whose verification found a table that
// differs from its source (the transaction is rolled back).
var ErrCopyMismatch = errors.New("the copy differs from the source")

// copyNotCopied is what CopyStore leaves out, said in its report.
var copyNotCopied = []string{
	"the agent CA: give the first node on PostgreSQL --ca-cert and --ca-key once; it seals them for the others",
}

// copySkipped are tables of the schema the generic copy leaves alone,
// empty on SQLite and filled on PostgreSQL otherwise: secrets (a SQLite
// hub's are files; the nodes, or a copy of the secrets, seal them into
// the database) and the documents' tables (a SQLite hub's documents are
// files in DIR/jobs; a copy of the documents puts them there).
var copySkipped = map[string]bool{"secrets": true, "documents": true, "document_chunks": true}

// copyCounters are tables of state, not data, that a new database
// already holds (offline_seq: its one row, seeded by the migration, and
// moved by a node that started on the database): they do not make a
// target occupied, and the copy replaces them with the source's.
var copyCounters = map[string]bool{"offline_seq": true}

// copyTable is a table to copy: its columns by name, in SQLite's order,
// with the kind PostgreSQL stores each in.
type copyTable struct {
	name  string
	cols  []string
	kinds []colKind
}

// copyStoreTx decides what to do with the target, and does it.
func copyStoreTx(ctx context.Context, stx, dtx *store.Tx, log *slog.Logger) (CopyReport, error) {
	tables, err := copyTables(ctx, stx, dtx)
	if err != nil {
		return CopyReport{}, fmt.Errorf("copy store: %w", err)
	}
	report := CopyReport{NotCopied: copyNotCopied}
	want := make([]tableSum, len(tables))
	for i, t := range tables {
		if want[i], err = sumTable(ctx, stx, t); err != nil {
			return CopyReport{}, fmt.Errorf("copy store: source: %w", err)
		}
		report.Tables = append(report.Tables, CopiedTable{Name: t.name, Rows: want[i].rows, Checksum: want[i].hex()})
	}
	have := make([]tableSum, len(tables))
	for i, t := range tables {
		if have[i], err = sumTable(ctx, dtx, t); err != nil {
			return CopyReport{}, fmt.Errorf("copy store: target: %w", err)
		}
	}
	if slices.Equal(have, want) {
		log.Info("copy store: the target holds this hub's data already: verified, nothing written")
		report.AlreadyCopied = true
		return report, nil
	}
	if other := occupied(tables, have); len(other) > 0 {
		return CopyReport{}, fmt.Errorf("copy store: %w (%s)", ErrCopyTargetNotEmpty, strings.Join(other, ", "))
	}
	if err := fillTarget(ctx, stx, dtx, tables, log); err != nil {
		return CopyReport{}, fmt.Errorf("copy store: %w", err)
	}
	if err := verifyTarget(ctx, dtx, tables, want); err != nil {
		return CopyReport{}, fmt.Errorf("copy store: %w", err)
	}
	if err := dtx.Commit(); err != nil {
		return CopyReport{}, fmt.Errorf("copy store: commit: %w", err)
	}
	return report, nil
}

// occupied names the target's tables that hold data (copyCounters
// aside), with their row counts.
func occupied(tables []copyTable, have []tableSum) []string {
	var other []string
	for i, t := range tables {
		if have[i].rows > 0 && !copyCounters[t.name] {
			other = append(other, fmt.Sprintf("%s: %d rows", t.name, have[i].rows))
		}
	}
	return other
}

// fillTarget copies every table into the empty target, with its triggers
// off, then moves the identities past the copied ids.
func fillTarget(ctx context.Context, stx, dtx *store.Tx, tables []copyTable, log *slog.Logger) error {
	triggers, err := enabledTriggers(ctx, dtx)
	if err != nil {
		return err
	}
	// The triggers would rewrite what is copied: a user's or a card's
	// insert moves offline_seq and the user's offline_version, a claim's
	// writes the claim log. The copy takes those as SQLite has them.
	// ALTER TABLE ... DISABLE TRIGGER is transactional and needs only the
	// tables' owner (session_replication_role would need a superuser).
	if err := setTriggers(ctx, dtx, triggers, "DISABLE"); err != nil {
		return err
	}
	for _, t := range tables {
		if copyCounters[t.name] {
			if _, err := dtx.ExecContext(ctx, "DELETE FROM "+quoteIdent(t.name)); err != nil {
				return fmt.Errorf("table %s: clear the counters: %w", t.name, err)
			}
		}
		n, err := copyRows(ctx, stx, dtx, t)
		if err != nil {
			return fmt.Errorf("table %s: %w", t.name, err)
		}
		log.Info("copy store: table copied", "table", t.name, "rows", n)
	}
	if err := setTriggers(ctx, dtx, triggers, "ENABLE"); err != nil {
		return err
	}
	return moveIdentities(ctx, stx, dtx, tables)
}

// verifyTarget compares every table of the filled target with its
// source's sum.
func verifyTarget(ctx context.Context, dtx *store.Tx, tables []copyTable, want []tableSum) error {
	for i, t := range tables {
		got, err := sumTable(ctx, dtx, t)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if got != want[i] {
			return fmt.Errorf("table %s: %w: %d rows, checksum %s on PostgreSQL; %d rows, %s in SQLite",
				t.name, ErrCopyMismatch, got.rows, got.hex(), want[i].rows, want[i].hex())
		}
	}
	return nil
}

// identRe is what a table or column name of the hub's schema looks like;
// anything else in a catalogue is refused rather than quoted.
var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// quoteIdent quotes a name checked by identRe: some columns are key words
// (key, type).
func quoteIdent(name string) string { return `"` + name + `"` }

// hexSum renders a checksum.
func hexSum(b [32]byte) string { return hex.EncodeToString(b[:]) }

// colKind is how PostgreSQL stores a column, which decides how a value
// read from SQLite (whose columns take any type) is written and summed.
type colKind int

const (
	kindOther colKind = iota
	kindText
	kindBytes
)

// copyTables lists the source's tables in an order that satisfies their
// foreign keys, each with its columns, and checks that the target has the
// same columns.
func copyTables(ctx context.Context, stx, dtx *store.Tx) ([]copyTable, error) {
	names, parents, err := sqliteTables(ctx, stx)
	if err != nil {
		return nil, fmt.Errorf("source catalogue: %w", err)
	}
	order, err := parentsFirst(names, parents)
	if err != nil {
		return nil, err
	}
	tables := make([]copyTable, 0, len(order))
	for _, name := range order {
		t := copyTable{name: name}
		if t.cols, err = queryStrings(ctx, stx, "SELECT name FROM pragma_table_info(?) ORDER BY cid", name); err != nil {
			return nil, fmt.Errorf("source catalogue: table %s: %w", name, err)
		}
		if t.kinds, err = targetKinds(ctx, dtx, t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// sqliteTables lists the hub's tables in the SQLite catalogue (not
// SQLite's own, nor copySkipped), with the tables each one's foreign keys
// name.
func sqliteTables(ctx context.Context, stx *store.Tx) ([]string, map[string][]string, error) {
	all, err := queryStrings(ctx, stx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	parents := map[string][]string{}
	for _, name := range all {
		if copySkipped[name] {
			continue
		}
		if !identRe.MatchString(name) {
			return nil, nil, fmt.Errorf("table %q: not a name of the hub's schema", name)
		}
		names = append(names, name)
		if parents[name], err = queryStrings(ctx, stx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, name); err != nil {
			return nil, nil, fmt.Errorf("table %s: foreign keys: %w", name, err)
		}
	}
	return names, parents, nil
}

// parentsFirst orders names so that every table comes after the tables
// it references (a reference to itself aside), keeping names' order
// among tables that are free to go.
func parentsFirst(names []string, parents map[string][]string) ([]string, error) {
	placed := map[string]bool{}
	var order []string
	for len(order) < len(names) {
		progress := false
		for _, name := range names {
			if placed[name] || !allPlaced(name, parents[name], placed) {
				continue
			}
			placed[name] = true
			order = append(order, name)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("source catalogue: a cycle of foreign keys among the tables not yet ordered (%d of %d ordered)", len(order), len(names))
		}
	}
	return order, nil
}

func allPlaced(name string, parents []string, placed map[string]bool) bool {
	for _, p := range parents {
		if p != name && !placed[p] {
			return false
		}
	}
	return true
}

// targetKinds reads the target's columns of t and checks they are t's.
func targetKinds(ctx context.Context, dtx *store.Tx, t copyTable) ([]colKind, error) {
	rows, err := dtx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, t.name)
	if err != nil {
		return nil, fmt.Errorf("target catalogue: table %s: %w", t.name, err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var col, typ string
		if err := rows.Scan(&col, &typ); err != nil {
			return nil, fmt.Errorf("target catalogue: table %s: %w", t.name, err)
		}
		types[col] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("target catalogue: table %s: %w", t.name, err)
	}
	if len(types) != len(t.cols) {
		return nil, fmt.Errorf("table %s: %d columns on PostgreSQL, %d in SQLite: the schemas differ", t.name, len(types), len(t.cols))
	}
	kinds := make([]colKind, len(t.cols))
	for i, c := range t.cols {
		typ, ok := types[c]
		switch {
		case !ok || !identRe.MatchString(c):
			return nil, fmt.Errorf("table %s: column %q is not on PostgreSQL: the schemas differ", t.name, c)
		case typ == "bytea":
			kinds[i] = kindBytes
		case typ == "text":
			kinds[i] = kindText
		}
	}
	return kinds, nil
}

// queryStrings runs a query of one text column.
func queryStrings(ctx context.Context, tx *store.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
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

// tableSum is a table's row count and checksum, computed the same way on
// both engines: the sum, modulo 2^256, of the SHA-256 of each row's
// canonical form (canonValue, in the columns' order). A sum does not
// depend on the order rows come in, so neither engine's sort order
// (collations, where NULLs go) enters the check, and no table is sorted;
// a row missing, added or changed changes it.
type tableSum struct {
	rows int64
	sum  [32]byte
}

func (s tableSum) hex() string { return hexSum(s.sum) }

// add adds a row to the sum.
func (s *tableSum) add(row []any, kinds []colKind) error {
	var b []byte
	for i, v := range row {
		var err error
		if b, err = canonValue(b, canon(kinds[i], v)); err != nil {
			return err
		}
	}
	h := sha256.Sum256(b)
	carry := 0
	for i := len(s.sum) - 1; i >= 0; i-- {
		x := int(s.sum[i]) + int(h[i]) + carry
		s.sum[i], carry = byte(x), x>>8
	}
	s.rows++
	return nil
}

// canon is v as the target stores it: SQLite may hold text in a BLOB
// column or bytes in a TEXT one; PostgreSQL's column decides.
func canon(kind colKind, v any) any {
	switch x := v.(type) {
	case string:
		if kind == kindBytes {
			return []byte(x)
		}
	case []byte:
		if kind == kindText {
			return string(x)
		}
	}
	return v
}

// canonValue appends v's canonical form: a letter for its type, then
// integers in decimal, text as is (after its length), bytes in hex; NULL
// is the letter alone.
func canonValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 'N'), nil
	case int64:
		return append(strconv.AppendInt(append(b, 'I'), x, 10), ';'), nil
	case float64:
		return append(strconv.AppendFloat(append(b, 'F'), x, 'g', -1, 64), ';'), nil
	case string:
		b = append(strconv.AppendInt(append(b, 'T'), int64(len(x)), 10), ':')
		return append(b, x...), nil
	case []byte:
		b = append(strconv.AppendInt(append(b, 'B'), int64(len(x)), 10), ':')
		return hex.AppendEncode(b, x), nil
	default:
		return nil, fmt.Errorf("a value of type %T", v)
	}
}

// sumTable reads every row of t and sums it.
func sumTable(ctx context.Context, tx *store.Tx, t copyTable) (tableSum, error) {
	var s tableSum
	err := eachRow(ctx, tx, t, func(row []any) error { return s.add(row, t.kinds) })
	if err != nil {
		return tableSum{}, fmt.Errorf("table %s: %w", t.name, err)
	}
	return s, nil
}

// eachRow calls f with each row of t, its columns in t's order; row is
// reused between calls.
func eachRow(ctx context.Context, tx *store.Tx, t copyTable, f func(row []any) error) error {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quoteIdent(c)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(t.name))
	if err != nil {
		return err
	}
	defer rows.Close()
	row := make([]any, len(cols))
	dest := make([]any, len(cols))
	for i := range row {
		dest[i] = &row[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := f(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// copyMaxParams bounds the parameters of one INSERT (PostgreSQL takes at
// most 65,535); copyMaxRows the rows: a batch is all that is held.
const (
	copyMaxParams = 30000
	copyMaxRows   = 500
)

// copyRows copies t's rows from the source into the target in multi-row
// INSERTs, and returns how many it copied.
func copyRows(ctx context.Context, stx, dtx *store.Tx, t copyTable) (int64, error) {
	per := max(1, min(copyMaxRows, copyMaxParams/len(t.cols)))
	var batch []any
	var n int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rows := len(batch) / len(t.cols)
		if _, err := dtx.ExecContext(ctx, insertRows(t, rows), batch...); err != nil {
			return fmt.Errorf("insert %d rows: %w", rows, err)
		}
		n += int64(rows)
		batch = batch[:0]
		return nil
	}
	err := eachRow(ctx, stx, t, func(row []any) error {
		for i, v := range row {
			batch = append(batch, canon(t.kinds[i], v))
		}
		if len(batch) < per*len(t.cols) {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	return n, err
}

// insertRows is the INSERT of rows rows into t.
func insertRows(t copyTable, rows int) string {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quoteIdent(c)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + quoteIdent(t.name) + " (" + strings.Join(cols, ", ") + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}

// pgTrigger is a trigger of the target.
type pgTrigger struct{ table, name string }

// enabledTriggers lists the target's enabled triggers (not the internal
// ones that check foreign keys: those stay on).
func enabledTriggers(ctx context.Context, dtx *store.Tx) ([]pgTrigger, error) {
	rows, err := dtx.QueryContext(ctx, `SELECT c.relname, t.tgname FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE NOT t.tgisinternal AND t.tgenabled = 'O' AND n.nspname = current_schema()
		ORDER BY c.relname, t.tgname`)
	if err != nil {
		return nil, fmt.Errorf("target triggers: %w", err)
	}
	defer rows.Close()
	var out []pgTrigger
	for rows.Next() {
		var tr pgTrigger
		if err := rows.Scan(&tr.table, &tr.name); err != nil {
			return nil, fmt.Errorf("target triggers: %w", err)
		}
		if !identRe.MatchString(tr.table) || !identRe.MatchString(tr.name) {
			return nil, fmt.Errorf("target trigger %q on %q: not a name of the hub's schema", tr.name, tr.table)
		}
		out = append(out, tr)
	}
	return out, rows.Err()
}

// setTriggers turns triggers off (DISABLE) or on again (ENABLE).
func setTriggers(ctx context.Context, dtx *store.Tx, triggers []pgTrigger, how string) error {
	for _, tr := range triggers {
		q := "ALTER TABLE " + quoteIdent(tr.table) + " " + how + " TRIGGER " + quoteIdent(tr.name)
		if _, err := dtx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s trigger %s on %s (the copy must run as the owner of the hub's tables): %w",
				strings.ToLower(how), tr.name, tr.table, err)
		}
	}
	return nil
}

// moveIdentities moves each identity column's sequence past the ids
// copied, and past SQLite's AUTOINCREMENT counter (sqlite_sequence: the
// largest id ever given, deleted rows' included), so that the next insert
// neither collides nor reuses an id SQLite would not have.
func moveIdentities(ctx context.Context, stx, dtx *store.Tx, tables []copyTable) error {
	used, err := sqliteSequences(ctx, stx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		cols, err := queryStrings(ctx, dtx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'`, t.name)
		if err != nil {
			return fmt.Errorf("table %s: identity columns: %w", t.name, err)
		}
		for _, c := range cols {
			var top int64
			q := "SELECT COALESCE(MAX(" + quoteIdent(c) + "), 0) FROM " + quoteIdent(t.name)
			if err := dtx.QueryRowContext(ctx, q).Scan(&top); err != nil {
				return fmt.Errorf("table %s: largest %s: %w", t.name, c, err)
			}
			top = max(top, used[t.name])
			if top < 1 {
				continue // nothing given yet: the sequence starts at 1
			}
			var set int64
			err := dtx.QueryRowContext(ctx, "SELECT setval(pg_get_serial_sequence(?, ?), ?)", quoteIdent(t.name), c, top).Scan(&set)
			if err != nil {
				return fmt.Errorf("table %s: move the identity of %s past %d: %w", t.name, c, top, err)
			}
		}
	}
	return nil
}

// sqliteSequences reads SQLite's AUTOINCREMENT counters by table (none
// when no table has one).
func sqliteSequences(ctx context.Context, stx *store.Tx) (map[string]int64, error) {
	out := map[string]int64{}
	var n int
	if err := stx.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").Scan(&n); err != nil || n == 0 {
		return out, err
	}
	rows, err := stx.QueryContext(ctx, "SELECT name, seq FROM sqlite_sequence")
	if err != nil {
		return nil, fmt.Errorf("sqlite_sequence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, fmt.Errorf("sqlite_sequence: %w", err)
		}
		out[name] = seq
	}
	return out, rows.Err()
}
