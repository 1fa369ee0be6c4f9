package cloudlink

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// A ClaimJob of a key waits until a ReleaseClaimIf of that key, its check
// included, has the hub's answer (the hub would give the holder the same
// claim back, and then free it); another key's claim does not wait.
func TestClaimWaitsForReleaseOfItsKey(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	inRelease, endRelease := make(chan struct{}), make(chan struct{})
	hub.Handle(protocol.ActionReleaseClaim, func(context.Context, json.RawMessage) (any, error) {
		close(inRelease)
		<-endRelease
		note("release")
		return struct{}{}, nil
	})
	hub.Handle(protocol.ActionClaimJob, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.ClaimJobRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		note("claim " + req.Key)
		return protocol.ClaimJobResponse{ClaimID: "c-" + req.Key}, nil
	})
	l, _ := startLink(t, Config{HubURL: hub.URL()})
	testutil.WaitFor(t, 10*time.Second, "online", l.Online)
	ctx := context.Background()

	released := make(chan error, 1)
	go func() {
		_, err := l.ReleaseClaimIf(ctx, protocol.ReleaseClaimRequest{Key: "k", ClaimID: "c-k"},
			func(context.Context) (bool, error) { return true, nil })
		released <- err
	}()
	<-inRelease
	claimed := make(chan error, 1)
	go func() {
		_, err := l.ClaimJob(ctx, "k")
		claimed <- err
	}()
	if _, err := l.ClaimJob(ctx, "other"); err != nil {
		t.Fatalf("another key's claim: %v", err)
	}
	close(endRelease)
	for _, ch := range []chan error{released, claimed} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call never returned")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 3 || order[0] != "claim other" || order[1] != "release" || order[2] != "claim k" {
		t.Errorf("the hub saw %q, want another key's claim, then the release, then the key's claim", order)
	}
}

// ReleaseClaimIf sends nothing when its check says no or fails.
func TestReleaseClaimIfChecksFirst(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	var mu sync.Mutex
	calls := 0
	hub.Handle(protocol.ActionReleaseClaim, func(context.Context, json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return struct{}{}, nil
	})
	l, _ := startLink(t, Config{HubURL: hub.URL()})
	testutil.WaitFor(t, 10*time.Second, "online", l.Online)
	req := protocol.ReleaseClaimRequest{Key: "k", ClaimID: "c"}
	if sent, err := l.ReleaseClaimIf(context.Background(), req,
		func(context.Context) (bool, error) { return false, nil }); sent || err != nil {
		t.Errorf("declined: sent %v, %v", sent, err)
	}
	boom := errors.New("journal unreadable")
	if sent, err := l.ReleaseClaimIf(context.Background(), req,
		func(context.Context) (bool, error) { return true, boom }); sent || !errors.Is(err, boom) {
		t.Errorf("failed check: sent %v, %v; want the check's error", sent, err)
	}
	if sent, err := l.ReleaseClaimIf(context.Background(), req, nil); !sent || err != nil {
		t.Errorf("unchecked: sent %v, %v", sent, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("ReleaseClaim reached the hub %d times, want 1", calls)
	}
}
