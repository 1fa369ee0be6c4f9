package hub

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// agentSync is GET /api/v1/agents's sync of one agent, as JSON.
func (h *testHub) agentSync(id string) string {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/agents", nil), http.StatusOK)
	var body struct {
		Agents []struct {
			ID   string          `json:"id"`
			Sync json.RawMessage `json:"sync"`
		} `json:"agents"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		h.t.Fatal(err)
	}
	for _, a := range body.Agents {
		if a.ID == id {
			return string(a.Sync)
		}
	}
	h.t.Fatalf("agent %s not listed: %s", id, r.body)
	return ""
}

// The sync status an agent sends in its Heartbeat is listed as its sync;
// a Heartbeat without one (an older agent) leaves the last one; none ever
// sent lists null.
func TestAgentSyncStatus(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	last := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	oldest := last.Add(-time.Hour)
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	heard := h.clock.Now().UTC().Format(time.RFC3339Nano)
	tests := []struct {
		name string
		req  any
		want string
	}{
		{"never reported", protocol.HeartbeatRequest{}, `null`},
		{"a status", protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{LastSuccess: &last, Pending: 3, OldestPending: &oldest}},
			`{"last_success":"2026-12-07T09:00:00Z","pending":3,"oldest_pending":"2026-12-07T08:00:00Z","reported_at":"` + heard + `"}`},
		{"an older agent's empty heartbeat keeps it", json.RawMessage(`{}`),
			`{"last_success":"2026-12-07T09:00:00Z","pending":3,"oldest_pending":"2026-12-07T08:00:00Z","reported_at":"` + heard + `"}`},
		{"all sent, never acknowledged", protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{}},
			`{"last_success":null,"pending":0,"oldest_pending":null,"reported_at":"` + heard + `"}`},
		{"out of range: unknown, and no negative count", protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{LastSuccess: &far, Pending: -5}},
			`{"last_success":null,"pending":0,"oldest_pending":null,"reported_at":"` + heard + `"}`},
	}
	for _, tc := range tests {
		var resp protocol.HeartbeatResponse
		a.mustCall(protocol.ActionHeartbeat, tc.req, &resp)
		if resp.ServerTime.IsZero() {
			t.Errorf("%s: no server time", tc.name)
		}
		if got := h.agentSync("agent-1"); got != tc.want {
			t.Errorf("%s: sync %s, want %s", tc.name, got, tc.want)
		}
	}
}
