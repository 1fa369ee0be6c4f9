package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// hubJobSetup opens the agent's journal and a real hub holding one job of
// alice's (jobID), connected as the agent connects, with the hub source
// the engine releases that job from, and alice's login token at the agent.
func hubJobSetup(t *testing.T) (*offline.Store, *realHub, *cloudlink.Link, hubSource, string, string) {
	t.Helper()
	store := openStore(t)
	h := newRealHub(t)
	jobID := h.uploadJob("alice")
	agentID, _ := store.AgentID(context.Background())
	link := connectLink(t, h.srv.URL, agentID)
	return store, h, link, hubSource{link: link, journal: store}, jobID, h.login(link, "alice")
}

// openAttempt claims the next attempt of job id and opens its document at
// the hub as the engine does, in the session of login token tok: the
// fetch's claim is noted in the journal before anything is sent.
func openAttempt(t *testing.T, store *offline.Store, src hubSource, id, tok string) offline.Claim {
	t.Helper()
	ctx := release.WithLoginToken(context.Background(), tok)
	c, err := store.Claim(ctx, release.HubPrefix+id, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 1, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	doc, err := src.Open(ctx, id, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, doc.Body)
	doc.Body.Close()
	if doc.Claim == "" {
		t.Fatal("the hub's fetch gave the document no claim")
	}
	if err := store.NoteSourceClaim(ctx, c.JobID, c.Attempt, doc.Claim); err != nil {
		t.Fatal(err)
	}
	return c
}

// A "failed" of attempt 1, still in the outbox when attempt 2 fetched the
// job again (the hub was unreachable, or busy), must not free the job that
// attempt 2 is printing: it names attempt 1's claim, the real hub refuses
// it as stale-claim, and the agent drops it. Attempt 2's own status then
// applies.
func TestStaleFailedStatusDoesNotFreeNewerAttempt(t *testing.T) {
	ctx := context.Background()
	store, h, link, src, jobID, tok := hubJobSetup(t)
	log := slog.New(slog.DiscardHandler)

	first := openAttempt(t, store, src, jobID, tok)
	if err := store.Fail(ctx, first.JobID, "The printer stayed busy."); err != nil {
		t.Fatal(err)
	}
	// Not drained yet: attempt 2 fetches first.
	openAttempt(t, store, src, jobID, tok)
	if err := store.MarkPrinting(ctx, first.JobID, 7); err != nil {
		t.Fatal(err)
	}
	if err := src.Report(ctx, jobID, protocol.JobPrinting, ""); err != nil {
		t.Errorf("printing report of attempt 2: %v", err)
	}
	_ = drain(ctx, store, link, log)
	if got := h.jobState(jobID); got != "printing" {
		t.Fatalf("after attempt 1's late failed status the hub job is %q, want printing (attempt 2 holds it)", got)
	}
	if keys := pendingKeys(t, store); len(keys) != 0 {
		t.Errorf("pending %v: the stale status should be dropped as refused for good", keys)
	}
	if a := h.alerts("status-dropped"); len(a) != 1 {
		t.Errorf("status-dropped alerts = %v, want one", a)
	}

	if _, err := store.CommitPrinted(ctx, first.JobID, protocol.Record{Pages: 1, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, link, log); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := h.jobState(jobID); got != "printed" {
		t.Errorf("after attempt 2's printed status the hub job is %q, want printed", got)
	}
}

// An agent killed after the hub granted a fetch but before its journal
// noted the claim (the busy printer's re-open of the e2e crash test) must
// still end the job at the hub: the fetch again of the same attempt, after
// the restart, gets the same claim back, so the attempt's final status
// names the job's current claim and is applied, not dropped as stale.
func TestRefetchInOneAttemptKeepsTheClaim(t *testing.T) {
	ctx := context.Background()
	store, h, link, src, jobID, tok := hubJobSetup(t)

	c := openAttempt(t, store, src, jobID, tok) // fetch 1, noted
	// The re-open's fetch: granted, then the agent dies before noting it.
	// It needs no login token: this attempt holds the job's claim.
	doc, err := src.Open(ctx, jobID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, doc.Body)
	doc.Body.Close()
	// After the restart the attempt is found uncertain; its status names
	// the claim the journal holds.
	if err := store.MarkUncertain(ctx, c.JobID, "the printer never said"); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := h.jobState(jobID); got == "printing" {
		t.Errorf("the hub job stays %q: the attempt's uncertain status was refused as stale", got)
	}
	if a := h.alerts("status-dropped"); len(a) != 0 {
		t.Errorf("status-dropped alerts = %v, want none", a)
	}
}
