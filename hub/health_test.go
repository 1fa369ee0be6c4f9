package hub

import (
	"net/http"
	"testing"
)

// TestHealthzReportsTheDatabase: /healthz says whether the database
// answers, and a failed admin call while it does not is a 503.
func TestHealthzReportsTheDatabase(t *testing.T) {
	h := newTestHub(t, nil)
	if r := h.do(http.MethodGet, "/healthz", "", "", nil); r.status != http.StatusOK || string(r.body) != `{"database":"ok","status":"ok"}`+"\n" {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	h.s.db.Close() // as unreachable as a database gets
	if r := h.do(http.MethodGet, "/healthz", "", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("healthz with the database gone: %d %s", r.status, r.body)
	}
	if r := h.admin(http.MethodGet, "/api/v1/users/alice", nil); r.status != http.StatusServiceUnavailable || r.json(t)["error"].(map[string]any)["code"] != "unavailable" {
		t.Errorf("admin call with the database gone: %d %s", r.status, r.body)
	}
}
