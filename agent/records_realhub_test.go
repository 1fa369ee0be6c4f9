package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// A record's paper, clicks and times travel from the agent's ledger
// through its outbox to the real hub as they were recorded, and a resend
// of it (an acknowledgement lost) is the same record there, not a
// conflict.
func TestRecordFieldsReachTheHub(t *testing.T) {
	ctx := context.Background()
	h := newRealHub(t)
	h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "alice"})
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	agentID, _ := store.AgentID(ctx)
	if _, err := store.Claim(ctx, "hub:a", "alice", false); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 7, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	rec, err := store.CommitPrinted(ctx, "hub:a", protocol.Record{Pages: 6, Copies: 2, Duplex: true,
		Sheets: protocol.SheetsFor(6, 2, true), PaperSize: "iso_a3_297x420mm", Clicks: protocol.ClicksFor(6, "iso_a3_297x420mm"),
		At: start.Add(time.Minute), StartedAt: start, FinishedAt: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	link := connectLinkConfig(t, cloudlink.Config{HubURL: h.srv.URL, AgentID: agentID, Version: "test"})
	for range 2 { // the second pass resends the record, as after a lost acknowledgement
		if err := drain(ctx, store, link, log); err != nil {
			t.Fatalf("drain: %v", err)
		}
		if keys := pendingKeys(t, store); len(keys) != 0 {
			t.Fatalf("pending after the drain: %v", keys)
		}
		if err := store.Enqueue(ctx, offline.KindAccounting, rec.ID, rec); err != nil {
			t.Fatal(err)
		}
	}
	code, body := h.admin(http.MethodGet, "/api/v1/accounting?agent_id="+agentID, nil)
	var got struct {
		Records []struct {
			ID         string    `json:"id"`
			Sheets     int       `json:"sheets"`
			PaperSize  string    `json:"paper_size"`
			Clicks     int       `json:"clicks"`
			StartedAt  time.Time `json:"started_at"`
			FinishedAt time.Time `json:"finished_at"`
		}
	}
	if code != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Records) != 1 {
		t.Fatalf("accounting: %d %s", code, body)
	}
	r := got.Records[0]
	if r.ID != rec.ID || r.Sheets != 4 || r.PaperSize != "iso_a3_297x420mm" || r.Clicks != 12 ||
		!r.StartedAt.Equal(start) || !r.FinishedAt.Equal(start.Add(time.Minute)) {
		t.Errorf("hub holds %+v, want sheets 4, A3, 12 clicks, started %v", r, start)
	}
	if a := h.alerts("record-conflict"); len(a) != 0 {
		t.Errorf("the resend raised record-conflict: %v", a)
	}
}

// The agent's heartbeats carry its outbox's state to the real hub, which
// lists it as the agent's sync.
func TestSyncStatusReachesTheHub(t *testing.T) {
	ctx := context.Background()
	h := newRealHub(t)
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	agentID, _ := store.AgentID(ctx)
	if err := store.Enqueue(ctx, offline.KindAccounting, agentID+":1", protocol.Record{ID: agentID + ":1"}); err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Now())
	connectLinkConfig(t, cloudlink.Config{HubURL: h.srv.URL, AgentID: agentID, Version: "test", Clock: clk,
		Heartbeat: heartbeatSync(store, slog.New(slog.DiscardHandler))})
	type agents struct {
		Agents []struct {
			ID   string `json:"id"`
			Sync *struct {
				Pending       int        `json:"pending"`
				OldestPending *time.Time `json:"oldest_pending"`
			} `json:"sync"`
		} `json:"agents"`
	}
	testutil.WaitFor(t, 5*time.Second, "the heartbeat's ticker", func() bool { return clk.Timers() > 0 })
	testutil.WaitErr(t, 10*time.Second, "a heartbeat with the sync status", func() error {
		clk.Advance(time.Minute) // past any heartbeat interval the hub gives
		code, body := h.admin(http.MethodGet, "/api/v1/agents", nil)
		var a agents
		if code != http.StatusOK || json.Unmarshal(body, &a) != nil || len(a.Agents) != 1 || a.Agents[0].Sync == nil {
			return fmt.Errorf("agents list without a sync status: %s", body)
		}
		if s := a.Agents[0].Sync; s.Pending != 1 || s.OldestPending == nil {
			t.Fatalf("sync %+v, want 1 pending", s)
		}
		return nil
	})
}
