package hub

import (
	"strings"
	"testing"
	"time"

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
	b2 := h.mustDial("")
	b2.boot("agent-2")
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
