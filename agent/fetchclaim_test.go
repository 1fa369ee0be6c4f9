package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// A fetch the hub granted (a new claim) whose download then failed still
// made the claim the job's current one: the attempt's failed status must
// name it. Here the engine re-opened the document (the printer was busy),
// so the journal held the first fetch's claim; a failed naming that one is
// stale at the hub, dropped, and the job, which surely did not print, is
// left printing there, listed nowhere.
func TestFailedDownloadsClaimReachesItsStatus(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	hub := newScriptHub(t)
	doc := []byte("%PDF-1.4 one page")
	sum := sha256.Sum256(doc)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(doc)
	}))
	defer files.Close()

	var mu sync.Mutex
	current, fetches := "", 0 // the job's current claim at the hub
	var statuses []protocol.JobStatusRequest
	hub.Handle(protocol.ActionFetchJob, func(context.Context, json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		url := files.URL + "/doc"
		if fetches > 1 {
			url = files.URL + "/broken"
		}
		current = []string{"", "claim-1", "claim-2", "claim-3"}[min(fetches, 3)]
		return protocol.FetchJobResponse{URL: url, Size: int64(len(doc)), SHA256: hex.EncodeToString(sum[:]),
			Format: "application/pdf", ClaimID: current}, nil
	})
	hub.Handle(protocol.ActionJobStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		var req protocol.JobStatusRequest
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if req.ClaimID != current {
			return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "stale claim",
				Details: map[string]any{"code": protocol.DetailStaleClaim}}
		}
		statuses = append(statuses, req)
		return struct{}{}, nil
	})
	link := hub.connect(t, "agt-1")
	src := hubSource{link: link, journal: store}

	c, err := store.Claim(ctx, release.HubPrefix+"7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 1, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	first, err := src.Open(ctx, "7", "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, first.Body)
	first.Body.Close()
	if err := store.NoteSourceClaim(ctx, c.JobID, c.Attempt, first.Claim); err != nil {
		t.Fatal(err)
	}
	// The printer was busy: the engine opens the document again.
	if _, err := src.Open(ctx, "7", "alice"); err == nil {
		t.Fatal("the second open's broken download did not fail")
	}
	if err := store.Fail(ctx, c.JobID, "The document could not be downloaded."); err != nil {
		t.Fatal(err)
	}
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 1 || statuses[0].State != protocol.JobFailed || statuses[0].ClaimID != "claim-2" {
		t.Errorf("the hub applied %+v; want the failed status of claim-2, the job's current claim", statuses)
	}
}
