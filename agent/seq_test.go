package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// recordHub keeps accounting records as the hub's contract says: an id
// stored once; the same id with the same content again is accepted, with
// other content refused as record-conflict.
type recordHub struct {
	mu   sync.Mutex
	recs map[string]protocol.Record
}

func (h *recordHub) handle(_ context.Context, p json.RawMessage) (any, error) {
	var req protocol.AccountingRequest
	if err := json.Unmarshal(p, &req); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	resp := protocol.AccountingResponse{Accepted: []string{}}
	for _, r := range req.Records {
		old, ok := h.recs[r.ID]
		switch {
		case !ok:
			h.recs[r.ID] = r
		case !sameRecord(old, r):
			resp.Refused = append(resp.Refused, protocol.RefusedRecord{ID: r.ID, Code: protocol.DetailRecordConflict})
			continue
		}
		resp.Accepted = append(resp.Accepted, r.ID)
	}
	return resp, nil
}

func sameRecord(a, b protocol.Record) bool {
	a.At, b.At = a.At.UTC(), b.At.UTC()
	return reflect.DeepEqual(a, b)
}

func (h *recordHub) pages() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for _, r := range h.recs {
		out[r.JobID] += r.Pages
	}
	return out
}

// printJob commits a printed hub job of pages pages.
func printJob(t *testing.T, s *offline.Store, id string, pages int) protocol.Record {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Claim(ctx, id, "alice", false); err != nil {
		t.Fatal(err)
	}
	rec, err := s.CommitPrinted(ctx, id, protocol.Record{Pages: pages, Copies: 1})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// An agent restored from a backup: the hub holds records 1..3 of it that
// the backup lacks, and the agent numbers its next records 1, 2 again.
// Each page must be charged once: the record the hub already holds with
// the same content is not sent twice, the reused ids are reissued above
// the hub's last_seq, and records made after the Boot start above it too,
// also after a restart.
func TestRestoredAgentContinuesAboveHubSeq(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tessera.db")
	store, err := offline.Open(ctx, path, offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { store.Close() }()
	agentID, _ := store.AgentID(ctx)

	// The backup's record 1 reached the hub before the backup was taken.
	first := printJob(t, store, "hub:a", 1)
	hub := newScriptHub(t)
	rh := &recordHub{recs: map[string]protocol.Record{}}
	sent := first
	sent.JobID = "a"
	rh.recs[first.ID] = sent
	// Records 2 and 3 were made after the backup, then the box was restored.
	rh.recs[agentID+":2"] = protocol.Record{ID: agentID + ":2", AgentID: agentID, Seq: 2, JobID: "x", Owner: "bob", Type: "print", Pages: 5}
	rh.recs[agentID+":3"] = protocol.Record{ID: agentID + ":3", AgentID: agentID, Seq: 3, JobID: "y", Owner: "bob", Type: "print", Pages: 7}
	hub.SetLastSeq(3)
	hub.Handle(protocol.ActionAccounting, rh.handle)

	second := printJob(t, store, "hub:b", 2) // reuses seq 2 while offline
	if second.Seq != 2 {
		t.Fatalf("setup: second record has seq %d, want 2", second.Seq)
	}
	link := hub.connect(t, agentID)
	// One pass: the reissued record is a new item behind the refused one.
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("drain: %v", err)
	}
	if keys := pendingKeys(t, store); len(keys) != 0 {
		t.Errorf("pending after drains: %v, want none", keys)
	}
	want := map[string]int{"a": 1, "b": 2, "x": 5, "y": 7}
	if got := rh.pages(); !reflect.DeepEqual(got, want) {
		t.Errorf("hub holds pages by job %v, want %v (each charged once)", got, want)
	}
	recs, err := store.RecordsForJob(ctx, "hub:b")
	if err != nil || len(recs) != 1 || recs[0].Seq <= 3 || !strings.HasSuffix(recs[0].ID, ":"+itoa(recs[0].Seq)) {
		t.Errorf("job b's ledger record = %+v, %v; want one, reissued above seq 3", recs, err)
	}
	if recs, _ := store.RecordsForJob(ctx, "hub:a"); len(recs) != 1 || recs[0].ID != first.ID {
		t.Errorf("job a's record = %+v, want it kept as %s (the hub has it as sent)", recs, first.ID)
	}

	// A restart does not go back below the hub's last_seq.
	store.Close()
	if store, err = offline.Open(ctx, path, offline.Options{}); err != nil {
		t.Fatal(err)
	}
	third := printJob(t, store, "hub:c", 1)
	if third.Seq <= 3 || third.Seq <= recs[0].Seq {
		t.Errorf("record after a restart has seq %d, want above 3 and above %d", third.Seq, recs[0].Seq)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The same against the hub package: an agent restored from a backup taken
// after its first record reissues the numbers of the records made after
// the backup; the hub refuses them as record-conflict, the agent sends them
// again above last_seq, and every record is charged once.
func TestRestoredAgentAgainstHub(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tessera.db")
	h := newRealHub(t)
	h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "alice"})
	log := slog.New(slog.DiscardHandler)

	store, err := offline.Open(ctx, path, offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agentID, _ := store.AgentID(ctx)
	var deviceToken string // the hub binds the id at its first Boot
	// Each sync is one connection, closed before the next: a second live
	// connection of the id would be refused as a clone.
	syncOnce := func(s *offline.Store) {
		t.Helper()
		t.Run("sync", func(t *testing.T) {
			link := connectLinkConfig(t, cloudlink.Config{HubURL: h.srv.URL, AgentID: agentID, Version: "test",
				DeviceToken: deviceToken, OnDeviceToken: func(tok string) error { deviceToken = tok; return nil }})
			if err := drain(ctx, s, link, log); err != nil {
				t.Errorf("drain: %v", err)
			}
		})
	}
	printJob(t, store, "hub:a", 1)
	syncOnce(store)
	store.Close()
	backup := filepath.Join(dir, "backup.db")
	copyFile(t, path, backup)

	if store, err = offline.Open(ctx, path, offline.Options{}); err != nil {
		t.Fatal(err)
	}
	printJob(t, store, "hub:b", 2)
	printJob(t, store, "hub:c", 3)
	syncOnce(store)
	store.Close()

	copyFile(t, backup, path) // the restore
	if store, err = offline.Open(ctx, path, offline.Options{}); err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	printJob(t, store, "hub:d", 4) // numbered 2 again
	syncOnce(store)
	printJob(t, store, "hub:e", 5) // after a Boot with last_seq 3
	syncOnce(store)

	code, body := h.admin(http.MethodGet, "/api/v1/accounting?limit=100", nil)
	var got struct {
		Records []struct {
			ID    string `json:"id"`
			JobID string `json:"job_id"`
			Pages int    `json:"pages"`
		}
	}
	if code != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("accounting: %d %s", code, body)
	}
	pages := map[string]int{}
	for _, r := range got.Records {
		pages[r.JobID] += r.Pages
	}
	if want := map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}; !reflect.DeepEqual(pages, want) {
		t.Errorf("hub charged %v, want %v (each record once)", pages, want)
	}
	if a := h.alerts("record-conflict"); len(a) != 1 {
		t.Errorf("record-conflict alerts: %d, want 1", len(a))
	}
	if keys := pendingKeys(t, store); len(keys) != 0 {
		t.Errorf("pending: %v", keys)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(to + suffix)
	}
}
