package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

func (a *testAgent) claim(key string) string {
	a.t.Helper()
	var resp protocol.ClaimJobResponse
	a.mustCall(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}, &resp)
	if resp.ClaimID == "" {
		a.t.Fatalf("ClaimJob %s: no claim_id", key)
	}
	return resp.ClaimID
}

// refusal calls expecting a permanent CALLERROR and returns its details.code
// (or the error code when there is none).
func (a *testAgent) refusal(action string, req any) string {
	a.t.Helper()
	e := a.callError(action, req)
	if !e.Permanent() {
		a.t.Errorf("%s refused with a temporary error: %+v", action, e)
	}
	if code, ok := e.Details["code"].(string); ok {
		return code
	}
	return e.Code
}

// waitDisconnected waits until the hub has seen an agent's connection end.
func (h *testHub) waitDisconnected(a *testAgent, id string) {
	h.t.Helper()
	a.peer.Close()
	<-a.done
	testutil.WaitFor(h.t, 5*time.Second, "the hub to see "+id+" go", func() bool {
		var connected int
		h.s.db.QueryRow("SELECT connected FROM agents WHERE id = ?", id).Scan(&connected)
		return connected == 0
	})
}

// A job held outside the hub (a CUPS queue shared by several agents) is
// claimed by one agent at a time, and for good once it printed.
func TestClaimJob(t *testing.T) {
	h := openHub(t)
	a, b := h.mustDial(""), h.mustDial("")
	a.boot("agent-1")
	b.boot("agent-2")
	const key = "cups:ipp://cups.example/printers/office#42@1764000000"
	release := func(ag *testAgent, claim string, done bool) error {
		return ag.call(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: key, ClaimID: claim, Done: done}, nil)
	}

	ca := a.claim(key)
	if again := a.claim(key); again != ca {
		t.Errorf("the same agent claiming again: %q, want its claim %q", again, ca)
	}
	if code := b.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
		t.Errorf("another agent's claim: %q, want claimed", code)
	}
	if err := release(a, ca, false); err != nil { // not printed: free for anyone
		t.Fatal(err)
	}
	if err := release(a, ca, false); err != nil { // a resend frees nothing more
		t.Errorf("release again: %v", err)
	}
	cb := b.claim(key)
	if cb == ca {
		t.Error("a new claim has the old claim's id")
	}
	if code := a.refusal(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: key, ClaimID: ca}); code != protocol.DetailStaleClaim {
		t.Errorf("release of a claim that is no longer current: %q, want stale-claim", code)
	}
	if err := release(b, cb, true); err != nil { // printed: claimed for good
		t.Fatal(err)
	}
	if err := release(b, cb, true); err != nil {
		t.Errorf("done again (a resend): %v", err)
	}
	if err := release(b, cb, false); err != nil {
		t.Errorf("a free after done: %v", err)
	}
	for name, ag := range map[string]*testAgent{"its agent": b, "another agent": a} {
		if code := ag.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
			t.Errorf("%s claiming a printed job: %q, want claimed", name, code)
		}
	}
	if n := len(h.alertsOf(alertStatusDropped)); n != 0 {
		t.Errorf("%d status-dropped alerts before a done was refused", n)
	}
	// A done of a claim that is not current is a dropped final status.
	if code := a.refusal(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: key, ClaimID: ca, Done: true}); code != protocol.DetailStaleClaim {
		t.Errorf("done of a stale claim: %q, want stale-claim", code)
	}
	dropped := h.alertsOf(alertStatusDropped)
	if len(dropped) != 1 || dropped[0].AgentID != "agent-1" || !strings.Contains(string(dropped[0].Data), key) {
		t.Errorf("status-dropped alerts: %+v", dropped)
	}
	if code := a.refusal(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: "cups:never", ClaimID: "x", Done: true}); code != protocol.DetailStaleClaim {
		t.Errorf("done of a key never claimed: %q, want stale-claim", code)
	}
	// Claims are kept claimRetention after their last change, then purged.
	h.clock.Advance(claimRetention - time.Minute)
	if err := h.s.housekeeping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := a.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
		t.Errorf("a done claim before its retention ends: %q, want claimed", code)
	}
	h.clock.Advance(2 * time.Minute)
	if err := h.s.housekeeping(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n int
	h.s.db.QueryRow("SELECT COUNT(*) FROM claims").Scan(&n)
	if n != 0 {
		t.Errorf("%d claims left after their retention", n)
	}
}

// The claim of an agent gone silent lapses as a hub job's does; a
// connected agent keeps it however long it prints.
func TestClaimJobLapses(t *testing.T) {
	h := openHub(t)
	a, b := h.mustDial(""), h.mustDial("")
	a.boot("agent-1")
	b.boot("agent-2")
	const key = "cups:ipp://cups.example/printers/office#7@1764000000"
	cb := b.claim(key)
	h.clock.Advance(printingClaimLapse + time.Minute)
	if code := a.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
		t.Fatalf("a connected agent's claim lapsed: %q", code)
	}
	h.waitDisconnected(b, "agent-2")
	h.clock.Advance(printingClaimLapse - time.Minute)
	if code := a.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.DetailClaimed {
		t.Fatalf("claim lapsed before the bound: %q", code)
	}
	h.clock.Advance(2 * time.Minute)
	ca := a.claim(key)
	if ca == cb {
		t.Error("the lapsed claim's id was reused")
	}
	b2 := h.reconnect("agent-2")
	if code := b2.refusal(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: key, ClaimID: cb}); code != protocol.DetailStaleClaim {
		t.Errorf("release of the lapsed claim: %q, want stale-claim", code)
	}
}

func TestClaimJobValidation(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	for name, key := range map[string]string{
		"empty":   "",
		"long":    "cups:" + strings.Repeat("x", maxClaimKey),
		"control": "cups:a\nb",
		"utf-8":   "cups:\xff",
	} {
		if code := a.refusal(protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}); code != protocol.CodeFormationViolation {
			t.Errorf("ClaimJob %s key: %q, want FormationViolation", name, code)
		}
		if code := a.refusal(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: key, ClaimID: "c"}); code != protocol.CodeFormationViolation {
			t.Errorf("ReleaseClaim %s key: %q, want FormationViolation", name, code)
		}
	}
	if code := a.refusal(protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: "cups:k"}); code != protocol.CodeFormationViolation {
		t.Errorf("ReleaseClaim without claim_id: %q, want FormationViolation", code)
	}
	a.claim("cups:" + strings.Repeat("x", maxClaimKey-len("cups:")))
}

// heldElsewhere checks that another agent's claims on alice's hub job and
// on a key hold against this agent.
func (a *testAgent) heldElsewhere(jobID, key, when string) {
	a.t.Helper()
	if e := a.callError(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: jobID, Username: "alice", LoginToken: a.tokenFor("alice")}); e.Details["code"] != protocol.DetailNotReleasable {
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
	h = newTestHub(t, func(c *Config) { h.sameStore(c); c.OpenEnrollment = true; c.Clock = clk })
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
