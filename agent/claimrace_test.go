package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// A failed attempt's claim release, decided on the journal (no later
// attempt), must not cross a later attempt's ClaimJob of the same key on
// its way: the hub gives the holder its claim back, so a release it
// handles after that claim frees the job the later attempt prints, and
// another agent may print it too. Here attempt 2 starts while the hub
// handles attempt 1's release (a busy hub handles calls in any order).
func TestHeldReleaseDoesNotCrossLaterClaim(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	const key, id = "cups:urn:uuid:race", "cups:3"

	// The hub's one claim: the key's current claim id, "" when free.
	var mu sync.Mutex
	holder, issued := "", 0
	claimed := make(chan struct{}, 4)
	hub.Handle(protocol.ActionClaimJob, func(context.Context, json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if holder == "" {
			issued++
			holder = fmt.Sprintf("claim-%d", issued)
		}
		claimed <- struct{}{}
		return protocol.ClaimJobResponse{ClaimID: holder}, nil
	})
	link := hub.connect(t, "agt-1")
	mine := heldClaims{link: link}

	// Attempt 2: claimed in the journal, then at the hub, as the engine
	// does; its claim is noted before anything prints.
	second := make(chan string, 1)
	startSecond := func() {
		bg := context.Background()
		if _, err := store.Claim(bg, id, "alice", false); err != nil {
			t.Error(err)
			second <- ""
			return
		}
		claim, err := mine.Claim(bg, key)
		if err == nil {
			err = store.NoteSourceClaim(bg, id, 2, claim)
		}
		if err != nil {
			t.Error(err)
		}
		second <- claim
	}
	hub.Handle(protocol.ActionReleaseClaim, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.ReleaseClaimRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		go startSecond()
		// Handle the release after attempt 2's claim, if it comes.
		select {
		case <-claimed:
		case <-time.After(300 * time.Millisecond):
		}
		mu.Lock()
		defer mu.Unlock()
		if req.ClaimID == holder && !req.Done {
			holder = ""
		}
		return struct{}{}, nil
	})

	// Attempt 1 claims, then fails: its release waits in the outbox.
	if _, err := store.Claim(ctx, id, "alice", false); err != nil {
		t.Fatal(err)
	}
	first, err := mine.Claim(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	<-claimed
	if err := store.NoteSourceClaim(ctx, id, 1, first); err != nil {
		t.Fatal(err)
	}
	if err := store.Fail(ctx, id, "busy"); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	var claim string
	select {
	case claim = <-second:
	case <-time.After(20 * time.Second):
		t.Fatal("attempt 2 never claimed")
	}
	c, ok := decodeHeldClaim(claim)
	if !ok {
		t.Fatalf("attempt 2's claim %q", claim)
	}
	mu.Lock()
	defer mu.Unlock()
	if holder == "" || holder != c.ClaimID {
		t.Errorf("the hub's claim is %q while attempt 2 prints under %q: the job is free for another printer",
			holder, c.ClaimID)
	}
}
