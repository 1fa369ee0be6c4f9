package agent

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// TestReportIsDatedByTheAgentsClock: the status Report sends at once is
// dated by the agent's clock (a clock.Floor in a run, so never before what
// the agent knew of the time), not by the system's wall clock, which on a
// box without a real-time clock may read 1970.
func TestReportIsDatedByTheAgentsClock(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	got := make(chan time.Time, 1)
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.JobStatusRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		got <- req.At
		return protocol.JobStatusResponse{}, nil
	})
	agentID, _ := store.AgentID(ctx)
	clk := clocktest.New(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	src := hubSource{link: hub.connect(t, agentID), journal: store, now: clk.Now}
	c, err := store.Claim(ctx, release.HubPrefix+"job-1", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.NoteSourceClaim(ctx, c.JobID, c.Attempt, "claim-1"); err != nil {
		t.Fatal(err)
	}
	if err := src.Report(ctx, "job-1", protocol.JobPrinting, ""); err != nil {
		t.Fatalf("Report: %v", err)
	}
	if at := <-got; !at.Equal(clk.Now()) {
		t.Errorf("the status is dated %v, want the agent's clock's %v", at, clk.Now())
	}
}
