package hub

import (
	"net/http"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// login authorizes card at agent a and returns the session's login token.
func (a *testAgent) login(card string) string {
	a.t.Helper()
	var resp protocol.AuthorizeResponse
	a.mustCall(protocol.ActionAuthorize, protocol.AuthorizeRequest{Card: card}, &resp)
	if resp.Status != protocol.AuthAccepted || resp.LoginToken == "" {
		a.t.Fatalf("login by %s: %+v", card, resp)
	}
	return resp.LoginToken
}

// refusedCode calls action expecting a permanent refusal and returns its
// details.code.
func (a *testAgent) refusedCode(action string, req any) string {
	a.t.Helper()
	e := a.callError(action, req)
	if !e.Permanent() {
		a.t.Errorf("%s refused with a temporary error: %+v", action, e)
	}
	code, _ := e.Details["code"].(string)
	return code
}

// tokenSetup is releaseSetup with a card for bob, a second agent, and the
// login tokens of alice and bob at agent-1 and of alice at agent-2.
func tokenSetup(t *testing.T) (h *testHub, a, b *testAgent, first, second string, alice, bob, aliceAtB string) {
	h, a, _, first, second = releaseSetup(t)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"cards": []string{"C-BOB"}}), http.StatusOK)
	b = h.mustDial("")
	b.boot("agent-2")
	return h, a, b, first, second, a.login("C-ALICE"), a.login("C-BOB"), b.login("C-ALICE")
}

// TestJobsNeedLogin: ListJobs, FetchJob and DeleteJob act only for the
// person logged in at this agent, by the login token the hub issued.
// Before login tokens, any username was trusted: another agent's or
// user's token, or none at all, read and deleted alice's jobs.
func TestJobsNeedLogin(t *testing.T) {
	h, a, b, first, second, alice, bob, aliceAtB := tokenSetup(t)
	list := func(tok string) protocol.ListJobsRequest {
		return protocol.ListJobsRequest{Username: "alice", LoginToken: tok}
	}
	fetch := func(tok string) protocol.FetchJobRequest {
		return protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: tok, Attempt: "attempt-1"}
	}
	del := func(tok string) protocol.DeleteJobRequest {
		return protocol.DeleteJobRequest{JobID: second, Username: "alice", LoginToken: tok}
	}
	for _, tc := range []struct{ name, token string }{
		{"no token", ""},
		{"an unknown token", "not-a-token"},
		{"another user's token", bob},
		{"another agent's token", aliceAtB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := a.refusedCode(protocol.ActionListJobs, list(tc.token)); code != protocol.DetailLoginRequired {
				t.Errorf("ListJobs: %q", code)
			}
			if code := a.refusedCode(protocol.ActionFetchJob, fetch(tc.token)); code != protocol.DetailLoginRequired {
				t.Errorf("FetchJob: %q", code)
			}
			if code := a.refusedCode(protocol.ActionDeleteJob, del(tc.token)); code != protocol.DetailLoginRequired {
				t.Errorf("DeleteJob: %q", code)
			}
		})
	}
	if j := h.getJob(first); j.State != stateHeld {
		t.Fatalf("refused calls changed the job: %+v", j)
	}
	if j := h.getJob(second); j.State != stateHeld {
		t.Fatalf("refused calls changed the job: %+v", j)
	}
	// The token alone names the user too.
	var resp protocol.ListJobsResponse
	a.mustCall(protocol.ActionListJobs, protocol.ListJobsRequest{LoginToken: alice}, &resp)
	if got := jobIDs(resp.Jobs); got != first+","+second {
		t.Errorf("jobs by token alone: %s", got)
	}
	a.mustCall(protocol.ActionListJobs, list(alice), &resp)
	if got := jobIDs(resp.Jobs); got != first+","+second {
		t.Errorf("jobs: %s", got)
	}
	var fr protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, fetch(alice), &fr)
	a.mustCall(protocol.ActionDeleteJob, del(alice), nil)
	if j := h.getJob(second); j.State != stateDeleted {
		t.Errorf("deleted job: %+v", j)
	}
	_ = b
}

// TestLoginTokenLifetime: Logout ends a token for listing and deleting; a
// fetch still takes it for a while (the person released and walked away,
// see TestLogoutGrace); after LoginTTL nothing takes it; a fetch again within the attempt
// that holds the job's claim needs no token.
func TestLoginTokenLifetime(t *testing.T) {
	h, a, _, first, second, alice, _, _ := tokenSetup(t)
	a.mustCall(protocol.ActionLogout, protocol.LogoutRequest{LoginToken: alice}, nil)
	if code := a.refusedCode(protocol.ActionListJobs, protocol.ListJobsRequest{Username: "alice", LoginToken: alice}); code != protocol.DetailLoginRequired {
		t.Errorf("ListJobs after Logout: %q", code)
	}
	if code := a.refusedCode(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: second, Username: "alice", LoginToken: alice}); code != protocol.DetailLoginRequired {
		t.Errorf("DeleteJob after Logout: %q", code)
	}
	var fr protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: alice, Attempt: "attempt-1"}, &fr)

	h.clock.Advance(DefaultLoginTTL)
	if code := a.refusedCode(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: second, Username: "alice", LoginToken: alice, Attempt: "attempt-9"}); code != protocol.DetailLoginRequired {
		t.Errorf("FetchJob with an expired token: %q", code)
	}
	// The attempt holding the claim fetches again without a token (a
	// restart), and keeps its claim.
	var again protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", Attempt: "attempt-1"}, &again)
	if again.ClaimID != fr.ClaimID {
		t.Errorf("claim %s, want %s", again.ClaimID, fr.ClaimID)
	}
	// Another attempt needs a live token.
	if code := a.refusedCode(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", Attempt: "attempt-2"}); code != protocol.DetailLoginRequired {
		t.Errorf("FetchJob of another attempt without a token: %q", code)
	}
	fresh := a.login("C-ALICE")
	if code := a.refusedCode(protocol.ActionListJobs, protocol.ListJobsRequest{Username: "alice", LoginToken: alice}); code != protocol.DetailLoginRequired {
		t.Errorf("ListJobs with an expired token: %q", code)
	}
	a.listJobsAs(fresh)
	// Rows are kept 30 days past expiry (accounting checks login records
	// against them), then purged by the janitor.
	count := func() int {
		var n int
		if err := h.s.db.QueryRow("SELECT COUNT(*) FROM login_tokens").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	h.clock.Advance(loginTokenKeep - time.Minute)
	if n := count(); n != before {
		t.Errorf("%d login tokens before their keep ran out, want %d", n, before)
	}
	h.clock.Advance(2 * time.Hour)
	testutil.WaitFor(t, 5*time.Second, "the janitor purges expired login tokens", func() bool { return count() == 0 })
}

// TestLogoutGrace: a token Logout ended still takes FetchJob for
// Config.LogoutGrace after the logout (the engine fetches after the person
// walked away), not after it, and never past its expiry; a fetch again
// within the attempt that holds the claim needs no token. Before, an ended
// token took FetchJob for its whole life: an agent could claim every held
// job of a person for an hour after they left.
func TestLogoutGrace(t *testing.T) {
	h, a, _, first, second, alice, _, _ := tokenSetup(t)
	const grace = 5 * time.Minute // the default
	fetch := func(job, tok, attempt string) protocol.FetchJobRequest {
		return protocol.FetchJobRequest{JobID: job, Username: "alice", LoginToken: tok, Attempt: attempt}
	}
	a.mustCall(protocol.ActionLogout, protocol.LogoutRequest{LoginToken: alice}, nil)
	h.clock.Advance(grace - time.Second)
	var fr protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, fetch(first, alice, "attempt-1"), &fr)
	h.clock.Advance(time.Second)
	if code := a.refusedCode(protocol.ActionFetchJob, fetch(second, alice, "attempt-2")); code != protocol.DetailLoginRequired {
		t.Errorf("FetchJob with a token ended %v ago: %q, want %s", grace, code, protocol.DetailLoginRequired)
	}
	if j := h.getJob(second); j.State != stateHeld {
		t.Errorf("a refused fetch changed the job: %+v", j)
	}
	var again protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, fetch(first, "", "attempt-1"), &again)
	if again.ClaimID != fr.ClaimID {
		t.Errorf("claim %s, want %s", again.ClaimID, fr.ClaimID)
	}
	// Ended a minute before its expiry: the grace does not outlive it.
	late := a.login("C-ALICE")
	h.clock.Advance(DefaultLoginTTL - time.Minute)
	a.mustCall(protocol.ActionLogout, protocol.LogoutRequest{LoginToken: late}, nil)
	h.clock.Advance(time.Minute)
	if code := a.refusedCode(protocol.ActionFetchJob, fetch(second, late, "attempt-3")); code != protocol.DetailLoginRequired {
		t.Errorf("FetchJob with an ended token past its expiry: %q", code)
	}
}

func (a *testAgent) listJobsAs(tok string) []protocol.Job {
	a.t.Helper()
	var resp protocol.ListJobsResponse
	a.mustCall(protocol.ActionListJobs, protocol.ListJobsRequest{LoginToken: tok}, &resp)
	return resp.Jobs
}

// TestDeleteJobFinal: DeleteJob does not change a printed or deleted job
// (before, it marked any job of its owner deleted, rewriting history).
func TestDeleteJobFinal(t *testing.T) {
	h, a, _, first, second, alice, _, _ := tokenSetup(t)
	fr := a.fetchAs(first, "alice", alice)
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinted, Impressions: 34,
		ClaimID: fr.ClaimID, At: h.clock.Now()}, nil)
	if code := a.refusedCode(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: first, Username: "alice", LoginToken: alice}); code != protocol.DetailNotReleasable {
		t.Errorf("DeleteJob of a printed job: %q", code)
	}
	if j := h.getJob(first); j.State != statePrinted {
		t.Errorf("printed job after DeleteJob: %+v", j)
	}
	a.mustCall(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: second, Username: "alice", LoginToken: alice}, nil)
	if code := a.refusedCode(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: second, Username: "alice", LoginToken: alice}); code != protocol.DetailNotReleasable {
		t.Errorf("DeleteJob of a deleted job: %q", code)
	}
}

func (a *testAgent) fetchAs(jobID, user, tok string) protocol.FetchJobResponse {
	a.t.Helper()
	var fr protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: jobID, Username: user, LoginToken: tok}, &fr)
	return fr
}

// TestBootNoTakeover: under open enrollment, the first Boot of an id binds
// it with a device token; a later connection without it cannot boot as
// that id, so it cannot close the real agent's connection. Before, it
// booted and closed the real one.
func TestBootNoTakeover(t *testing.T) {
	h := openHub(t)
	real := h.mustDial("")
	first := real.boot("corridor-1")
	if first.Status != protocol.BootAccepted || first.DeviceToken == "" {
		t.Fatalf("first boot: %+v", first)
	}
	var stored []byte
	if err := h.s.db.QueryRow("SELECT token_hash FROM agents WHERE id = ?", "corridor-1").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if string(stored) != string(tokenHash(first.DeviceToken)) {
		t.Errorf("the agent's token is not stored as its hash")
	}
	thief := h.mustDial("")
	if resp := thief.boot("corridor-1"); resp.Status != protocol.BootRejected || resp.Reason != bootReasonTokenRequired || resp.DeviceToken != "" {
		t.Errorf("boot as a bound id without its token: %+v", resp)
	}
	var hb protocol.HeartbeatResponse
	if err := real.call(protocol.ActionHeartbeat, protocol.HeartbeatRequest{}, &hb); err != nil {
		t.Errorf("the real agent lost its connection: %v", err)
	}
	real.deaf.Store(true) // gone: its reconnect is no clone (clone.go)
	again := h.mustDial(first.DeviceToken)
	if resp := again.boot("corridor-1"); resp.Status != protocol.BootAccepted || resp.DeviceToken != "" {
		t.Errorf("boot with the device token: %+v", resp)
	}
}
