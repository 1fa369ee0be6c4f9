package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/protocol"
)

// An item the hub never answers in time (its handler stuck on that job)
// on a connection that is still alive must not hold up the items of other
// jobs behind it: only a lost connection ends the pass.
func TestDrainTimeoutBlocksOnlyItsJob(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	var got statusLog
	stuck := make(chan struct{})
	defer close(stuck)
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.JobStatusRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		if req.JobID == "1" {
			<-stuck
			return nil, internalError()
		}
		got.add(req)
		return struct{}{}, nil
	})
	link := connectLinkConfig(t, cloudlink.Config{HubURL: hub.srv.URL, AgentID: "agt-1", Version: "test",
		CallTimeout: 300 * time.Millisecond})
	failJob(t, store, "hub:1")
	failJob(t, store, "hub:2")

	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("drain returned nil with job 1's status left")
	}
	if reqs := got.all(); len(reqs) != 1 || reqs[0].JobID != "2" {
		t.Errorf("hub received %+v, want job 2's status past job 1's stuck one", reqs)
	}
	if keys := pendingKeys(t, store); len(keys) != 1 {
		t.Errorf("pending %v, want job 1's status kept", keys)
	}
}
