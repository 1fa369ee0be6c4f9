package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// unregisterStore is a task store whose outbox drains as the test says.
type unregisterStore struct {
	mu      sync.Mutex
	pending map[string]int
	ended   map[string]string // task id → state
}

func (s *unregisterStore) TakeTask(context.Context, string, string) (string, bool, error) {
	return protocol.TaskInProgress, true, nil
}

func (s *unregisterStore) EndTask(_ context.Context, id, state string, _ json.RawMessage, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended[id] = state
	return nil
}

func (s *unregisterStore) UnfinishedTasks(context.Context) ([]string, error) { return nil, nil }

func (s *unregisterStore) PendingOf(_ context.Context, kind string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[kind], nil
}

func (s *unregisterStore) set(kind string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[kind] = n
}

// TestUnregisterWaitsForTheOutbox: the unregister task completes only
// once the hub has acknowledged every record and job status, within its
// bound on the injected clock, and fails "unsent records" past it with
// nothing changed (no marker, nothing handed over).
func TestUnregisterWaitsForTheOutbox(t *testing.T) {
	tests := []struct {
		name    string
		drainAt time.Duration // when the outbox drains (0: never)
		wantErr string
	}{
		{"drained at once", -1, ""},
		{"drained after a minute", time.Minute, ""},
		{"never drained", 0, "unsent records: 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
			store := &unregisterStore{pending: map[string]int{offline.KindAccounting: 2, offline.KindJobStatus: 1}, ended: map[string]string{}}
			if tt.drainAt < 0 {
				store.pending = map[string]int{}
			}
			tr := newTaskRunner(store, clock.NewFloor(clk, nil), slog.New(slog.DiscardHandler), func() {})
			tr.sv = &supervisor{clock: clk}
			tr.current.DataDir = t.TempDir()
			done := make(chan error, 1)
			go func() {
				_, err := tr.unregister(context.Background(), protocol.TaskRequest{ID: "u1", Type: protocol.TaskUnregister})
				done <- err
			}()
			if tt.drainAt >= 0 {
				testutil.WaitFor(t, 5*time.Second, "the poll's timer", func() bool { return clk.Timers() >= 2 })
				if tt.drainAt > 0 {
					clk.Advance(tt.drainAt)
					store.set(offline.KindAccounting, 0)
					store.set(offline.KindJobStatus, 0)
					clk.Advance(unregisterPoll)
				} else {
					clk.Advance(unregisterSyncWait)
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the task did not end")
			}
			_, markErr := os.Stat(filepath.Join(tr.current.DataDir, unregisterMarker))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || markErr == nil || len(store.ended) != 0 {
					t.Fatalf("err %v, marker %v, ended %v; want %q and nothing changed", err, markErr, store.ended, tt.wantErr)
				}
				return
			}
			if !errors.Is(err, errHandedOver) || store.ended["u1"] != protocol.TaskCompleted || markErr != nil {
				t.Fatalf("err %v, ended %v, marker %v", err, store.ended, markErr)
			}
			if id := <-tr.unregistered; id != "u1" {
				t.Errorf("handed to awaitUnregister: %q", id)
			}
		})
	}
}

// TestUnregisterAgainstTheHub: the real agent, under its supervisor,
// enrolled at the real hub with an accounting record of alice's unsent:
// the unregister task sends the record first, completes, and only once the
// hub has the status (and so revoked the identity) wipes the data
// directory and re-executes. The hub holds the record, lists the agent
// unregistered, and refuses its old device token; nothing of alice is left
// on the device.
func TestUnregisterAgainstTheHub(t *testing.T) {
	ctx := context.Background()
	h := newRealHub(t)
	h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "alice"})
	cfg := baseConfig(t)
	cfg.HubURL = h.srv.URL
	store, err := offline.Open(ctx, filepath.Join(cfg.DataDir, "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agentID, _ := store.AgentID(ctx)
	if _, err := store.Claim(ctx, "hub:a", "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CommitPrinted(ctx, "hub:a", protocol.Record{Pages: 2, Copies: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	execs := make(chan struct{}, 1)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	opts := Options{Logger: slog.New(slog.DiscardHandler), Exec: func() error { execs <- struct{}{}; cancel(); return errors.New("replaced") }}
	go func() { done <- Run(runCtx, cfg, opts) }()
	t.Cleanup(func() { cancel(); <-done })

	tokenPath := filepath.Join(cfg.DataDir, "device-token")
	var token []byte
	testutil.WaitFor(t, 20*time.Second, "the device token from open enrollment", func() bool {
		token, _ = os.ReadFile(tokenPath)
		return len(token) > 0
	})
	code, body := h.admin(http.MethodPost, "/api/v1/tasks", map[string]any{"agent_id": agentID, "type": "unregister"})
	var created struct{ IDs []string }
	if code != http.StatusCreated || json.Unmarshal(body, &created) != nil || len(created.IDs) != 1 {
		t.Fatalf("create the task: HTTP %d %s", code, body)
	}
	select {
	case <-execs:
	case err := <-done:
		t.Fatalf("the agent stopped without re-executing: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no re-exec after the unregister task")
	}
	<-done
	done <- nil

	code, body = h.admin(http.MethodGet, "/api/v1/tasks/"+created.IDs[0], nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"state":"completed"`) {
		t.Errorf("the task at the hub: HTTP %d %s", code, body)
	}
	code, body = h.admin(http.MethodGet, "/api/v1/accounting?agent_id="+agentID, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"owner":"alice"`) {
		t.Errorf("the record did not reach the hub first: HTTP %d %s", code, body)
	}
	code, body = h.admin(http.MethodGet, "/api/v1/agents", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"id":"`+agentID+`"`) || !strings.Contains(string(body), `"state":"unregistered"`) {
		t.Errorf("agents listed: HTTP %d %s", code, body)
	}
	hdr := http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(token))}}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 5 * time.Second}
	if c, resp, err := d.Dial("ws"+strings.TrimPrefix(h.srv.URL, "http")+protocol.AgentPath, hdr); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		if c != nil {
			c.Close()
		}
		t.Errorf("the old device token: %v %v", resp, err)
	}
	if found := holding(t, cfg.DataDir, "alice", strings.TrimSpace(string(token))); len(found) > 0 {
		t.Errorf("after the unregister: %v", found)
	}
	if _, err := os.Stat(tokenPath); !os.IsNotExist(err) {
		t.Errorf("the device token file: %v", err)
	}
}
