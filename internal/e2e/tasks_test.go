package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// hubTask is a task as GET /api/v1/tasks/{id} shows it.
type hubTask struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	State  string          `json:"state"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// createTask posts a task for agent and returns its id.
func (h *hub) createTask(t *testing.T, agent, typ, payload string) string {
	t.Helper()
	body := fmt.Sprintf(`{"agent_id": %q, "type": %q, "payload": %s}`, agent, typ, payload)
	var resp struct {
		IDs []string `json:"ids"`
	}
	if code := h.admin(t, http.MethodPost, "/api/v1/tasks", strings.NewReader(body), "application/json", &resp); code != http.StatusCreated || len(resp.IDs) != 1 {
		t.Fatalf("create %s task: HTTP %d %v", typ, code, resp.IDs)
	}
	return resp.IDs[0]
}

// taskEnded waits until task id has ended and returns it.
func (h *hub) taskEnded(t *testing.T, id string) hubTask {
	t.Helper()
	var v hubTask
	testutil.WaitFor(t, 30*time.Second, "task "+id+" ends", func() bool {
		v = hubTask{}
		h.admin(t, http.MethodGet, "/api/v1/tasks/"+id, nil, "", &v)
		return v.State != "pending" && v.State != "in-progress"
	})
	return v
}

// connectedAgent waits for the one agent of the hub to be connected and
// returns its id.
func (h *hub) connectedAgent(t *testing.T) string {
	t.Helper()
	var id string
	testutil.WaitFor(t, 30*time.Second, "the agent connects", func() bool {
		var resp struct {
			Agents []struct {
				ID        string `json:"id"`
				Connected bool   `json:"connected"`
			} `json:"agents"`
		}
		h.admin(t, http.MethodGet, "/api/v1/agents", nil, "", &resp)
		if len(resp.Agents) == 1 && resp.Agents[0].Connected {
			id = resp.Agents[0].ID
		}
		return id != ""
	})
	return id
}

// notifications reads the panel's notifications.
func (a *agent) notifications(t *testing.T) map[string]string {
	t.Helper()
	resp, err := http.Get(a.panel + "/api/v1/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Notifications []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"notifications"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range v.Notifications {
		out[n.ID] = n.Text
	}
	return out
}

// TestTasksEndToEnd: tasks created at the real hub reach the real agent,
// now when it is connected and at its next Boot when it is not, and their
// ends come back through its outbox.
func TestTasksEndToEnd(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "alice")
	agentDir := t.TempDir()
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
	id := h.connectedAgent(t)

	notify := h.createTask(t, id, "notify", `{"text": {"en": "Toner low", "fr": "Toner bas"}, "level": "warning"}`)
	if v := h.taskEnded(t, notify); v.State != "completed" {
		t.Errorf("notify: %+v", v)
	}
	if got := a.notifications(t)[notify]; got != "Toner low" {
		t.Errorf("panel notification %q, want Toner low", got)
	}
	sync := h.createTask(t, id, "sync-users", `{"full": true}`)
	if v := h.taskEnded(t, sync); v.State != "completed" || !bytes.Contains(v.Result, []byte(`"users":1`)) {
		t.Errorf("sync-users: %+v %s", v, v.Result)
	}
	// The firmware issue brings its mechanics; until then it fails.
	update := h.createTask(t, id, "update-agent", `{"url": "https://updates.invalid/tessera", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "version": "9.9.9"}`)
	if v := h.taskEnded(t, update); v.State != "failed" || !strings.Contains(v.Error, "not-supported") {
		t.Errorf("update-agent (not in this version): %+v", v)
	}

	// Created while the agent is away: delivered at its next Boot.
	stopAgent(t, a)
	clear := h.createTask(t, id, "notify", fmt.Sprintf(`{"clear": %q}`, notify))
	conn := h.createTask(t, id, "test-connection", `{}`)
	a = startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
	if v := h.taskEnded(t, clear); v.State != "completed" {
		t.Errorf("notify clear at boot: %+v", v)
	}
	if _, ok := a.notifications(t)[notify]; ok {
		t.Errorf("the notification is still shown after clear")
	}
	v := h.taskEnded(t, conn)
	var res struct {
		Hub struct {
			OK bool `json:"ok"`
		} `json:"hub"`
	}
	if err := json.Unmarshal(v.Result, &res); v.State != "completed" || err != nil || !res.Hub.OK {
		t.Errorf("test-connection: %+v %s", v, v.Result)
	}
}
