package hub

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/protocol"
)

// copySource is a SQLite hub (whatever engine the suite runs on) with
// users holding passwords, cards and PINs, held and fetched jobs (a
// lease, a download token, the claim log), accounting records, agents
// with device tokens and tasks.
func copySource(t *testing.T) *testHub {
	t.Helper()
	h := newTestHub(t, func(c *Config) { c.Database = ""; c.OpenEnrollment = true })
	h.createUser(map[string]any{"username": "alice", "full_name": "Alice", "password": "correct horse battery",
		"cards": []any{"04A1B2C3", map[string]any{"value": "04A1B2C4", "expires_at": "2030-01-01T00:00:00Z"}}, "pins": []any{"2580"}})
	h.createUser(map[string]any{"username": "bob", "full_name": "Zoë Ångström 🖨", "cards": []any{"B0B0B0B0"}, "pins": []any{"13579"}})
	h.createUser(map[string]any{"username": "gone", "cards": []any{"DEADBEEF"}})
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/gone", nil), http.StatusNoContent) // a tombstone
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/agents", map[string]any{"id": "printer-2"}), http.StatusCreated)
	doc := readTestdata(t, "default.pdf")
	held := h.uploadJob(map[string]string{"owner": "alice", "name": "held"}, "default.pdf", doc)
	fetched := h.uploadJob(map[string]string{"owner": "bob", "name": "fetched", "copies": "2"}, "default.pdf", doc)
	a := h.mustDial("")
	a.boot("agent-1")
	a.mustCall(protocol.ActionFetchJob, a.as(protocol.FetchJobRequest{JobID: fetched, Username: "bob"}), &protocol.FetchJobResponse{})
	at := h.clock.Now().Add(-time.Minute)
	var recs []protocol.Record
	for seq := int64(1); seq <= 3; seq++ {
		recs = append(recs, protocol.Record{ID: fmt.Sprintf("agent-1:%d", seq), AgentID: "agent-1", Seq: seq, JobID: held,
			Owner: "alice", Type: protocol.RecordPrint, Pages: 2, Copies: 1, PrinterSerial: "SN1", At: at})
	}
	a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &protocol.AccountingResponse{})
	h.createTask(map[string]any{"agent_id": "agent-1", "type": "restart"})
	h.createTask(map[string]any{"agent_id": "printer-2", "type": "restart"})
	// More rows than one INSERT of the copy takes (copyMaxRows), some
	// with text beyond ASCII.
	_, err := h.s.db.Exec(`INSERT INTO printer_events (agent_id, kind, at, status, reasons, data, received_at)
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		SELECT 'agent-1', 'alert', i, CASE i % 3 WHEN 0 THEN 'arrêté' ELSE '' END, '[]', '{"i":' || i || '}', i FROM n`, 2*copyMaxRows+1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// copyTarget is a new, empty PostgreSQL database (not migrated): the
// suite's cluster when it runs on PostgreSQL, else one of this test's.
func copyTarget(t *testing.T, pg **testenv.Postgres) string {
	t.Helper()
	if testPG != nil {
		return testPG.NewDatabase(t)
	}
	if *pg == nil {
		*pg = testenv.StartPostgres(t)
	}
	return (*pg).NewDatabase(t)
}

// A SQLite hub copied to PostgreSQL, into a database a node has started
// on (its secrets, the offline counter, no data): the copy equals the
// source table by table, a hub on it serves the same users, logs a copied card in over
// the agent websocket and inserts new rows past the copied ids; run
// again, the copy is verified and left alone; a database with other data
// is refused and left as it was.
func TestCopyStore(t *testing.T) {
	ctx := t.Context()
	src := copySource(t)
	var pg *testenv.Postgres
	dsn := copyTarget(t, &pg)
	// A node started on it: it made its secrets and moved the offline
	// counter, and wrote no data: the database is still empty.
	newTestHub(t, func(c *Config) { c.Database = dsn }).s.Close()

	rep, err := CopyStore(ctx, src.dir, dsn, testSecretsKey, nil)
	if err != nil {
		t.Fatalf("CopyStore: %v", err)
	}
	if rep.AlreadyCopied || len(rep.NotCopied) == 0 {
		t.Errorf("report: already copied %v, not copied %q", rep.AlreadyCopied, rep.NotCopied)
	}
	if docs, _ := os.ReadDir(filepath.Join(src.dir, "jobs")); rep.Documents == 0 || rep.Documents != len(docs) {
		t.Errorf("documents copied: %d, the source holds %d", rep.Documents, len(docs))
	}
	dst, err := store.OpenPostgres(ctx, dsn, 2, pgMigrations)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	tables := compareCopy(t, src.s.db, dst, rep)
	for _, name := range []string{"users", "cards", "pins", "offline_verifiers", "offline_tombstones", "jobs",
		"download_tokens", "claim_log", "accounting", "agents", "tasks", "login_tokens", "printer_events"} {
		if tables[name] == 0 {
			t.Errorf("table %s: no rows in the source: the test copies nothing there", name)
		}
	}

	if n := tables["printer_events"]; n != 2*copyMaxRows+1 {
		t.Errorf("printer events copied: %d, want %d (three INSERTs)", n, 2*copyMaxRows+1)
	}

	again, err := CopyStore(ctx, src.dir, dsn, testSecretsKey, nil)
	if err != nil || !again.AlreadyCopied || !reflect.DeepEqual(again.Tables, rep.Tables) || again.Documents != 0 {
		t.Fatalf("CopyStore again: %v, already copied %v, tables equal %v", err, again.AlreadyCopied, reflect.DeepEqual(again.Tables, rep.Tables))
	}
	compareCopy(t, src.s.db, dst, again)

	other := copyTarget(t, &pg)
	odb, err := store.OpenPostgres(ctx, other, 2, pgMigrations)
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	if _, err := odb.Exec("INSERT INTO users (username, created_at, updated_at) VALUES ('mallory', 1, 1)"); err != nil {
		t.Fatal(err)
	}
	_, err = CopyStore(ctx, src.dir, other, testSecretsKey, nil)
	if !errors.Is(err, ErrCopyTargetNotEmpty) || !strings.Contains(err.Error(), "users: 1 rows") {
		t.Errorf("CopyStore into a database with a user: %v, want %v naming users", err, ErrCopyTargetNotEmpty)
	}
	if n := count(t, odb, "users"); n != 1 {
		t.Errorf("the refused database has %d users, want its 1", n)
	}

	checkMismatch(t, src.dir, copyTarget(t, &pg))
	checkHubOnCopy(t, src, dsn, dst)
	if _, err := CopyStore(ctx, src.dir, dsn, testSecretsKey, nil); !errors.Is(err, ErrCopyTargetNotEmpty) {
		t.Errorf("CopyStore after the hub on the copy wrote: %v, want %v", err, ErrCopyTargetNotEmpty)
	}
}

// checkMismatch copies into a database whose trigger (one the copy
// leaves on: ENABLE ALWAYS) changes a user's name on its way in: the copy
// fails naming users, and the database stays empty.
func checkMismatch(t *testing.T, srcDir, dsn string) {
	t.Helper()
	db, err := store.OpenPostgres(t.Context(), dsn, 2, pgMigrations)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.full_name = upper(NEW.full_name); RETURN NEW; END $$`,
		`CREATE TRIGGER tamper BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION tamper()`,
		`ALTER TABLE users ENABLE ALWAYS TRIGGER tamper`,
	} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err = CopyStore(t.Context(), srcDir, dsn, testSecretsKey, nil)
	if !errors.Is(err, ErrCopyMismatch) || !strings.Contains(err.Error(), "table users:") {
		t.Errorf("CopyStore through a tampering trigger: %v, want %v naming users", err, ErrCopyMismatch)
	}
	for _, table := range []string{"users", "cards", "jobs", "accounting"} {
		if n := count(t, db, table); n != 0 {
			t.Errorf("after the failed copy, %s holds %d rows, want none (one transaction)", table, n)
		}
	}
}

// checkHubOnCopy opens a hub on the copy, with the source's data
// directory (its keys), and checks what it serves.
func checkHubOnCopy(t *testing.T, src *testHub, dsn string, dst *store.DB) {
	t.Helper()
	users := map[string]response{}
	for _, u := range []string{"alice", "bob", "gone"} {
		users[u] = src.admin(http.MethodGet, "/api/v1/users/"+u, nil)
	}
	token := src.deviceToken("agent-1")
	src.s.Close() // one hub on the data directory at a time
	// The copy alone: no data directory of the source's (its keys were
	// sealed into the database).
	h := newTestHub(t, func(c *Config) { c.Database = dsn })
	for u, want := range users {
		if got := h.admin(http.MethodGet, "/api/v1/users/"+u, nil); got.status != want.status || string(got.body) != string(want.body) {
			t.Errorf("user %s on the copy: %d %s, want %d %s", u, got.status, got.body, want.status, want.body)
		}
	}
	a := h.mustDial(token) // the agent's device token was copied as its hash
	if resp := a.boot("agent-1"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot on the copy: %+v", resp)
	}
	for _, tc := range []struct {
		req  protocol.AuthorizeRequest
		want string
	}{
		{protocol.AuthorizeRequest{Card: "04A1B2C3"}, "alice"},
		{protocol.AuthorizeRequest{Card: "04A1B2C3", PIN: "2580"}, "alice"},
		{protocol.AuthorizeRequest{Username: "alice", Password: "correct horse battery"}, "alice"},
		{protocol.AuthorizeRequest{Card: "B0B0B0B0"}, "bob"},
		{protocol.AuthorizeRequest{Card: "DEADBEEF"}, ""},
	} {
		if got := a.loginAs(tc.req); got != tc.want {
			t.Errorf("%+v on the copy logs in %q, want %q", tc.req, got, tc.want)
		}
	}
	// The identities moved past the copied ids, the triggers are on again.
	var before int64
	if err := dst.QueryRow("SELECT version FROM offline_seq").Scan(&before); err != nil {
		t.Fatal(err)
	}
	h.createUser(map[string]any{"username": "carol", "cards": []any{"CA401"}})
	h.uploadJob(map[string]string{"owner": "carol", "name": "new"}, "default.pdf", readTestdata(t, "default.pdf"))
	h.createTask(map[string]any{"agent_id": "agent-1", "type": "restart"})
	var after int64
	if err := dst.QueryRow("SELECT version FROM offline_seq").Scan(&after); err != nil || after <= before {
		t.Errorf("offline version %d after a new user, %d before (%v): the triggers are off", after, before, err)
	}
}

// compareCopy checks that every table of the source (SQLite) holds the
// same rows on the target, as the report counts them; it returns the
// row counts by table.
func compareCopy(t *testing.T, src, dst *store.DB, rep CopyReport) map[string]int64 {
	t.Helper()
	names := queryColumn(t, src, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ('secrets', 'documents', 'document_chunks') ORDER BY name`)
	counts := map[string]int64{}
	for _, r := range rep.Tables {
		counts[r.Name] = r.Rows
	}
	if len(counts) != len(names) {
		t.Errorf("report of %d tables, the source has %d", len(counts), len(names))
	}
	for _, name := range names {
		want, got := dumpTable(t, src, name), dumpTable(t, dst, name)
		if !slices.Equal(got, want) {
			t.Errorf("table %s on PostgreSQL:\n%s\nin SQLite:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if int64(len(want)) != counts[name] {
			t.Errorf("table %s: report %d rows, source %d", name, counts[name], len(want))
		}
	}
	return counts
}

// dumpTable is every row of a table, each column as %q of its text (bytes
// and text alike) or NULL, sorted.
func dumpTable(t *testing.T, db *store.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				fmt.Fprintf(&b, "%s=NULL ", cols[i])
			case []byte:
				fmt.Fprintf(&b, "%s=%q ", cols[i], x)
			default:
				fmt.Fprintf(&b, "%s=%q ", cols[i], fmt.Sprint(x))
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func queryColumn(t *testing.T, db *store.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func count(t *testing.T, db *store.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// parentsFirst puts a table after those its foreign keys name, and
// refuses a cycle.
func TestCopyStoreTableOrder(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		parents map[string][]string
		want    []string
	}{
		{"no keys", []string{"a", "b"}, nil, []string{"a", "b"}},
		{"child first by name", []string{"cards", "pins", "users"}, map[string][]string{"cards": {"users"}, "pins": {"users"}},
			[]string{"users", "cards", "pins"}},
		{"chain", []string{"a", "b", "c"}, map[string][]string{"a": {"b"}, "b": {"c"}}, []string{"c", "b", "a"}},
		{"self reference", []string{"a"}, map[string][]string{"a": {"a"}}, []string{"a"}},
		{"cycle", []string{"a", "b"}, map[string][]string{"a": {"b"}, "b": {"a"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parentsFirst(tc.names, tc.parents)
			if !slices.Equal(got, tc.want) || (err != nil) != (tc.want == nil) {
				t.Errorf("parentsFirst = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// A table's sum depends on its rows, not their order; text and bytes of
// the same content differ, and so do NULL and an empty text.
func TestCopyStoreSum(t *testing.T) {
	kinds := []colKind{kindOther, kindText, kindBytes}
	sum := func(rows ...[]any) tableSum {
		t.Helper()
		var s tableSum
		for _, r := range rows {
			if err := s.add(r, kinds); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	r1, r2 := []any{int64(1), "a", []byte{1}}, []any{int64(2), "b", nil}
	tests := []struct {
		name  string
		a, b  tableSum
		equal bool
	}{
		{"order", sum(r1, r2), sum(r2, r1), true},
		{"text in a bytes column is bytes", sum([]any{int64(1), "a", "\x01"}), sum(r1), true},
		{"a row missing", sum(r1, r2), sum(r1), false},
		{"a row twice", sum(r1, r1), sum(r1), false},
		{"NULL and empty", sum([]any{int64(1), "", nil}), sum([]any{int64(1), nil, nil}), false},
		{"integer and text", sum([]any{int64(1), "a", nil}), sum([]any{"1", "a", nil}), false},
		{"column boundary", sum([]any{nil, "ab", []byte("c")}), sum([]any{nil, "a", []byte("bc")}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.a == tc.b) != tc.equal {
				t.Errorf("sums %s and %s: equal %v, want %v", tc.a.hex(), tc.b.hex(), tc.a == tc.b, tc.equal)
			}
		})
	}
	var s tableSum
	if err := s.add([]any{true}, []colKind{kindOther}); err == nil {
		t.Error("a bool summed: want an error (no column of the schema holds one)")
	}
}
