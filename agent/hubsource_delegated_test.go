package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// TestHubDelegatedJobNamesItsSender: a hub job with delegated_by reaches the
// job list (what the session serves the panel) named Sender**Name, the way
// the panel shows a delegated job, and an ordinary job keeps its name.
func TestHubDelegatedJobNamesItsSender(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	hub.Handle(protocol.ActionListJobs, func(_ context.Context, p json.RawMessage) (any, error) {
		return protocol.ListJobsResponse{Jobs: []protocol.Job{
			{ID: "j1", Owner: "alice", Name: "minutes.pdf", DelegatedBy: "bob", Copies: 1},
			{ID: "j2", Owner: "alice", Name: "own.pdf", Copies: 1},
		}}, nil
	})
	agentID, _ := store.AgentID(ctx)
	src := hubSource{link: hub.connect(t, agentID), journal: store}
	e := release.New(release.Config{Sources: []release.Source{src}, Journal: store, Logger: slog.New(slog.DiscardHandler)})
	jobs, err := e.Jobs(ctx, release.Who{Username: "alice", LoginToken: "tok"}, true)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, j := range jobs {
		names[j.ID] = j.Name
	}
	if names["hub:j1"] != "bob**minutes.pdf" || names["hub:j2"] != "own.pdf" {
		t.Fatalf("job names %v, want hub:j1 bob**minutes.pdf and hub:j2 own.pdf", names)
	}
}
