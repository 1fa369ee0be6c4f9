package hub

import (
	"strings"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// A hub that cannot reach its database (busy, disk full, shutting down)
// answers every call with a temporary error, never a permanent refusal: the
// agent keeps the item (a final job status, a record) and retries it. The
// answer says nothing of the hub's internals.
func TestAgentCallErrorsAreTemporary(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	h.s.cfg.CardRegistration = true
	claim := a.fetch(first, "alice").ClaimID
	tok := a.tokenFor("alice")
	now := h.clock.Now()
	calls := []struct {
		action string
		req    any
	}{
		{protocol.ActionAuthorize, protocol.AuthorizeRequest{Card: "C-ALICE"}},
		{protocol.ActionRegisterCard, protocol.RegisterCardRequest{Card: "C-NEW", Username: "alice", Password: "pw"}},
		{protocol.ActionListJobs, protocol.ListJobsRequest{Username: "alice", LoginToken: tok}},
		{protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: tok}},
		{protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobSending, ClaimID: claim, At: now}},
		{protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinted, Impressions: 1, ClaimID: claim, At: now}},
		{protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed, ClaimID: "stale", At: now}},
		{protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: "unknown", State: protocol.JobUncertain, ClaimID: claim, At: now}},
		{protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: first, Username: "alice", LoginToken: tok}},
		{protocol.ActionAccounting, protocol.AccountingRequest{Records: []protocol.Record{{ID: "agent-1:1", AgentID: "agent-1", Seq: 1,
			Owner: "alice", Type: protocol.RecordPrint, Pages: 1, Copies: 1, At: now}}}},
		{protocol.ActionPrinterEvent, protocol.PrinterEventRequest{Kind: "status", At: now}},
		{protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: "cups:k"}},
		{protocol.ActionReleaseClaim, protocol.ReleaseClaimRequest{Key: "cups:k", ClaimID: "c", Done: true}},
	}
	// The database goes away under the running hub; Close closes it again
	// harmlessly at the end of the test. A Heartbeat is not among them: it
	// touches no database (presence.go).
	if err := h.s.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		e := a.callError(c.action, c.req)
		if e.Permanent() || e.Code != protocol.CodeInternalError {
			t.Errorf("%s %+v: %+v, want a temporary InternalError", c.action, c.req, e)
		}
		if d := strings.ToLower(e.Description); strings.Contains(d, "sql") || strings.Contains(d, "database") || strings.Contains(d, h.dir) {
			t.Errorf("%s: the description tells the hub's internals: %q", c.action, e.Description)
		}
	}
}
