package hub

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// TestUnregisterTask: an unregister task's completed status revokes the
// agent's identity before it is acknowledged (the agent wipes itself once
// it has the answer): the agent is listed unregistered, its device token
// no longer connects, and neither open enrollment nor an Enroll binds its
// id again; a resent status changes nothing. A failed unregister task, or
// another task completed, leaves the agent as it was.
func TestUnregisterTask(t *testing.T) {
	tests := []struct {
		name       string
		typ        string
		end        protocol.TaskStatusRequest
		unregister bool
	}{
		{"completed", protocol.TaskUnregister, protocol.TaskStatusRequest{State: protocol.TaskCompleted, Result: json.RawMessage(`{}`)}, true},
		{"failed: unsent records", protocol.TaskUnregister, protocol.TaskStatusRequest{State: protocol.TaskFailed, Error: "unsent records: 2"}, false},
		{"another task completed", protocol.TaskReadMeters, protocol.TaskStatusRequest{State: protocol.TaskCompleted, Result: json.RawMessage(`{}`)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := openHub(t)
			token, err := h.s.IssueAgentToken(t.Context(), "printer-a")
			if err != nil {
				t.Fatal(err)
			}
			a := h.dialTasks("printer-a", token, nil)
			id := h.createTask(map[string]any{"agent_id": "printer-a", "type": tt.typ})[0]
			h.waitTaskState(id, protocol.TaskInProgress)
			end := tt.end
			end.ID, end.At = id, h.clock.Now()
			a.mustCall(protocol.ActionTaskStatus, end, nil)
			a.mustCall(protocol.ActionTaskStatus, end, nil) // the outbox's resend

			v := h.agentsListed()["printer-a"]
			if got := v.State == agentUnregistered; got != tt.unregister {
				t.Fatalf("listed %q (has_token %v), unregistered: want %v", v.State, v.HasToken, tt.unregister)
			}
			_, resp, err := h.dial(token)
			if tt.unregister {
				if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || v.HasToken {
					t.Errorf("the old device token after the unregister: %v %v (listed has_token %v)", resp, err, v.HasToken)
				}
				// Open enrollment does not bind the id anew.
				if b := h.mustDial("").boot("printer-a"); b.Status == protocol.BootAccepted {
					t.Errorf("a tokenless Boot took the unregistered id: %+v", b)
				}
				return
			}
			if err != nil {
				t.Errorf("the device token no longer connects: %v", err)
			}
		})
	}
}

// TestUnregisterTaskValidation: unregister takes the empty payload only.
func TestUnregisterTaskValidation(t *testing.T) {
	h := openHub(t)
	h.offlineAgent("printer-a")
	for _, tt := range []struct {
		payload any
		status  int
	}{
		{nil, http.StatusCreated},
		{map[string]any{}, http.StatusCreated},
		{map[string]any{"force": true}, http.StatusUnprocessableEntity},
	} {
		doc := map[string]any{"agent_id": "printer-a", "type": "unregister"}
		if tt.payload != nil {
			doc["payload"] = tt.payload
		}
		if r := h.admin(http.MethodPost, "/api/v1/tasks", doc); r.status != tt.status {
			t.Errorf("payload %v: HTTP %d %s, want %d", tt.payload, r.status, r.body, tt.status)
		}
	}
}
