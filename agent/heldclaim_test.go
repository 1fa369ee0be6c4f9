package agent

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release/cupssource"
)

// A CUPS job's hub claim ends with its attempt's final status, through the
// outbox: printed keeps the job claimed for good (no other agent may print
// it), failed frees it. Against the hub package's ClaimJob/ReleaseClaim.
func TestHeldClaimEndsThroughOutbox(t *testing.T) {
	tests := []struct {
		name        string
		settle      func(s *offline.Store, id string) error
		otherClaims bool
		// mineAgain: the agent that sent it may claim it again (an
		// uncertain job's owner confirms a reprint at that printer).
		mineAgain bool
	}{
		{"printed", func(s *offline.Store, id string) error {
			_, err := s.CommitPrinted(context.Background(), id, protocol.Record{Pages: 1, Copies: 1})
			return err
		}, false, false},
		{"uncertain", func(s *offline.Store, id string) error {
			return s.MarkUncertain(context.Background(), id, "silent")
		}, false, true},
		{"failed", func(s *offline.Store, id string) error {
			return s.Fail(context.Background(), id, "busy")
		}, true, true},
	}
	h := newRealHub(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t)
			agentID, _ := store.AgentID(ctx)
			mine := heldClaims{link: connectLink(t, h.srv.URL, agentID)}
			other := heldClaims{link: connectLink(t, h.srv.URL, agentID+"-other")}
			key := "cups:urn:uuid:test-" + tt.name

			claim, err := mine.Claim(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := mine.Claim(ctx, key); err != nil || again != claim {
				t.Errorf("the holder's second claim = %q, %v; want its claim again", again, err)
			}
			if _, err := other.Claim(ctx, key); !errors.Is(err, cupssource.ErrClaimed) {
				t.Fatalf("another agent's claim: %v, want ErrClaimed", err)
			}
			const id = "cups:5"
			if _, err := store.Claim(ctx, id, "alice", false); err != nil {
				t.Fatal(err)
			}
			if err := store.NoteSourceClaim(ctx, id, 1, claim); err != nil {
				t.Fatal(err)
			}
			if err := tt.settle(store, id); err != nil {
				t.Fatal(err)
			}
			if err := drain(ctx, store, mine.link, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("drain: %v", err)
			}
			if keys := pendingKeys(t, store); len(keys) != 0 {
				t.Errorf("pending %v after the drain", keys)
			}
			_, err = other.Claim(ctx, key)
			if got := err == nil; got != tt.otherClaims {
				t.Errorf("another agent's claim after %s: %v; want it to succeed: %v", tt.name, err, tt.otherClaims)
			}
			if !tt.otherClaims {
				_, err = mine.Claim(ctx, key)
				if got := err == nil; got != tt.mineAgain {
					t.Errorf("the sender's claim after %s: %v; want it to succeed: %v", tt.name, err, tt.mineAgain)
				}
			}
		})
	}
}

// Without the hub the claim cannot be made: the CUPS source then refuses
// the release (cupssource TestOpenClaimsFirst), unless the agent is the
// queue's only releaser.
func TestHeldClaimsOffline(t *testing.T) {
	link, err := cloudlink.New(cloudlink.Config{HubURL: "http://127.0.0.1:1", AgentID: "agt-x", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = heldClaims{link: link}.Claim(context.Background(), "cups:urn:uuid:x")
	if err == nil || errors.Is(err, cupssource.ErrClaimed) || !errors.Is(err, cloudlink.ErrOffline) {
		t.Errorf("offline claim: %v, want an ErrOffline that is not ErrClaimed", err)
	}
	if c := cupsClaimer(true, link); c != nil {
		t.Errorf("cups_exclusive claimer = %v, want none", c)
	}
	if c := cupsClaimer(false, link); c == nil {
		t.Error("shared queue without a claimer")
	}
}

// A failed attempt's release (done false) still in the outbox when the
// next attempt claimed the job again must not free the job the new attempt
// prints: the hub gives the holder its claim back, so the late release
// would name the live claim.
func TestStaleHeldReleaseDoesNotFreeNewerAttempt(t *testing.T) {
	ctx := context.Background()
	h := newRealHub(t)
	store := openStore(t)
	agentID, _ := store.AgentID(ctx)
	mine := heldClaims{link: connectLink(t, h.srv.URL, agentID)}
	other := heldClaims{link: connectLink(t, h.srv.URL, agentID+"-other")}
	const key, id = "cups:urn:uuid:retry", "cups:9"
	log := slog.New(slog.DiscardHandler)

	first, err := mine.Claim(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Claim(ctx, id, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := store.NoteSourceClaim(ctx, id, 1, first); err != nil {
		t.Fatal(err)
	}
	if err := store.Fail(ctx, id, "busy"); err != nil {
		t.Fatal(err)
	}
	// Attempt 2 starts before the outbox was drained; while it has not its
	// claim yet, attempt 1's end waits.
	if _, err := store.Claim(ctx, id, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, mine.link, log); err == nil {
		t.Error("drain returned nil with attempt 1's end waiting")
	}
	if keys := pendingKeys(t, store); len(keys) != 1 {
		t.Errorf("pending %v while attempt 2 claims, want attempt 1's end kept", keys)
	}
	claim, err := mine.Claim(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.NoteSourceClaim(ctx, id, 2, claim); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, mine.link, log); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if _, err := other.Claim(ctx, key); !errors.Is(err, cupssource.ErrClaimed) {
		t.Fatalf("another agent's claim while attempt 2 prints: %v, want ErrClaimed", err)
	}
	if _, err := store.CommitPrinted(ctx, id, protocol.Record{Pages: 1, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, mine.link, log); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if _, err := other.Claim(ctx, key); !errors.Is(err, cupssource.ErrClaimed) {
		t.Errorf("another agent's claim after attempt 2 printed: %v, want ErrClaimed", err)
	}
	if keys := pendingKeys(t, store); len(keys) != 0 {
		t.Errorf("pending %v", keys)
	}
}

// The end of a CUPS job's claim follows its attempt's final status: only a
// job that printed for good (or may have) stays claimed.
func TestReleaseFor(t *testing.T) {
	claim := heldClaim{Key: "cups:urn:uuid:k", ClaimID: "c1"}.encode()
	tests := []struct {
		st       protocol.JobStatusRequest
		wantOK   bool
		wantDone bool
	}{
		{protocol.JobStatusRequest{State: protocol.JobPrinted, ClaimID: claim}, true, true},
		{protocol.JobStatusRequest{State: protocol.JobPrinted, Keep: true, ClaimID: claim}, true, false},
		{protocol.JobStatusRequest{State: protocol.JobUncertain, ClaimID: claim}, false, false},
		{protocol.JobStatusRequest{State: protocol.JobFailed, ClaimID: claim}, true, false},
		{protocol.JobStatusRequest{State: protocol.JobFailed, Impressions: 2, ClaimID: claim}, true, false},
		{protocol.JobStatusRequest{State: protocol.JobPrinted}, false, false},
		{protocol.JobStatusRequest{State: protocol.JobPrinted, ClaimID: "a hub claim id"}, false, false},
	}
	for _, tt := range tests {
		req, ok := releaseFor(tt.st)
		if ok != tt.wantOK || req.Done != tt.wantDone || (ok && (req.Key != "cups:urn:uuid:k" || req.ClaimID != "c1")) {
			t.Errorf("releaseFor(%+v) = %+v, %v; want ok %v done %v", tt.st, req, ok, tt.wantOK, tt.wantDone)
		}
	}
}
