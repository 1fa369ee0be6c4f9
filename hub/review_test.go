package hub

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/protocol"
)

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

// An administrator's tool watching for alerts sees each once, even when
// alerts are not raised in the order of their times: the hub's clock set
// back (an NTP correction), or two raised at once, the later-timed one
// stored first. It polls with the next of its last page, which is there
// for every page that has alerts.
func TestAlertsWatchMissesNone(t *testing.T) {
	h := newTestHub(t, nil)
	ctx := t.Context()
	raise := func(msg string) {
		t.Helper()
		if err := h.s.raiseAlert(ctx, h.s.db, alert{code: alertStatusDropped, message: msg}); err != nil {
			t.Fatal(err)
		}
	}
	raise("first")
	page := h.alerts("")
	if len(page.Alerts) != 1 || page.Next == "" {
		t.Fatalf("first poll: %+v; a watcher needs a cursor to poll from", page)
	}
	h.clock.Advance(-time.Minute)
	raise("second, timed before the first")
	page = h.alerts("?cursor=" + page.Next)
	if len(page.Alerts) != 1 || page.Alerts[0].Message != "second, timed before the first" || page.Next == "" {
		t.Fatalf("second poll: %+v", page)
	}
	next := page.Next
	if page = h.alerts("?cursor=" + next); len(page.Alerts) != 0 || page.Next != "" {
		t.Errorf("poll with nothing new: %+v, want no alerts and no next (the watcher keeps its cursor)", page)
	}
}

// An agent's calls run at once on its connection, a repeated Boot among
// them: the handlers read the agent's id under its lock (go test -race).
func TestAgentIDReadUnderLock(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if err := a.call(protocol.ActionBoot, protocol.BootRequest{AgentID: "agent-1"}, nil); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := a.call(protocol.ActionListJobs, protocol.ListJobsRequest{Username: "alice"}, nil); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := a.call(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice"}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if j := h.getJob(first); j.State != statePrinting {
		t.Errorf("job %s", j.State)
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

// heldElsewhere checks that another agent's claims on alice's hub job and
// on a key hold against this agent.
func (a *testAgent) heldElsewhere(jobID, key, when string) {
	a.t.Helper()
	if e := a.callError(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: jobID, Username: "alice"}); e.Details["code"] != protocol.DetailNotReleasable {
		a.t.Errorf("fetch %s: %+v, want not-releasable", when, e)
	}
	if code := a.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
		a.t.Errorf("claim %s: %q, want claimed", when, code)
	}
}

// A claim lapses only when the agent has been gone for printingClaimLapse
// on the hub's monotonic clock too: a wall clock stepped forward (NTP
// correcting a hub box whose clock was hours behind) must not hand a job
// that prints at one printer to another.
func TestClaimLapseOnTheMonotonicClock(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.Clock = clk })
	h.createUser(map[string]any{"username": "alice"})
	id := h.uploadJob(map[string]string{"owner": "alice", "name": "n"}, "default.pdf", readTestdata(t, "default.pdf"))
	a, b := h.mustDial(""), h.mustDial("")
	a.boot("agent-1")
	b.boot("agent-2")
	clk.Advance(2 * printingClaimLapse) // the hub has run a while
	const key = "cups:urn:uuid:5e1b7a4e-0000-4000-8000-000000000001"
	b.fetch(id, "alice")
	b.claim(key)
	h.waitDisconnected(b, "agent-2")

	clk.Set(clk.Now().Add(3 * time.Hour))
	a.heldElsewhere(id, key, "after the wall clock stepped forward")

	// Gone that long on both clocks, the claims lapse.
	clk.Advance(printingClaimLapse + time.Minute)
	a.fetch(id, "alice")
	a.claim(key)
}

// A hub that starts knows nothing, on its monotonic clock, of how long
// agents were gone before: no claim lapses in its first printingClaimLapse,
// however far back its wall clock puts their last word (the hub restarted
// at once, its clock hours ahead).
func TestClaimLapseAfterRestart(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	h := newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true; c.Clock = clk })
	h.createUser(map[string]any{"username": "alice"})
	id := h.uploadJob(map[string]string{"owner": "alice", "name": "n"}, "default.pdf", readTestdata(t, "default.pdf"))
	b := h.mustDial("")
	b.boot("agent-2")
	const key = "cups:urn:uuid:5e1b7a4e-0000-4000-8000-000000000002"
	b.fetch(id, "alice")
	b.claim(key)
	h.waitDisconnected(b, "agent-2")
	h.srv.CloseClientConnections()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}

	clk = clocktest.New(start.Add(3 * time.Hour))
	h = newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true; c.Clock = clk })
	a := h.mustDial("")
	a.boot("agent-1")
	a.heldElsewhere(id, key, "right after the restart")
	clk.Advance(printingClaimLapse + time.Minute)
	a.fetch(id, "alice")
	a.claim(key)
}

// A claim its agent keeps (an uncertain CUPS job, which sends no
// ReleaseClaim) is not purged while that agent is heard from: purging it
// would let another printer print the job.
func TestClaimOfLiveAgentNotPurged(t *testing.T) {
	h := openHub(t)
	a, b := h.mustDial(""), h.mustDial("")
	a.boot("agent-1")
	b.boot("agent-2")
	const key = "cups:urn:uuid:5e1b7a4e-0000-4000-8000-000000000003"
	b.claim(key)
	h.clock.Advance(claimRetention + time.Hour)
	b.mustCall(protocol.ActionHeartbeat, struct{}{}, nil)
	if err := h.s.housekeeping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := a.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
		t.Errorf("another agent's claim after %v: %q, want claimed", claimRetention, code)
	}
	// Its agent gone long enough for the claim to lapse, it is purged.
	h.waitDisconnected(b, "agent-2")
	h.clock.Advance(printingClaimLapse + time.Minute)
	if err := h.s.housekeeping(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n int
	h.s.db.QueryRow("SELECT COUNT(*) FROM claims").Scan(&n)
	if n != 0 {
		t.Errorf("%d claims left after their agent lapsed", n)
	}
}
