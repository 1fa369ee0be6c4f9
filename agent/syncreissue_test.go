package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// A hub that refuses every record as record-conflict (a bug, or a clone
// racing on every number) must not keep one pass reissuing the record
// forever, at once and without backoff: a record is reissued once a pass,
// and what the hub still refuses waits for the next pass.
func TestDrainReissuesOncePerPass(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	hub.Handle(protocol.ActionAccounting, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.AccountingRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		resp := protocol.AccountingResponse{Accepted: []string{}}
		for _, r := range req.Records {
			resp.Refused = append(resp.Refused, protocol.RefusedRecord{ID: r.ID, Code: protocol.DetailRecordConflict})
		}
		return resp, nil
	})
	agentID, _ := store.AgentID(ctx)
	link := hub.connect(t, agentID)
	printJob(t, store, "hub:a", 1)

	done := make(chan error, 1)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- drain(dctx, store, link, slog.New(slog.DiscardHandler)) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("drain returned nil with the record refused")
		}
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatalf("the pass did not end: %d Accounting calls", hub.Calls(protocol.ActionAccounting))
	}
	if n := hub.Calls(protocol.ActionAccounting); n != 2 {
		t.Errorf("Accounting called %d times in one pass, want 2 (the record, then its reissue)", n)
	}
	if keys := pendingKeys(t, store); len(keys) != 1 {
		t.Errorf("pending %v, want the reissued record kept", keys)
	}
}

// A record the hub refuses as claimed-elsewhere (a hub job another agent
// claimed, which this one never did) is refused for good: the hub keeps
// it in its record-basis alert. The agent drops it instead of sending it
// again on every pass for ever, and what else the batch held goes on.
func TestDrainDropsClaimedElsewhere(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	hub.Handle(protocol.ActionAccounting, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.AccountingRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		resp := protocol.AccountingResponse{Accepted: []string{}}
		for _, r := range req.Records {
			if r.JobID == "hub:taken" || r.JobID == "taken" {
				resp.Refused = append(resp.Refused, protocol.RefusedRecord{ID: r.ID, Code: protocol.DetailClaimedElsewhere})
				continue
			}
			resp.Accepted = append(resp.Accepted, r.ID)
		}
		return resp, nil
	})
	agentID, _ := store.AgentID(ctx)
	link := hub.connect(t, agentID)
	printJob(t, store, "hub:taken", 1)
	printJob(t, store, "hub:mine", 1)

	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if keys := pendingKeys(t, store); len(keys) != 0 {
		t.Errorf("pending %v after the pass, want none: the claimed-elsewhere record dropped, the other acknowledged", keys)
	}
}
