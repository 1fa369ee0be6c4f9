package hub

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// recordsPage is GET /api/v1/accounting's body.
type recordsPage struct {
	Records []recordView `json:"records"`
	Next    *string      `json:"next"`
}

// accountingList reads GET /api/v1/accounting with query (e.g. "?type=copy").
func (h *testHub) accountingList(query string) recordsPage {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/accounting"+query, nil), http.StatusOK)
	var p recordsPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatalf("accounting: %v: %s", err, r.body)
	}
	return p
}

// sendRecords sends recs as the agent and returns the accepted ids and the
// refused ones with their codes, comma-separated.
func sendRecords(t *testing.T, a *testAgent, recs ...protocol.Record) (accepted, refused string) {
	t.Helper()
	var resp protocol.AccountingResponse
	a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp)
	var ref []string
	for _, r := range resp.Refused {
		ref = append(ref, r.ID+" "+r.Code)
	}
	return strings.Join(resp.Accepted, ","), strings.Join(ref, ",")
}

// agentRecord is a print record of agent-1 numbered seq, made by edit.
func agentRecord(seq int64, at time.Time, edit func(*protocol.Record)) protocol.Record {
	r := protocol.Record{ID: "agent-1:" + strconv.FormatInt(seq, 10), AgentID: "agent-1", Seq: seq, Owner: "alice",
		Type: protocol.RecordPrint, Pages: 1, Copies: 1, At: at, Basis: protocol.BasisDevice}
	if edit != nil {
		edit(&r)
	}
	return r
}

// The new record fields are stored and listed as sent; a resend is the
// same record, one that differs in any of them is a conflict; an old
// agent's print record gets sheets and clicks from its pages, and its
// "fax" is stored as fax-out.
func TestRecordFields(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice"})
	a := h.mustDial("")
	a.boot("agent-1")
	at := h.clock.Now().UTC().Truncate(time.Second)
	full := agentRecord(1, at, func(r *protocol.Record) {
		r.Pages, r.Copies, r.Duplex, r.Sheets, r.PaperSize, r.Clicks = 6, 2, true, 4, "iso_a3_297x420mm", 12
		r.StartedAt, r.FinishedAt = at.Add(-2*time.Minute), at.Add(-time.Second)
	})
	old := agentRecord(2, at, func(r *protocol.Record) { r.Pages, r.Duplex = 5, true })
	fax := agentRecord(3, at, func(r *protocol.Record) { r.Type = protocol.RecordFaxLegacy })
	unreconciled := agentRecord(4, at, func(r *protocol.Record) { r.Pages, r.Unreconciled = 0, true })
	if acc, ref := sendRecords(t, a, full, old, fax, unreconciled); acc != "agent-1:1,agent-1:2,agent-1:3,agent-1:4" || ref != "" {
		t.Fatalf("accepted %q, refused %q", acc, ref)
	}
	got := h.accountingList("").Records
	if len(got) != 4 {
		t.Fatalf("%d records", len(got))
	}
	v := got[0]
	if v.Sheets != 4 || v.PaperSize != "iso_a3_297x420mm" || v.Clicks != 12 || v.Account != "" ||
		v.StartedAt == nil || !v.StartedAt.Equal(full.StartedAt) || v.FinishedAt == nil || !v.FinishedAt.Equal(full.FinishedAt) {
		t.Errorf("full record listed as %+v", v)
	}
	if v := got[1]; v.Sheets != 3 || v.Clicks != 5 || v.PaperSize != "" || v.StartedAt != nil || v.FinishedAt != nil {
		t.Errorf("old agent's record listed as %+v, want sheets 3, clicks 5, no size, no times", v)
	}
	if v := got[2]; v.Type != protocol.RecordFaxOut || v.Sheets != 0 || v.Clicks != 0 {
		t.Errorf("fax record listed as %+v, want type fax-out and no sheets or clicks (not a print)", v)
	}
	if v := got[3]; v.Sheets != 0 || v.Clicks != 0 {
		t.Errorf("unreconciled record listed as %+v, want no sheets or clicks", v)
	}

	tests := []struct {
		name         string
		rec          protocol.Record
		wantAccepted string
		wantRefused  string
	}{
		{"resend with every field", full, "agent-1:1", ""},
		{"resend of the old agent's record", old, "agent-1:2", ""},
		{"resend of the old fax", fax, "agent-1:3", ""},
		{"other clicks", func() protocol.Record { r := full; r.Clicks = 6; return r }(), "", "agent-1:1 record-conflict"},
		{"other paper", func() protocol.Record { r := full; r.PaperSize = "iso_a4_210x297mm"; return r }(), "", "agent-1:1 record-conflict"},
		{"other start", func() protocol.Record { r := full; r.StartedAt = at; return r }(), "", "agent-1:1 record-conflict"},
		{"no end", func() protocol.Record { r := full; r.FinishedAt = time.Time{}; return r }(), "", "agent-1:1 record-conflict"},
		{"an account", func() protocol.Record { r := full; r.Account = "dept"; return r }(), "", "agent-1:1 record-conflict"},
		{"old record with its own sheets", func() protocol.Record { r := old; r.Sheets, r.Clicks = 5, 5; return r }(), "", "agent-1:2 record-conflict"},
	}
	for _, tc := range tests {
		acc, ref := sendRecords(t, a, tc.rec)
		if acc != tc.wantAccepted || ref != tc.wantRefused {
			t.Errorf("%s: accepted %q refused %q, want %q and %q", tc.name, acc, ref, tc.wantAccepted, tc.wantRefused)
		}
	}
}

// GET /api/v1/accounting filters by offline, type, agent, owner and time;
// a malformed filter is a 400.
func TestAccountingFilters(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice"})
	h.createUser(map[string]any{"username": "bob"})
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	h.clock.Set(t0.Add(3 * time.Hour))
	a := h.mustDial("")
	a.boot("agent-1")
	b := h.mustDial("")
	b.boot("agent-2")
	sendRecords(t, a,
		agentRecord(1, t0, nil),
		agentRecord(2, t0.Add(time.Hour), func(r *protocol.Record) { r.Offline, r.Type = true, protocol.RecordCopy }),
		agentRecord(3, t0.Add(2*time.Hour), func(r *protocol.Record) { r.Offline, r.Owner = true, "bob" }),
		agentRecord(4, t0.Add(2*time.Hour), func(r *protocol.Record) { r.Type = protocol.RecordFaxLegacy }))
	rec := agentRecord(1, t0.Add(30*time.Minute), func(r *protocol.Record) { r.ID, r.AgentID, r.Type = "agent-2:1", "agent-2", protocol.RecordScan })
	sendRecords(t, b, rec)

	tests := []struct {
		query string
		want  string
	}{
		{"", "agent-1:1 agent-1:2 agent-1:3 agent-1:4 agent-2:1"},
		{"?offline=true", "agent-1:2 agent-1:3"},
		{"?offline=false", "agent-1:1 agent-1:4 agent-2:1"},
		{"?type=copy", "agent-1:2"},
		{"?type=fax-out", "agent-1:4"},
		{"?type=fax", "agent-1:4"},
		{"?type=fax-in", ""},
		{"?agent_id=agent-2", "agent-2:1"},
		{"?owner=bob&offline=true", "agent-1:3"},
		{"?since=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339)), "agent-1:2 agent-1:3 agent-1:4"},
		{"?until=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339)), "agent-1:1 agent-2:1"},
		{"?since=2026-03-02T08:30:00Z&until=2026-03-02T10:30:00%2B01:00", "agent-1:2 agent-2:1"},
		{"?agent_id=agent-1&type=print&limit=1", "agent-1:1"},
	}
	for _, tc := range tests {
		var ids []string
		for _, r := range h.accountingList(tc.query).Records {
			ids = append(ids, r.ID)
		}
		if got := strings.Join(ids, " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	// The cursor keeps the filter's order and set.
	p := h.accountingList("?agent_id=agent-1&limit=2")
	if p.Next == nil {
		t.Fatal("no next page")
	}
	if q := h.accountingList("?agent_id=agent-1&limit=2&cursor=" + *p.Next); len(q.Records) != 2 || q.Records[0].ID != "agent-1:3" {
		t.Errorf("second page %+v", q.Records)
	}
	for _, bad := range []string{"?offline=yes", "?offline=1", "?since=yesterday", "?until=2026-03-02", "?since=0001-01-01T00:00:00Z"} {
		h.mustStatus(h.admin(http.MethodGet, "/api/v1/accounting"+bad, nil), http.StatusBadRequest)
	}
}

// An offline record for a user the hub no longer has is stored, charged
// to nobody, and raises unknown-owner once per agent, owner and hour; the
// balance a user's view shows is after the offline records charged to them.
func TestOfflineRecordOwners(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 10}})
	h.createUser(map[string]any{"username": "gone", "policy": map[string]any{"quota_pages": 10}})
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/gone", nil), http.StatusNoContent)
	a := h.mustDial("")
	a.boot("agent-1")
	at := h.clock.Now().UTC()
	offline := func(seq int64, owner string, pages int) protocol.Record {
		return agentRecord(seq, at, func(r *protocol.Record) { r.Owner, r.Pages, r.Offline = owner, pages, true })
	}
	if acc, ref := sendRecords(t, a, offline(1, "alice", 3), offline(2, "gone", 4), offline(3, "gone", 1),
		offline(4, "alice", 2)); acc != "agent-1:1,agent-1:2,agent-1:3,agent-1:4" || ref != "" {
		t.Fatalf("accepted %q, refused %q", acc, ref)
	}
	if got := h.balance("alice"); got != "5" {
		t.Errorf("alice's balance after 5 offline pages: %s, want 5", got)
	}
	if n := len(h.accountingList("?owner=gone").Records); n != 2 {
		t.Errorf("%d records of the deleted user stored, want 2", n)
	}
	alerts := h.alertsOf(alertUnknownOwner)
	if len(alerts) != 1 {
		t.Fatalf("%d unknown-owner alerts, want 1: %+v", len(alerts), alerts)
	}
	if !strings.Contains(alerts[0].Message, `"gone"`) || alerts[0].AgentID != "agent-1" {
		t.Errorf("alert %+v", alerts[0])
	}
	// A resend raises nothing more; an hour later, another record does.
	sendRecords(t, a, offline(2, "gone", 4))
	h.clock.Advance(time.Hour)
	at = h.clock.Now().UTC()
	sendRecords(t, a, offline(5, "gone", 1))
	if n := len(h.alertsOf(alertUnknownOwner)); n != 2 {
		t.Errorf("%d unknown-owner alerts after the next hour's record, want 2", n)
	}
}

// Migration 15: stored fax records become fax-out, old print records get
// sheets and clicks from their pages, and an agent resending one of them
// after the upgrade is acknowledged, not refused as a conflict.
func TestRecordsMigration(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 2, 28, 9, 0, 0, 0, time.UTC)
	insert := `INSERT INTO accounting (id, agent_id, seq, owner, type, pages, copies, color, duplex, offline, at, received_at)
		VALUES (?, 'agent-1', ?, 'alice', ?, ?, ?, 0, ?, 1, ?, ?)`
	for _, m := range migrations[:14] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"PRAGMA user_version = 14", nil},
		{insert, []any{"agent-1:1", 1, "print", 6, 2, 1, at.UnixNano(), at.UnixNano()}},
		{insert, []any{"agent-1:2", 2, "fax", 2, 1, 0, at.UnixNano(), at.UnixNano()}},
		{insert, []any{"agent-1:3", 3, "print", 5, 1, 0, at.UnixNano(), at.UnixNano()}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	h := newTestHub(t, func(c *Config) { c.DataDir, c.OpenEnrollment = dir, true })
	got := h.accountingList("").Records
	if len(got) != 3 {
		t.Fatalf("%d records after migration", len(got))
	}
	if v := got[0]; v.Type != "print" || v.Sheets != 4 || v.Clicks != 6 || v.StartedAt != nil {
		t.Errorf("old duplex print record %+v, want sheets 4, clicks 6", v)
	}
	if v := got[1]; v.Type != protocol.RecordFaxOut || v.Sheets != 0 || v.Clicks != 0 {
		t.Errorf("old fax record %+v, want fax-out, no sheets or clicks", v)
	}
	if v := got[2]; v.Sheets != 5 || v.Clicks != 5 {
		t.Errorf("old one-sided print record %+v, want sheets 5, clicks 5", v)
	}
	a := h.mustDial("")
	a.boot("agent-1")
	old := agentRecord(1, at, func(r *protocol.Record) { r.Pages, r.Copies, r.Duplex, r.Offline, r.Basis = 6, 2, true, true, "" })
	fax := agentRecord(2, at, func(r *protocol.Record) { r.Type, r.Pages, r.Offline, r.Basis = protocol.RecordFaxLegacy, 2, true, "" })
	if acc, ref := sendRecords(t, a, old, fax); acc != "agent-1:1,agent-1:2" || ref != "" {
		t.Errorf("resent after the upgrade: accepted %q, refused %q", acc, ref)
	}
}

// FuzzNormalizeRecord: what the hub stores of a record is a fixed point of
// normalizeRecord, so a resend (normalized again) compares equal to it,
// and it never holds negative sheets or clicks nor a time the store
// cannot hold.
func FuzzNormalizeRecord(f *testing.F) {
	f.Add("print", 5, 2, true, false, 0, 0, "iso_a3_297x420mm", int64(0), int64(0))
	f.Add("fax", 2, 1, false, false, -1, -3, "", int64(-1), int64(1<<62))
	f.Add("copy", 0, 1, false, true, 3, 3, "na_ledger_11x17in", int64(1e18), int64(-1e18))
	f.Fuzz(func(t *testing.T, typ string, pages, copies int, duplex, unreconciled bool, sheets, clicks int, paper string,
		started, finished int64) {
		r := protocol.Record{Type: typ, Pages: pages % 1_000_000, Copies: copies, Duplex: duplex, Unreconciled: unreconciled,
			Sheets: sheets, Clicks: clicks, PaperSize: paper, StartedAt: time.Unix(0, started), FinishedAt: time.Unix(0, finished)}
		if started == 0 {
			r.StartedAt = time.Time{}
		}
		once := normalizeRecord(r)
		twice := normalizeRecord(once)
		if !once.StartedAt.Equal(twice.StartedAt) || !once.FinishedAt.Equal(twice.FinishedAt) {
			t.Fatalf("times moved: %v %v", once, twice)
		}
		once.StartedAt, once.FinishedAt, twice.StartedAt, twice.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if once != twice {
			t.Fatalf("not a fixed point:\n %+v\n %+v", once, twice)
		}
		if once.Sheets < 0 || once.Clicks < 0 || once.Type == protocol.RecordFaxLegacy {
			t.Fatalf("stored as %+v", once)
		}
	})
}
