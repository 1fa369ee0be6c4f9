package hub

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// A record whose id the hub holds with other content (an agent restored
// from a backup reissuing sequence numbers) is refused, not acknowledged,
// not charged, and raised as an alert once; an identical resend is accepted
// as before. Boot tells the agent the highest sequence the hub holds.
func TestAccountingRecordConflict(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 100}})
	a := h.mustDial("")
	if got := a.boot("agent-1"); got.LastSeq != 0 {
		t.Errorf("first boot: last_seq %d, want 0", got.LastSeq)
	}
	at := time.Date(2025, 3, 1, 8, 59, 0, 0, time.UTC)
	rec := func(seq int64, pages int) protocol.Record {
		return protocol.Record{ID: fmt.Sprintf("agent-1:%d", seq), AgentID: "agent-1", Seq: seq, JobID: "job-1", Owner: "alice",
			Type: protocol.RecordPrint, Pages: pages, Copies: 1, PrinterSerial: "SN1", At: at}
	}
	noTime := rec(3, 1)
	noTime.At = time.Time{} // stored with the time received
	send := func(recs ...protocol.Record) protocol.AccountingResponse {
		t.Helper()
		var resp protocol.AccountingResponse
		a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp)
		return resp
	}
	send(rec(1, 5), rec(2, 7), noTime)
	h.clock.Advance(time.Minute)
	if got := h.balance("alice"); got != "87" {
		t.Fatalf("balance after 13 pages: %s", got)
	}

	tests := []struct {
		name         string
		recs         []protocol.Record
		wantAccepted string
		wantRefused  string
	}{
		{"identical resend", []protocol.Record{rec(1, 5), rec(2, 7), noTime}, "agent-1:1,agent-1:2,agent-1:3", ""},
		{"other content", []protocol.Record{rec(1, 5), rec(2, 70), rec(4, 2)}, "agent-1:1,agent-1:4", "agent-1:2 record-conflict"},
		{"other content again", []protocol.Record{rec(2, 70)}, "", "agent-1:2 record-conflict"},
	}
	for _, tc := range tests {
		resp := send(tc.recs...)
		var refused []string
		for _, r := range resp.Refused {
			refused = append(refused, r.ID+" "+r.Code)
		}
		if got := strings.Join(resp.Accepted, ","); got != tc.wantAccepted {
			t.Errorf("%s: accepted %q, want %q", tc.name, got, tc.wantAccepted)
		}
		if got := strings.Join(refused, ","); got != tc.wantRefused {
			t.Errorf("%s: refused %q, want %q", tc.name, got, tc.wantRefused)
		}
		h.clock.Advance(time.Minute)
	}
	if got := h.balance("alice"); got != "85" {
		t.Errorf("balance %s, want 85: the conflicting record must not be charged", got)
	}
	var pages int
	h.s.db.QueryRow("SELECT pages FROM accounting WHERE id = 'agent-1:2'").Scan(&pages)
	if pages != 7 {
		t.Errorf("stored record changed: %d pages", pages)
	}

	alerts := h.alertsOf(alertRecordConflict)
	if len(alerts) != 1 {
		t.Fatalf("record-conflict alerts: %+v, want one", alerts)
	}
	var data struct {
		RecordID string          `json:"record_id"`
		Stored   protocol.Record `json:"stored"`
		Received protocol.Record `json:"received"`
	}
	if err := json.Unmarshal(alerts[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if alerts[0].AgentID != "agent-1" || data.RecordID != "agent-1:2" || data.Stored.Pages != 7 || data.Received.Pages != 70 ||
		data.Stored.Owner != "alice" || !data.Received.At.Equal(at) {
		t.Errorf("alert %+v, data %s", alerts[0], alerts[0].Data)
	}

	a.deaf.Store(true) // gone: its reconnect is no clone (clone.go)
	b := h.mustDial(h.deviceToken("agent-1"))
	if got := b.boot("agent-1"); got.LastSeq != 4 {
		t.Errorf("boot again: last_seq %d, want 4", got.LastSeq)
	}
	c := h.mustDial("")
	if got := c.boot("agent-2"); got.LastSeq != 0 {
		t.Errorf("another agent: last_seq %d, want 0", got.LastSeq)
	}
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/accounting", nil), http.StatusOK)
	if n := strings.Count(string(r.body), `"id":`); n != 4 {
		t.Errorf("%d records stored, want 4: %s", n, r.body)
	}
}

// A record sent without a usable time is only a resend of a stored record
// whose time was itself replaced by the time received: a stored record with
// its own time and a new one without any are two records, and acknowledging
// the second as a resend would lose it.
func TestRecordConflictWithoutTime(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	at := time.Date(2025, 3, 1, 8, 59, 0, 0, time.UTC)
	rec := func(seq int64, at time.Time) protocol.Record {
		return protocol.Record{ID: "agent-1:" + string(rune('0'+seq)), AgentID: "agent-1", Seq: seq, Owner: "alice",
			Type: protocol.RecordCopy, Pages: 1, Copies: 1, At: at}
	}
	send := func(recs ...protocol.Record) (accepted, refused string) {
		t.Helper()
		var resp protocol.AccountingResponse
		a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp)
		var ref []string
		for _, r := range resp.Refused {
			ref = append(ref, r.ID+" "+r.Code)
		}
		return strings.Join(resp.Accepted, ","), strings.Join(ref, ",")
	}
	send(rec(1, at), rec(2, time.Time{}))
	h.clock.Advance(time.Minute)

	tests := []struct {
		name          string
		rec           protocol.Record
		wantAccepted  string
		wantRefused   string
		wantConflicts int
	}{
		{"stored with its time, sent again without", rec(1, time.Time{}), "", "agent-1:1 record-conflict", 1},
		{"stored with the time received, sent again without", rec(2, time.Time{}), "agent-1:2", "", 1},
		{"stored with the time received, sent again with a time", rec(2, at), "", "agent-1:2 record-conflict", 2},
		{"stored with its time, sent again with it", rec(1, at), "agent-1:1", "", 2},
	}
	for _, tc := range tests {
		acc, ref := send(tc.rec)
		if acc != tc.wantAccepted || ref != tc.wantRefused {
			t.Errorf("%s: accepted %q refused %q, want %q and %q", tc.name, acc, ref, tc.wantAccepted, tc.wantRefused)
		}
		if n := len(h.alertsOf(alertRecordConflict)); n != tc.wantConflicts {
			t.Errorf("%s: %d record-conflict alerts, want %d", tc.name, n, tc.wantConflicts)
		}
	}
}

// Batches from one agent arriving at once (a resend crossing the first
// send's answer) store and charge each record once, refuse nothing, and
// a conflicting record among them is refused whichever batch comes first.
func TestAccountingBatchesAtOnce(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 1000}})
	a := h.mustDial("")
	a.boot("agent-1")
	at := h.clock.Now().Add(-time.Minute)
	var recs []protocol.Record
	for seq := int64(1); seq <= 20; seq++ {
		recs = append(recs, protocol.Record{ID: fmt.Sprintf("agent-1:%d", seq), AgentID: "agent-1", Seq: seq,
			Owner: "alice", Type: protocol.RecordPrint, Pages: 2, Copies: 1, At: at})
	}
	other := recs[19]
	other.Pages = 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, refused := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := recs
			if i == 7 {
				batch = append(recs[:19:19], other)
			}
			var resp protocol.AccountingResponse
			if err := a.call(protocol.ActionAccounting, protocol.AccountingRequest{Records: batch}, &resp); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			accepted += len(resp.Accepted)
			refused += len(resp.Refused)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// The batch with the other record first: it is stored, the seven
	// others' refused; else the other record is the one refused.
	if accepted+refused != 8*20 || refused != 1 && refused != 7 {
		t.Errorf("accepted %d, refused %d", accepted, refused)
	}
	if got := h.balance("alice"); got != fmt.Sprint(1000-20*2) && got != fmt.Sprint(1000-19*2-3) {
		t.Errorf("balance %s: charged more than once", got)
	}
	if n := len(h.alertsOf(alertRecordConflict)); n != 1 {
		t.Errorf("%d record-conflict alerts, want 1", n)
	}
}

// Every field of a record survives the store, so a resend compares equal:
// a field added to protocol.Record and not stored would make every resend
// a record-conflict (and the agent would keep and reissue printed pages).
func TestRecordResendEveryField(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	var r protocol.Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 2))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Struct:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				t.Fatalf("field %s of a type this test does not fill", v.Type().Field(i).Name)
			}
			f.Set(reflect.ValueOf(time.Date(2025, 2, 28, 17, 4, 5, 123456789, time.FixedZone("", 3600))))
		default:
			t.Fatalf("field %s of a kind this test does not fill", v.Type().Field(i).Name)
		}
	}
	r.AgentID, r.Seq = "agent-1", 9
	r.ID, r.Type = "agent-1:9", protocol.RecordCopy
	for i := range 2 {
		var resp protocol.AccountingResponse
		a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: []protocol.Record{r}}, &resp)
		if len(resp.Accepted) != 1 || len(resp.Refused) != 0 {
			t.Errorf("send %d: %+v", i+1, resp)
		}
	}
}

func (a *testAgent) fetch(jobID, user string) protocol.FetchJobResponse {
	a.t.Helper()
	var fr protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: jobID, Username: user, LoginToken: a.tokenFor(user)}, &fr)
	return fr
}

// statusError sends a JobStatus expecting a CALLERROR, and returns its details.code.
func (a *testAgent) statusError(req protocol.JobStatusRequest) string {
	a.t.Helper()
	e := a.callError(protocol.ActionJobStatus, req)
	if !e.Permanent() {
		a.t.Errorf("JobStatus %s refused with a temporary error: %+v", req.State, e)
	}
	code, _ := e.Details["code"].(string)
	return code
}

// A status of an earlier claim (a queued "failed" of attempt 1 delivered
// after attempt 2's fetch) changes nothing: it is refused as stale-claim, and
// a final one raises status-dropped.
func TestJobStatusStaleClaim(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	c1 := a.fetch(first, "alice").ClaimID
	c2 := a.fetch(first, "alice").ClaimID // a retry: a new attempt, a new claim
	if c1 == "" || c2 == "" || c1 == c2 {
		t.Fatalf("claim ids %q then %q: want two different ones", c1, c2)
	}
	now := h.clock.Now()
	if code := a.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed, Reason: "attempt 1",
		ClaimID: c1, At: now}); code != protocol.DetailStaleClaim {
		t.Errorf("failed of the earlier claim: %q, want stale-claim", code)
	}
	if code := a.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobSending, ClaimID: c1, At: now}); code != protocol.DetailStaleClaim {
		t.Errorf("sending of the earlier claim: %q, want stale-claim", code)
	}
	if j := h.getJob(first); j.State != statePrinting || j.Reason != "" {
		t.Fatalf("after stale statuses: %+v, want still printing", j)
	}
	dropped := h.alertsOf(alertStatusDropped)
	if len(dropped) != 1 || dropped[0].AgentID != "agent-1" || !strings.Contains(string(dropped[0].Data), `"claim_id":"`+c1+`"`) ||
		!strings.Contains(string(dropped[0].Data), `"state":"failed"`) {
		t.Fatalf("status-dropped alerts: %+v, want one for the stale failed", dropped)
	}

	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobSending, ClaimID: c2, At: now}, nil)
	printed := protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinted, Impressions: 34, ClaimID: c2, At: now}
	a.mustCall(protocol.ActionJobStatus, printed, nil)
	a.mustCall(protocol.ActionJobStatus, printed, nil) // an outbox resend: harmless
	if j := h.getJob(first); j.State != statePrinted || j.PrintedPages != 34 {
		t.Errorf("after printed of the current claim: %+v", j)
	}
	// A late sending of the current claim does not bring it back.
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinting, ClaimID: c2, At: now}, nil)
	if j := h.getJob(first); j.State != statePrinted {
		t.Errorf("after a late printing: %q", j.State)
	}
	if n := len(h.alertsOf(alertStatusDropped)); n != 1 {
		t.Errorf("%d status-dropped alerts, want still 1", n)
	}
}

// A status without claim_id (an agent from before claims) applies only
// while its agent holds the job; otherwise it is refused as stale-claim.
func TestJobStatusWithoutClaim(t *testing.T) {
	h, a, _, first, second := releaseSetup(t)
	b := h.mustDial("")
	b.boot("agent-2")
	now := h.clock.Now()
	// Never fetched: nobody holds it.
	if code := a.statusError(protocol.JobStatusRequest{JobID: second, State: protocol.JobPrinted, At: now}); code != protocol.DetailStaleClaim {
		t.Errorf("printed of a job nobody holds: %q, want stale-claim", code)
	}
	if j := h.getJob(second); j.State != stateHeld {
		t.Errorf("job nobody holds after a printed without claim: %q", j.State)
	}
	a.fetch(first, "alice")
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed, Reason: "jam", At: now}, nil)
	if j := h.getJob(first); j.State != stateFailed || j.Reason != "jam" {
		t.Fatalf("failed from its holder, without claim: %+v", j)
	}
	b.fetch(first, "alice")
	// The first agent's late printed cannot touch a job the second prints.
	if code := a.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinted, Impressions: 3, At: now}); code != protocol.DetailStaleClaim {
		t.Errorf("printed from an agent that no longer holds the job: %q, want stale-claim", code)
	}
	if j := h.getJob(first); j.State != statePrinting {
		t.Errorf("after another agent's printed: %q, want printing", j.State)
	}
	if n := len(h.alertsOf(alertStatusDropped)); n != 2 {
		t.Errorf("%d status-dropped alerts, want 2", n)
	}
}

// A final status about a job the hub does not know is refused for good
// (not-found) and raised; a progress one is only refused.
func TestJobStatusUnknownJob(t *testing.T) {
	h, a, _, _, _ := releaseSetup(t)
	tests := []struct {
		state  string
		alerts int
	}{
		{protocol.JobSending, 0},
		{protocol.JobPrinted, 1},
		{protocol.JobUncertain, 2},
	}
	for _, tc := range tests {
		code := a.statusError(protocol.JobStatusRequest{JobID: "no-such-job", State: tc.state, ClaimID: "c", At: h.clock.Now()})
		if code != protocol.DetailNotFound {
			t.Errorf("%s: %q, want not-found", tc.state, code)
		}
		if n := len(h.alertsOf(alertStatusDropped)); n != tc.alerts {
			t.Errorf("after %s: %d status-dropped alerts, want %d", tc.state, n, tc.alerts)
		}
	}
}

// A job left printing by an agent that says nothing more about it does
// not stay invisible: after printingOverdue it is failed, held for that
// agent only (as uncertain), and raised as status-overdue. A final status of
// its claim still applies afterwards.
func TestSilentPrintingJobOverdue(t *testing.T) {
	h, a, _, first, second := releaseSetup(t)
	b := h.mustDial("")
	b.boot("agent-2")
	claim := a.fetch(first, "alice").ClaimID
	h.clock.Advance(printingOverdue - time.Minute)
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinting, ClaimID: claim,
		At: h.clock.Now()}, nil) // a word about it: the bound starts again
	h.clock.Advance(printingOverdue - time.Minute)
	if got := jobIDs(a.listJobs("alice")); got != second {
		t.Fatalf("within the bound: listed %s, want %s", got, second)
	}
	h.clock.Advance(2 * time.Minute)
	if got := jobIDs(a.listJobs("alice")); got != first+","+second {
		t.Errorf("its own agent lists %s, want %s,%s", got, first, second)
	}
	j := h.getJob(first)
	if j.State != stateFailed || !strings.Contains(j.Reason, "may have printed") {
		t.Errorf("overdue job: %+v", j)
	}
	if got := jobIDs(b.listJobs("alice")); got != second {
		t.Errorf("another agent lists %s, want only %s", got, second)
	}
	if e := b.callError(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: b.tokenFor("alice")}); e.Details["code"] != "not-releasable" {
		t.Errorf("another agent's fetch: %+v", e)
	}
	overdue := h.alertsOf(alertStatusOverdue)
	if len(overdue) != 1 || overdue[0].AgentID != "agent-1" || !strings.Contains(string(overdue[0].Data), first) {
		t.Fatalf("status-overdue alerts: %+v", overdue)
	}
	a.listJobs("alice")
	if n := len(h.alertsOf(alertStatusOverdue)); n != 1 {
		t.Errorf("%d status-overdue alerts after listing again, want 1", n)
	}
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinted, Impressions: 3,
		ClaimID: claim, At: h.clock.Now()}, nil)
	if j := h.getJob(first); j.State != statePrinted {
		t.Errorf("printed after overdue: %q", j.State)
	}

	// The janitor settles them too, without anyone listing.
	claim2 := b.fetch(second, "alice").ClaimID
	h.clock.Advance(printingOverdue + time.Minute)
	if err := h.s.housekeeping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if j := h.getJob(second); j.State != stateFailed {
		t.Errorf("after the janitor: %q, want failed", j.State)
	}
	if n := len(h.alertsOf(alertStatusOverdue)); n != 2 {
		t.Errorf("%d status-overdue alerts, want 2", n)
	}
	_ = claim2
}

// A hub upgraded while a job is printing (schema 7, before claims) lets the
// agent printing it finish it without a claim_id, and starts the job's
// silence bound at the upgrade, not at its submission.
func TestClaimMigration(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:7] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	// Submitted an hour before the test hub's clock starts: the janitor,
	// which runs on that clock, must not expire them as 55 years old.
	submitted := strconv.FormatInt(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano(), 10)
	for _, q := range []string{
		"PRAGMA user_version = 7",
		"INSERT INTO users (username, created_at, updated_at) VALUES ('alice', 1, 1)",
		`INSERT INTO jobs (id, owner, name, pages, copies, color, duplex, format, size, sha256, state, submitted_at, printing_agent)
		 VALUES ('old-job', 'alice', 'n', 1, 1, 0, 0, 'application/pdf', 1, 'x', 'printing', ` + submitted + `, 'agent-1')`,
		`INSERT INTO jobs (id, owner, name, pages, copies, color, duplex, format, size, sha256, state, submitted_at, printing_agent)
		 VALUES ('old-job-2', 'alice', 'n', 1, 1, 0, 0, 'application/pdf', 1, 'x', 'printing', ` + submitted + `, 'agent-1')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	h := newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true })
	a := h.mustDial("")
	a.boot("agent-1")
	if got := jobIDs(a.listJobs("alice")); got != "" {
		t.Errorf("listed right after the upgrade: %s", got)
	}
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: "old-job", State: protocol.JobPrinted, Impressions: 1,
		At: h.clock.Now()}, nil)
	if j := h.getJob("old-job"); j.State != statePrinted {
		t.Errorf("printed without claim_id after the upgrade: %q", j.State)
	}
	h.clock.Advance(printingOverdue + time.Minute)
	if got := jobIDs(a.listJobs("alice")); got != "old-job-2" {
		t.Errorf("a day after the upgrade: listed %q, want old-job-2", got)
	}
}

// A status racing a new fetch either applies before it or not at all:
// whatever the order, the job ends printing under the new claim. (A read of
// the claim then a separate write would let the status free the job after
// the fetch.)
func TestJobStatusRacesFetch(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	old := a.fetch(first, "alice").ClaimID
	for round := range 30 {
		var wg sync.WaitGroup
		var fresh string
		wg.Add(2)
		go func() {
			defer wg.Done()
			var fr protocol.FetchJobResponse
			if err := a.call(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice")}, &fr); err != nil {
				t.Errorf("round %d: fetch: %v", round, err)
			}
			fresh = fr.ClaimID
		}()
		go func() {
			defer wg.Done()
			err := a.call(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed,
				Reason: "attempt before", ClaimID: old, At: h.clock.Now()}, nil)
			if err != nil && !protocol.IsPermanent(err) {
				t.Errorf("round %d: status: %v", round, err)
			}
		}()
		wg.Wait()
		var state, claim string
		h.s.db.QueryRow("SELECT state, claim_id FROM jobs WHERE id = ?", first).Scan(&state, &claim)
		if state != statePrinting || claim != fresh {
			t.Fatalf("round %d: job %s under claim %q, want printing under the new claim %q", round, state, claim, fresh)
		}
		old = fresh
	}
}

// The janitor runs on the hub's clock: advancing it past the bound settles
// a job left printing in silence without anyone listing jobs.
func TestJanitorRunsOnTheHubClock(t *testing.T) {
	clk := clocktest.New(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.Clock = clk })
	h.createUser(map[string]any{"username": "alice"})
	id := h.uploadJob(map[string]string{"owner": "alice", "name": "n"}, "default.pdf", readTestdata(t, "default.pdf"))
	a := h.mustDial("")
	a.boot("agent-1")
	a.fetch(id, "alice")
	// The waits poll for what the janitor's goroutine does; the clock does
	// not move while they wait.
	testutil.WaitFor(t, 5*time.Second, "the janitor's ticker", func() bool { return clk.Timers() > 0 })
	clk.Advance(printingOverdue + janitorInterval)
	testutil.WaitFor(t, 5*time.Second, "status-overdue", func() bool { return len(h.alertsOf(alertStatusOverdue)) == 1 })
	if j := h.getJob(id); j.State != stateFailed || j.Reason != overdueReason {
		t.Errorf("after the janitor: %+v", j)
	}
}

// A job deleted while it prints stays deleted, with its reason, whatever
// status arrives; a printed one of its claim still records what printed.
// Nothing is raised: a deleted job cannot print again.
func TestJobStatusOnDeletedJob(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	claim := a.fetch(first, "alice").ClaimID
	a.mustCall(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice")}, nil)
	now := h.clock.Now()
	for _, req := range []protocol.JobStatusRequest{
		{JobID: first, State: protocol.JobSending, ClaimID: claim, At: now},
		{JobID: first, State: protocol.JobFailed, Reason: "x", ClaimID: "an earlier claim", At: now},
		{JobID: first, State: protocol.JobFailed, Reason: "x", ClaimID: claim, At: now},
		{JobID: first, State: protocol.JobPrinted, Impressions: 5, ClaimID: claim, At: now},
	} {
		a.mustCall(protocol.ActionJobStatus, req, nil)
	}
	j := h.getJob(first)
	if j.State != stateDeleted || j.Reason != "deleted by its owner" || j.PrintedPages != 5 {
		t.Errorf("deleted job after late statuses: %+v", j)
	}
	if n := len(h.alerts("").Alerts); n != 0 {
		t.Errorf("%d alerts, want none", n)
	}
}

// A fetch again within the same attempt (a busy printer's re-open, a
// restart) gets the attempt's claim back: an agent killed between the
// hub's answer and its journal write still names the current claim in the
// attempt's statuses. A new attempt, or a fetch naming none, is a new claim.
func TestFetchSameAttemptSameClaim(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	fetch := func(attempt string) string {
		t.Helper()
		var fr protocol.FetchJobResponse
		a.mustCall(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice"), Attempt: attempt}, &fr)
		if fr.ClaimID == "" {
			t.Fatalf("fetch in attempt %q: no claim_id", attempt)
		}
		return fr.ClaimID
	}
	c1 := fetch("tessera-1-1-abc")
	if again := fetch("tessera-1-1-abc"); again != c1 {
		t.Errorf("fetch again in the same attempt: claim %q, want %q", again, c1)
	}
	c2 := fetch("tessera-1-2-def")
	if c2 == c1 {
		t.Errorf("a new attempt kept claim %q", c1)
	}
	if c3 := fetch(""); c3 == c2 {
		t.Errorf("a fetch naming no attempt kept claim %q", c2)
	}
	// The claim of the attempt before stays stale.
	if code := a.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed, ClaimID: c1,
		At: h.clock.Now()}); code != protocol.DetailStaleClaim {
		t.Errorf("failed of attempt 1 after attempt 2: %q, want stale-claim", code)
	}
	// Another agent's fetch naming the same attempt gets nothing of it.
	b := h.mustDial("")
	b.boot("agent-2")
	if e := b.callError(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: b.tokenFor("alice"),
		Attempt: "tessera-1-2-def"}); e.Details["code"] != protocol.DetailNotReleasable {
		t.Errorf("another agent's fetch: %+v, want not-releasable", e)
	}
}

// A release whose FetchJob was refused (another printer holds the job)
// has no claim; its failed status, with nothing printed, is refused as
// stale-claim but raises no status-dropped alert: it drops nothing an
// administrator must see. A claim-less printed or uncertain one still does.
func TestClaimlessFailedOfRefusedFetchRaisesNothing(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	b := h.mustDial("")
	b.boot("agent-2")
	a.fetch(first, "alice")
	if e := b.callError(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: b.tokenFor("alice")}); e.Details["code"] != protocol.DetailNotReleasable {
		t.Fatalf("second agent's fetch: %+v, want not-releasable", e)
	}
	now := h.clock.Now()
	if code := b.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed,
		Reason: "being printed elsewhere", At: now}); code != protocol.DetailStaleClaim {
		t.Errorf("claim-less failed: %q, want stale-claim", code)
	}
	if n := len(h.alertsOf(alertStatusDropped)); n != 0 {
		t.Errorf("%d status-dropped alerts after a refused fetch's failed, want 0", n)
	}
	if code := b.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobUncertain, At: now}); code != protocol.DetailStaleClaim {
		t.Errorf("claim-less uncertain: %q, want stale-claim", code)
	}
	if n := len(h.alertsOf(alertStatusDropped)); n != 1 {
		t.Errorf("%d status-dropped alerts after a claim-less uncertain, want 1", n)
	}
	if j := h.getJob(first); j.State != statePrinting {
		t.Errorf("job %q, want still printing by the first agent", j.State)
	}
}
