package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

func openStore(t *testing.T) *offline.Store {
	t.Helper()
	s, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// failJob queues a final "failed" status of hub job id, the way a release
// that failed does.
func failJob(t *testing.T, s *offline.Store, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Claim(ctx, id, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, id, "The printer stayed busy."); err != nil {
		t.Fatal(err)
	}
}

func pendingKeys(t *testing.T, s *offline.Store) []string {
	t.Helper()
	items, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

// statusLog records the JobStatus calls a hub accepted.
type statusLog struct {
	mu   sync.Mutex
	reqs []protocol.JobStatusRequest
}

func (l *statusLog) add(r protocol.JobStatusRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

// record answers a JobStatus call as the hub does, noting its request.
func (l *statusLog) record(p json.RawMessage) (any, error) {
	var req protocol.JobStatusRequest
	if err := json.Unmarshal(p, &req); err != nil {
		return nil, err
	}
	l.add(req)
	return struct{}{}, nil
}

func (l *statusLog) all() []protocol.JobStatusRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]protocol.JobStatusRequest(nil), l.reqs...)
}

// A hub that fails a JobStatus for a passing reason (InternalError: a busy
// database, a full disk, a shutdown) must not make the agent drop a final
// status: the item stays, and goes through once the hub answers.
func TestDrainKeepsItemOnTemporaryRefusal(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	var got statusLog
	var mu sync.Mutex
	refuse := true
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return nil, internalError()
		}
		return got.record(p)
	})
	link := hub.connect(t, "agt-1")
	failJob(t, store, "hub:42")

	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("drain against a refusing hub returned nil, want an error (so it is retried)")
	}
	if keys := pendingKeys(t, store); len(keys) != 1 {
		t.Fatalf("after InternalError: pending %v, want the failed status kept", keys)
	}

	mu.Lock()
	refuse = false
	mu.Unlock()
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if keys := pendingKeys(t, store); len(keys) != 0 {
		t.Errorf("after the hub answered: pending %v, want none", keys)
	}
	if reqs := got.all(); len(reqs) != 1 || reqs[0].JobID != "42" || reqs[0].State != protocol.JobFailed {
		t.Errorf("hub received %+v, want the failed status of job 42", reqs)
	}
}

// Only a refusal the protocol says is permanent drops an item.
func TestDrainDropsOnlyPermanentRefusals(t *testing.T) {
	tests := []struct {
		name     string
		err      *protocol.Error
		wantKept bool
	}{
		{"internal error", &protocol.Error{Code: protocol.CodeInternalError}, true},
		{"generic without code", &protocol.Error{Code: protocol.CodeGenericError}, true},
		{"security error", &protocol.Error{Code: protocol.CodeSecurityError}, true},
		{"not found", &protocol.Error{Code: protocol.CodeGenericError, Details: map[string]any{"code": protocol.DetailNotFound}}, false},
		{"stale claim", &protocol.Error{Code: protocol.CodeGenericError, Details: map[string]any{"code": protocol.DetailStaleClaim}}, false},
		{"formation violation", &protocol.Error{Code: protocol.CodeFormationViolation}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t)
			hub := newScriptHub(t)
			hub.Handle(protocol.ActionJobStatus, func(context.Context, json.RawMessage) (any, error) { return nil, tt.err })
			link := hub.connect(t, "agt-1")
			failJob(t, store, "hub:7")
			_ = drain(ctx, store, link, slog.New(slog.DiscardHandler))
			if kept := len(pendingKeys(t, store)) == 1; kept != tt.wantKept {
				t.Errorf("item kept = %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

// Items of a kind this version does not know (left by a newer version
// before a downgrade) are kept for a newer one, and do not stop the items
// behind them: 150 of them ahead of a real status.
func TestDrainGoesPastUnknownKinds(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	for i := range 150 {
		if err := store.Enqueue(ctx, "from-the-future", fmt.Sprintf("future:%d", i), map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	failJob(t, store, "hub:9")
	hub := newScriptHub(t)
	var got statusLog
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		return got.record(p)
	})
	link := hub.connect(t, "agt-1")
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if reqs := got.all(); len(reqs) != 1 || reqs[0].JobID != "9" {
		t.Errorf("hub received %+v, want job 9's status behind the unknown items", reqs)
	}
	if keys := pendingKeys(t, store); len(keys) != 150 {
		t.Errorf("pending %d items, want the 150 unknown ones kept", len(keys))
	}
}

// An item the hub keeps refusing for a passing reason does not starve the
// others, but a job's own statuses stay in order: nothing of that job is
// sent past it.
func TestDrainTemporaryRefusalBlocksOnlyItsJob(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	var got statusLog
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.JobStatusRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		if req.JobID == "1" {
			return nil, internalError()
		}
		got.add(req)
		return struct{}{}, nil
	})
	link := hub.connect(t, "agt-1")
	failJob(t, store, "hub:1") // attempt 1 failed: refused for now
	if _, err := store.Claim(ctx, "hub:1", "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := store.Fail(ctx, "hub:1", "again"); err != nil { // attempt 2: must wait behind attempt 1
		t.Fatal(err)
	}
	failJob(t, store, "hub:2")

	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("drain returned nil with items left for a temporary refusal")
	}
	if reqs := got.all(); len(reqs) != 1 || reqs[0].JobID != "2" {
		t.Errorf("hub received %+v, want only job 2's status", reqs)
	}
	if n := hub.Calls(protocol.ActionJobStatus); n != 2 {
		t.Errorf("JobStatus called %d times, want 2 (job 1's second status waits behind its first)", n)
	}
	if keys := pendingKeys(t, store); len(keys) != 2 {
		t.Errorf("pending %v, want both statuses of job 1", keys)
	}
}

// A pass the hub refused for a passing reason is tried again on its own,
// once its backoff delay has passed: no new record, no kick, no minute
// tick needed, and not before. In virtual time (clocktest).
func TestSyncLoopRetriesAfterBackoff(t *testing.T) {
	store := openStore(t)
	hub := newScriptHub(t)
	delivered := make(chan protocol.JobStatusRequest, 1)
	var mu sync.Mutex
	refusals := 1
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if refusals > 0 {
			refusals--
			return nil, internalError()
		}
		var req protocol.JobStatusRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		delivered <- req
		return struct{}{}, nil
	})
	link := hub.connect(t, "agt-1")
	failJob(t, store, "hub:5")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	kick := make(chan struct{}, 1)
	kick <- struct{}{}
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const maxDelay = 10 * time.Second
	go func() {
		defer close(done)
		runSync(ctx, store, link, kick, slog.New(slog.DiscardHandler), clk,
			cloudlink.NewBackoff(maxDelay, maxDelay), time.Hour)
	}()
	defer func() { cancel(); <-done }()
	// The ticker and, after the refused pass, the retry's timer.
	testutil.WaitFor(t, 20*time.Second, "the retry timer", func() bool { return clk.Timers() == 2 })
	if n := hub.Calls(protocol.ActionJobStatus); n != 1 {
		t.Fatalf("JobStatus called %d times before the delay passed, want 1", n)
	}
	kick <- struct{}{} // a new record does not cut the delay short
	clk.Advance(maxDelay)
	select {
	case req := <-delivered:
		if req.JobID != "5" || req.State != protocol.JobFailed {
			t.Errorf("delivered %+v", req)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the refused status was not retried after the delay")
	}
	if n := hub.Calls(protocol.ActionJobStatus); n != 2 {
		t.Errorf("JobStatus called %d times, want 2", n)
	}
}

// TestRecordClaimID: a record of basis claim names the hub's claim_id: a
// hub job's as the journal holds it, a CUPS job's out of the journal's
// encoding of its hub claim.
func TestRecordClaimID(t *testing.T) {
	for journaled, want := range map[string]string{
		"":       "",
		"c-1234": "c-1234",
		heldClaim{Key: "cups:uuid-1", ClaimID: "c-9"}.encode(): "c-9",
	} {
		if got := recordClaimID(journaled); got != want {
			t.Errorf("recordClaimID(%q) = %q, want %q", journaled, got, want)
		}
	}
}
