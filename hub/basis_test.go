package hub

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// basisHub is a hub with alice's job fetched by agent-1 (claim hubClaim),
// a CUPS job claimed by agent-1 (cupsClaim), and agent-2 connected.
type basisHub struct {
	*testHub
	a1, a2              *testAgent
	job                 string
	hubClaim, cupsClaim string
	at                  time.Time
}

func newBasisHub(t *testing.T, caps RecordCaps) *basisHub {
	h := newTestHub(t, func(c *Config) {
		c.OpenEnrollment = true
		c.HeartbeatInterval = 20 * time.Second
		c.RecordCaps = caps
	})
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 100000}})
	h.createUser(map[string]any{"username": "bob", "policy": map[string]any{"quota_pages": 100000}})
	b := &basisHub{testHub: h, a1: h.mustDial(""), a2: h.mustDial(""), at: time.Date(2025, 3, 1, 8, 10, 0, 0, time.UTC)}
	b.a1.boot("agent-1")
	b.a2.boot("agent-2")
	b.job = h.uploadJob(map[string]string{"owner": "alice", "name": "n"}, "default.pdf", readTestdata(t, "default.pdf"))
	b.hubClaim = b.claimHubJob(b.job, "agent-1", "1")
	b.cupsClaim = b.a1.claim("cups:urn:uuid:1")
	return b
}

// claimHubJob claims a hub job for agent in attempt as FetchJob does.
func (b *basisHub) claimHubJob(job, agent, attempt string) string {
	b.t.Helper()
	fresh, err := randomID()
	if err != nil {
		b.t.Fatal(err)
	}
	claim, err := b.s.claimJob(b.t.Context(), job, agent, attempt, fresh, b.clock.Now())
	if err != nil {
		b.t.Fatalf("claim %s for %s: %v", job, agent, err)
	}
	return claim
}

// rec is a print record of agent's seq.
func (b *basisHub) rec(agent string, seq int64, basis, claim, job, owner string, pages int) protocol.Record {
	return protocol.Record{ID: fmt.Sprintf("%s:%d", agent, seq), AgentID: agent, Seq: seq, JobID: job, Owner: owner,
		Type: protocol.RecordPrint, Pages: pages, Copies: 1, At: b.at, Basis: basis, ClaimID: claim}
}

func (a *testAgent) records(recs ...protocol.Record) protocol.AccountingResponse {
	a.t.Helper()
	var resp protocol.AccountingResponse
	a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp)
	return resp
}

// storedBasis reads a record's stored basis and whether it was charged.
func (h *testHub) storedBasis(id string) string {
	h.t.Helper()
	var basis string
	var uncharged bool
	if err := h.s.db.QueryRow("SELECT basis, uncharged FROM accounting WHERE id = ?", id).Scan(&basis, &uncharged); err != nil {
		return "not stored"
	}
	if uncharged {
		return basis + " uncharged"
	}
	return basis
}

// Point 3: a claim record stands on a claim the hub issued to this agent
// (a hub job's, current or past, for its owner; a CUPS job's); anything
// else is stored and charged as the agent's own word (device), and a
// claim that does not match raises record-basis. A record for a hub job
// another agent holds is refused.
func TestRecordBasis(t *testing.T) {
	b := newBasisHub(t, RecordCaps{})
	// A second attempt at the printer: a new claim; the first stays agent-1's.
	current := b.claimHubJob(b.job, "agent-1", "2")
	if current == b.hubClaim {
		t.Fatal("a new attempt kept the claim")
	}
	other := b.testHub.uploadJob(map[string]string{"owner": "bob", "name": "n"}, "default.pdf", readTestdata(t, "default.pdf"))
	b.claimHubJob(other, "agent-2", "1")

	tests := []struct {
		name      string
		agent     *testAgent
		rec       protocol.Record
		want      string // stored basis, or the refusal
		wantAlert bool
	}{
		{"current hub claim", b.a1, b.rec("agent-1", 1, protocol.BasisClaim, current, b.job, "alice", 2), "claim", false},
		{"past hub claim", b.a1, b.rec("agent-1", 2, protocol.BasisClaim, b.hubClaim, b.job, "alice", 1), "claim", false},
		{"CUPS claim", b.a1, b.rec("agent-1", 3, protocol.BasisClaim, b.cupsClaim, "cups:7", "bob", 3), "claim", false},
		{"no basis (older agent)", b.a1, b.rec("agent-1", 4, "", "", "", "bob", 1), "device", false},
		{"device", b.a1, b.rec("agent-1", 5, protocol.BasisDevice, "", "local:x", "bob", 1), "device", false},
		{"unknown claim", b.a1, b.rec("agent-1", 6, protocol.BasisClaim, "forged", b.job, "alice", 1), "device", true},
		{"claim of another job", b.a1, b.rec("agent-1", 7, protocol.BasisClaim, b.hubClaim, "other-job", "alice", 1), "device", true},
		{"claim for another owner", b.a1, b.rec("agent-1", 8, protocol.BasisClaim, b.hubClaim, b.job, "bob", 1), "device", true},
		{"another agent's claim", b.a2, b.rec("agent-2", 1, protocol.BasisClaim, b.cupsClaim, "cups:7", "bob", 1), "device", true},
		{"unknown login", b.a1, protocol.Record{ID: "agent-1:9", AgentID: "agent-1", Seq: 9, Owner: "bob", Type: protocol.RecordPrint,
			Pages: 1, Copies: 1, At: b.at, Basis: protocol.BasisLogin, LoginToken: "not-issued"}, "device", true},
		{"unknown basis", b.a1, b.rec("agent-1", 10, "trust-me", "", "", "bob", 1), "device", true},
		{"job another agent claimed", b.a2, b.rec("agent-2", 2, protocol.BasisDevice, "", b.job, "alice", 500), "refused claimed-elsewhere", true},
		{"its claim, by another agent", b.a2, b.rec("agent-2", 3, protocol.BasisClaim, current, b.job, "alice", 500), "refused claimed-elsewhere", true},
		{"a job it claimed", b.a2, b.rec("agent-2", 4, protocol.BasisDevice, "", other, "bob", 1), "device", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(b.alertsOf(alertRecordBasis))
			tc.rec.At = b.at
			resp := tc.agent.records(tc.rec)
			got := b.storedBasis(tc.rec.ID)
			if len(resp.Refused) == 1 {
				got = "refused " + resp.Refused[0].Code
				if len(resp.Accepted) != 0 {
					t.Errorf("refused and accepted: %+v", resp)
				}
			} else if len(resp.Accepted) != 1 {
				t.Errorf("not accepted: %+v", resp)
			}
			if got != tc.want {
				t.Errorf("record: %s, want %s", got, tc.want)
			}
			// One alert per agent and hour for records that do not match:
			// the hour moves back for each case (within RecordCaps.MaxAge,
			// so each record keeps its own hour).
			if alerted := len(b.alertsOf(alertRecordBasis)) > before; alerted != tc.wantAlert {
				t.Errorf("record-basis alert raised: %v, want %v", alerted, tc.wantAlert)
			}
			b.at = b.at.Add(-time.Hour)
		})
	}
	// Records on a basis that does not match are charged (as device);
	// refused ones are neither stored nor charged: alice paid 2+1+1+1.
	if got := b.balance("alice"); got != "99995" {
		t.Errorf("alice's balance %s, want 99995", got)
	}
	for _, a := range b.alertsOf(alertRecordBasis) {
		if strings.Contains(string(a.Data), "not-issued") {
			t.Errorf("alert holds a login token: %s", a.Data)
		}
	}
}

// Point 3: a login record stands on a login_token the hub issued to this
// agent for that user; one that ended or expired still counts (records
// arrive late after an outage).
func TestRecordBasisLogin(t *testing.T) {
	b := newBasisHub(t, RecordCaps{})
	issued := b.clock.Now()
	for _, tok := range []struct {
		token, agent, user string
		ended              bool
	}{{"tok-1", "agent-1", "bob", false}, {"tok-ended", "agent-1", "bob", true}, {"tok-2", "agent-2", "bob", false}} {
		var ended any
		if tok.ended {
			ended = issued.Add(time.Minute).UnixNano()
		}
		if _, err := b.s.db.Exec(`INSERT INTO login_tokens (token_hash, agent_id, username, issued_at, expires_at, ended_at)
			VALUES (?, ?, ?, ?, ?, ?)`, tokenHash(tok.token), tok.agent, tok.user, issued.UnixNano(),
			issued.Add(time.Minute).UnixNano(), ended); err != nil {
			t.Fatalf("login_tokens (migration 9): %v", err)
		}
	}
	b.clock.Advance(48 * time.Hour) // every token has expired
	login := func(seq int64, token, owner string) protocol.Record {
		r := b.rec("agent-1", seq, protocol.BasisLogin, "", "", owner, 1)
		r.LoginToken = token
		return r
	}
	tests := []struct {
		rec  protocol.Record
		want string
	}{
		{login(1, "tok-1", "bob"), "login"},
		{login(2, "tok-ended", "bob"), "login"},
		{login(3, "tok-1", "alice"), "device"},
		{login(4, "tok-2", "bob"), "device"}, // issued to agent-2
	}
	for _, tc := range tests {
		b.a1.records(tc.rec)
		if got := b.storedBasis(tc.rec.ID); got != tc.want {
			t.Errorf("record with %s for %s: %s, want %s", tc.rec.LoginToken, tc.rec.Owner, got, tc.want)
		}
	}
	var n int
	b.s.db.QueryRow("SELECT COUNT(*) FROM accounting WHERE CAST(login_token_hash AS TEXT) LIKE '%tok%'").Scan(&n)
	if n != 0 {
		t.Error("a login token is stored in clear")
	}
}

// Point 3: device records beyond the cap per record, or beyond the cap
// per agent and hour of their own time, are stored and accepted but left
// uncharged, with one record-cap alert per agent and hour. (Claim and
// login records: TestRecordClaimCaps.)
func TestRecordCaps(t *testing.T) {
	b := newBasisHub(t, RecordCaps{PerRecord: 100, PerAgentHour: 250})
	dev := func(seq int64, pages int, at time.Time) protocol.Record {
		r := b.rec("agent-1", seq, protocol.BasisDevice, "", "", "bob", pages)
		r.At = at
		return r
	}
	h9 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		rec  protocol.Record
		want string
	}{
		{dev(1, 50, h9), "device"},
		{dev(2, 101, h9.Add(time.Minute)), "device uncharged"}, // beyond the record cap
		{dev(3, 100, h9.Add(2*time.Minute)), "device"},         // 150 this hour
		{dev(4, 100, h9.Add(59*time.Minute)), "device"},        // 250 this hour
		{dev(5, 1, h9.Add(30*time.Minute)), "device uncharged"},
		{dev(6, 100, h9.Add(time.Hour)), "device"},                                           // the next hour
		{b.rec("agent-1", 7, protocol.BasisClaim, b.cupsClaim, "cups:1", "bob", 5), "claim"}, // hour 08:00
	}
	for _, tc := range tests {
		if resp := b.a1.records(tc.rec); len(resp.Accepted) != 1 {
			t.Errorf("record %s not accepted: %+v", tc.rec.ID, resp)
		}
		if got := b.storedBasis(tc.rec.ID); got != tc.want {
			t.Errorf("record %s of %d pages: %s, want %s", tc.rec.ID, tc.rec.Pages, got, tc.want)
		}
	}
	// Resent: accepted again, still uncharged.
	if resp := b.a1.records(dev(2, 101, h9.Add(time.Minute)), dev(5, 1, h9.Add(30*time.Minute))); len(resp.Accepted) != 2 {
		t.Errorf("resend: %+v", resp)
	}
	if got := b.balance("bob"); got != fmt.Sprint(100000-50-100-100-100-5) {
		t.Errorf("bob's balance %s", got)
	}
	alerts := b.alertsOf(alertRecordCap)
	if len(alerts) != 1 || alerts[0].AgentID != "agent-1" {
		t.Fatalf("record-cap alerts: %+v", alerts)
	}
	r := b.mustStatus(b.admin("GET", "/api/v1/accounting?owner=bob", nil), 200)
	if !strings.Contains(string(r.body), `"id":"agent-1:2"`) || !strings.Contains(string(r.body), `"basis":"device","charged":false`) ||
		!strings.Contains(string(r.body), `"basis":"claim","charged":true`) {
		t.Errorf("accounting list: %s", r.body)
	}
}

// The defaults leave room for a real printer: a few thousand pages of one
// record, and tens of thousands an hour, are charged.
func TestRecordCapsDefaults(t *testing.T) {
	var c RecordCaps
	c = c.withDefaults()
	if c.PerRecord != DefaultRecordCapPerRecord || c.PerAgentHour != DefaultRecordCapPerAgentHour {
		t.Errorf("defaults %+v", c)
	}
	if DefaultRecordCapPerRecord < 5000 || DefaultRecordCapPerAgentHour < 20000 {
		t.Errorf("defaults too low for a production printer: %+v", c)
	}
}

// Point 7: a record's copies are 1 to 999. Today a record with copies
// 4611686018427387905 (the overflow the issue found) is charged; it is now
// stored and accepted, uncharged, and raises record-cap.
func TestRecordCopiesBounded(t *testing.T) {
	b := newBasisHub(t, RecordCaps{})
	huge := b.rec("agent-1", 1, protocol.BasisClaim, b.hubClaim, b.job, "alice", 4)
	huge.Copies = 4611686018427387905
	zero := b.rec("agent-1", 2, protocol.BasisDevice, "", "", "alice", 3)
	zero.Copies = 0
	negative := b.rec("agent-1", 3, protocol.BasisDevice, "", "", "alice", -3)
	if resp := b.a1.records(huge, zero, negative); len(resp.Accepted) != 3 {
		t.Fatalf("records not accepted: %+v", resp)
	}
	for _, id := range []string{"agent-1:1", "agent-1:2", "agent-1:3"} {
		if got := b.storedBasis(id); !strings.HasSuffix(got, " uncharged") {
			t.Errorf("record %s: %s, want uncharged", id, got)
		}
	}
	if got := b.balance("alice"); got != "100000" {
		t.Errorf("balance %s, want 100000", got)
	}
	if len(b.alertsOf(alertRecordCap)) == 0 {
		t.Error("no record-cap alert")
	}
}

// Point 7: a job uploaded to the hub has 1 to 999 copies and a page count
// whose product with them cannot overflow.
func TestUploadCopiesBounded(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice"})
	doc := readTestdata(t, "default.pdf")
	for _, f := range []map[string]string{
		{"copies": "4611686018427387905"}, {"copies": "0"}, {"copies": "1000"}, {"copies": "-1"},
		{"pages": "4611686018427387905"}, {"pages": fmt.Sprint(maxJobPages + 1)},
	} {
		f["owner"] = "alice"
		if r := h.upload(f, "d.pdf", doc); r.status != 422 {
			t.Errorf("upload %v: status %d, want 422", f, r.status)
		}
	}
	id := h.uploadJob(map[string]string{"owner": "alice", "copies": "999", "pages": fmt.Sprint(maxJobPages)}, "d.pdf", doc)
	if j := h.getJob(id); j.Copies != 999 || j.Pages != maxJobPages {
		t.Errorf("job %+v", j)
	}
}

// The claims current at the upgrade to schema 10 count: a record of a job
// printing then stands on its claim.
func TestClaimLogMigration(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:9] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	submitted := strconv.FormatInt(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano(), 10)
	for _, q := range []string{
		"PRAGMA user_version = 9",
		"INSERT INTO users (username, created_at, updated_at) VALUES ('alice', 1, 1)",
		`INSERT INTO jobs (id, owner, name, pages, copies, color, duplex, format, size, sha256, state, submitted_at, printing_agent, claim_id)
		 VALUES ('old-job', 'alice', 'n', 1, 1, 0, 0, 'application/pdf', 1, 'x', 'printing', ` + submitted + `, 'agent-1', 'c-old')`,
		"INSERT INTO claims (key, agent_id, claim_id, claimed_at, updated_at) VALUES ('cups:k', 'agent-1', 'c-cups', 1, 1)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	h := newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true })
	a := h.mustDial("")
	a.boot("agent-1")
	at := time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC)
	a.records(
		protocol.Record{ID: "agent-1:1", AgentID: "agent-1", Seq: 1, JobID: "old-job", Owner: "alice", Type: protocol.RecordPrint,
			Pages: 1, Copies: 1, At: at, Basis: protocol.BasisClaim, ClaimID: "c-old"},
		protocol.Record{ID: "agent-1:2", AgentID: "agent-1", Seq: 2, JobID: "cups:3", Owner: "alice", Type: protocol.RecordPrint,
			Pages: 1, Copies: 1, At: at, Basis: protocol.BasisClaim, ClaimID: "c-cups"})
	for _, id := range []string{"agent-1:1", "agent-1:2"} {
		if got := h.storedBasis(id); got != "claim" {
			t.Errorf("record %s: %s, want claim", id, got)
		}
	}
	// The job's pages × copies bound what its claim charges outside the
	// per-agent cap.
	var impressions int
	if err := h.s.db.QueryRow("SELECT impressions FROM claim_log WHERE claim_id = 'c-old'").Scan(&impressions); err != nil || impressions != 1 {
		t.Errorf("c-old's impressions %d (%v), want 1", impressions, err)
	}
}

// capCase is a record sent alone and what the hub should make of it.
type capCase struct {
	name string
	rec  protocol.Record
	want string // storedBasis
}

// sendCaps sends each case's record in order and checks that it is
// accepted and stored as wanted.
func (b *basisHub) sendCaps(t *testing.T, a *testAgent, tests []capCase) {
	t.Helper()
	for _, tc := range tests {
		if resp := a.records(tc.rec); len(resp.Accepted) != 1 {
			t.Errorf("%s: record %s not accepted: %+v", tc.name, tc.rec.ID, resp)
		}
		if got := b.storedBasis(tc.rec.ID); got != tc.want {
			t.Errorf("%s: record %s of %d pages: %s, want %s", tc.name, tc.rec.ID, tc.rec.Pages, got, tc.want)
		}
	}
}

// Point 3 (review): an unreconciled record has no pages (the agent could
// not count them). One that says it has is stored uncharged with
// record-cap, and the caps apply to unreconciled records as to any other.
// Before the fix an unreconciled record skipped every cap and was charged
// its pages: 'unreconciled 5000: device, want device uncharged'.
func TestRecordUnreconciledCapped(t *testing.T) {
	b := newBasisHub(t, RecordCaps{PerRecord: 100, PerAgentHour: 250})
	unrec := func(seq int64, pages int) protocol.Record {
		r := b.rec("agent-1", seq, protocol.BasisDevice, "", "", "bob", pages)
		r.Unreconciled = true
		return r
	}
	b.sendCaps(t, b.a1, []capCase{
		{"unreconciled 0", unrec(1, 0), "device"},
		{"unreconciled 5000", unrec(2, 5000), "device uncharged"},
		{"unreconciled 50", unrec(3, 50), "device uncharged"},
	})
	if got := b.balance("bob"); got != "100000" {
		t.Errorf("bob's balance %s, want 100000", got)
	}
	if len(b.alertsOf(alertRecordCap)) != 1 {
		t.Errorf("record-cap alerts: %+v", b.alertsOf(alertRecordCap))
	}
}

// Point 3 (review): the per-agent-hour cap cannot be dodged by choosing
// at. A record whose at is more than MaxAge before the time received, or
// more than an hour after it, counts in the hour received (and the alert
// says so); an offline backlog within MaxAge keeps its own hours. Before
// the fix every record of a past hour was charged: 'a year ago, hour 3:
// device, want device uncharged'.
func TestRecordCapHourReceived(t *testing.T) {
	b := newBasisHub(t, RecordCaps{PerRecord: 100, PerAgentHour: 250, MaxAge: 48 * time.Hour})
	now := b.clock.Now()
	dev := func(seq int64, at time.Time) protocol.Record {
		r := b.rec("agent-1", seq, protocol.BasisDevice, "", "", "bob", 100)
		r.At = at
		return r
	}
	yearAgo := now.AddDate(-1, 0, 0)
	b.sendCaps(t, b.a1, []capCase{
		// A backlog within MaxAge: each in its own hour, all charged.
		{"backlog 47h", dev(1, now.Add(-47*time.Hour)), "device"},
		{"backlog 30h", dev(2, now.Add(-30*time.Hour)), "device"},
		{"backlog 3h", dev(3, now.Add(-3*time.Hour)), "device"},
		{"backlog 2h", dev(4, now.Add(-2*time.Hour)), "device"},
		// Beyond MaxAge, or in the future: the hour received (09:00), 250.
		{"a year ago, hour 1", dev(5, yearAgo), "device"},
		{"a year ago, hour 2", dev(6, yearAgo.Add(time.Hour)), "device"},
		{"a year ago, hour 3", dev(7, yearAgo.Add(2*time.Hour)), "device uncharged"},
		{"49h ago", dev(8, now.Add(-49*time.Hour)), "device uncharged"},
		{"2h ahead", dev(9, now.Add(2*time.Hour)), "device uncharged"},
		{"the year 2200", dev(10, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)), "device uncharged"},
		// Within an hour ahead: its own hour (10:00), which is empty.
		{"1h ahead", dev(11, now.Add(time.Hour)), "device"},
	})
	if got := b.balance("bob"); got != fmt.Sprint(100000-7*100) {
		t.Errorf("bob's balance %s, want %d", got, 100000-7*100)
	}
	alerts := b.alertsOf(alertRecordCap)
	if len(alerts) != 1 || !strings.Contains(string(alerts[0].Data), "received") ||
		!strings.Contains(string(alerts[0].Data), `"hour":"2025-03-01T09:00:00Z"`) {
		t.Errorf("record-cap alerts: %+v", alerts)
	}
}

// Point 3 (review): claim and login records are capped too. Every record
// is capped per record; a hub job's claim charges one record, of at most
// the job's pages × copies outside the hour cap; a CUPS claim (the hub
// does not know its owner) and a login are counted and capped like
// device. None is refused. Before the fix no claim or login record was
// capped: 'hub claim beyond the record cap: claim, want claim uncharged',
// 'the same claim again: claim, want claim uncharged', 'CUPS claim, third
// 40: claim, want claim uncharged', 'login beyond the record cap: login,
// want login uncharged' ('bob's balance 99367, want 99780').
func TestRecordClaimCaps(t *testing.T) {
	b := newBasisHub(t, RecordCaps{PerRecord: 100, PerAgentHour: 100})
	upload := func(pages, copies string) string {
		return b.testHub.uploadJob(map[string]string{"owner": "bob", "name": "n", "pages": pages, "copies": copies},
			"default.pdf", readTestdata(t, "default.pdf"))
	}
	big, small := upload("1000", "1"), upload("10", "2")
	bigClaim := b.claimHubJob(big, "agent-1", "1")
	smallClaim := b.claimHubJob(small, "agent-1", "1")
	smallClaim2 := b.claimHubJob(small, "agent-1", "2")
	smallClaim3 := b.claimHubJob(small, "agent-1", "3")
	if _, err := b.s.db.Exec(`INSERT INTO login_tokens (token_hash, agent_id, username, issued_at, expires_at)
		VALUES (?, 'agent-1', 'bob', ?, ?)`, tokenHash("tok"), b.clock.Now().UnixNano(), b.clock.Now().Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	login := func(seq int64, pages int) protocol.Record {
		r := b.rec("agent-1", seq, protocol.BasisLogin, "", "", "bob", pages)
		r.LoginToken = "tok"
		return r
	}
	claim := func(seq int64, claim, job string, pages int) protocol.Record {
		return b.rec("agent-1", seq, protocol.BasisClaim, claim, job, "bob", pages)
	}
	charged := claim(2, smallClaim, small, 20)
	b.sendCaps(t, b.a1, []capCase{
		{"hub claim beyond the record cap", claim(1, bigClaim, big, 101), "claim uncharged"},
		// 20 pages: the job's 10 × 2; not counted in the hour (cap 100).
		{"hub claim, the job's size", charged, "claim"},
		{"the same claim again", claim(3, smallClaim, small, 20), "claim uncharged"},
		{"the same claim, 1 page", claim(4, smallClaim, small, 1), "claim uncharged"},
		// More than the job's 20 (copies chosen at the panel?): counted in
		// the hour like device.
		{"hub claim beyond its job, 60", claim(5, smallClaim2, small, 60), "claim"},
		{"CUPS claim, 41", claim(6, b.cupsClaim, "cups:1", 41), "claim uncharged"},
		{"hub claim beyond its job, 50", claim(7, smallClaim3, small, 50), "claim uncharged"},
	})
	b.at = b.at.Add(-time.Hour) // the next hour back: empty
	b.sendCaps(t, b.a1, []capCase{
		{"CUPS claim, first 40", claim(8, b.cupsClaim, "cups:2", 40), "claim"},
		{"CUPS claim, second 40", claim(9, b.cupsClaim, "cups:3", 40), "claim"},
		{"CUPS claim, third 40", claim(10, b.cupsClaim, "cups:4", 40), "claim uncharged"},
	})
	b.at = b.at.Add(-time.Hour)
	b.sendCaps(t, b.a1, []capCase{
		{"login beyond the record cap", login(11, 101), "login uncharged"},
		{"login, first 60", login(12, 60), "login"},
		{"login, second 60", login(13, 60), "login uncharged"},
	})
	// A resend of a charged claim record is a resend, not a second record.
	if resp := b.a1.records(charged); len(resp.Accepted) != 1 || len(resp.Refused) != 0 {
		t.Errorf("resend: %+v", resp)
	}
	if want := fmt.Sprint(100000 - 20 - 60 - 40 - 40 - 60); b.balance("bob") != want {
		t.Errorf("bob's balance %s, want %s", b.balance("bob"), want)
	}
}
