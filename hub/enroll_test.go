package hub

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// IssueAgentToken never replaces what an id already has: another token, or
// the binding of an agent that booted under open enrollment.
func TestIssueAgentTokenKeepsExisting(t *testing.T) {
	h := openHub(t)
	ctx := t.Context()
	first, err := h.s.IssueAgentToken(ctx, "printer-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.IssueAgentToken(ctx, "printer-1"); !errors.Is(err, ErrAgentExists) {
		t.Fatalf("second token for printer-1: %v, want ErrAgentExists", err)
	}
	var hash []byte
	if err := h.s.db.QueryRowContext(ctx, "SELECT token_hash FROM agents WHERE id = 'printer-1'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hash, tokenHash(first)) {
		t.Error("the first token was replaced")
	}
	// An agent that booted without a token under open enrollment exists too.
	if resp := h.mustDial("").boot("corridor-2"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot: %+v", resp)
	}
	if _, err := h.s.IssueAgentToken(ctx, "corridor-2"); !errors.Is(err, ErrAgentExists) {
		t.Fatalf("token for a booted agent: %v, want ErrAgentExists", err)
	}
	if _, err := h.s.IssueAgentToken(ctx, "no spaces"); !errors.Is(err, ErrInvalidAgentID) {
		t.Fatalf("invalid id: %v, want ErrInvalidAgentID", err)
	}
}

// POST /api/v1/agents enrolls an agent: its token opens the websocket of a
// hub without open enrollment.
func TestAddAgentEndpoint(t *testing.T) {
	h := newTestHub(t, nil)
	r := h.mustStatus(h.admin(http.MethodPost, "/api/v1/agents", map[string]any{"id": "printer-1"}), http.StatusCreated)
	m := r.json(t)
	tok, _ := m["token"].(string)
	if m["id"] != "printer-1" || tok == "" || len(m) != 2 {
		t.Fatalf("answer %s", r.body)
	}
	if resp := h.mustDial(tok).boot("printer-1"); resp.Status != protocol.BootAccepted {
		t.Errorf("boot with the new token: %+v", resp)
	}
	var stored []byte
	if err := h.s.db.QueryRowContext(t.Context(), "SELECT token_hash FROM agents WHERE id = 'printer-1'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(tok)) || !bytes.Equal(stored, tokenHash(tok)) {
		t.Error("the database does not hold just the token's hash")
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"existing id", map[string]any{"id": "printer-1"}, http.StatusConflict, codeConflict},
		{"invalid id", map[string]any{"id": "no spaces"}, http.StatusBadRequest, codeBadRequest},
		{"empty id", map[string]any{"id": ""}, http.StatusBadRequest, codeBadRequest},
		{"no id", map[string]any{}, http.StatusBadRequest, codeBadRequest},
		{"unknown field", map[string]any{"id": "p2", "token": "mine"}, http.StatusBadRequest, codeBadRequest},
		{"not JSON", "id=p2", http.StatusBadRequest, codeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin(http.MethodPost, "/api/v1/agents", tc.body)
			if r.status != tc.status || r.errorCode(t) != tc.code {
				t.Errorf("status %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	if r := h.do(http.MethodPost, "/api/v1/agents", "", "application/json", bytes.NewReader([]byte(`{"id":"p3"}`))); r.status != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d", r.status)
	}
}

// AddAgent enrolls an agent in the data directory of a hub that is serving
// it; the running hub accepts the token at once.
func TestAddAgentBesideARunningHub(t *testing.T) {
	h := newTestHub(t, nil)
	tok, err := AddAgent(t.Context(), h.where(), "printer-9")
	if err != nil {
		t.Fatal(err)
	}
	if resp := h.mustDial(tok).boot("printer-9"); resp.Status != protocol.BootAccepted {
		t.Errorf("boot: %+v", resp)
	}
	if _, err := AddAgent(t.Context(), h.where(), "printer-9"); !errors.Is(err, ErrAgentExists) {
		t.Errorf("again: %v, want ErrAgentExists", err)
	}
	// A fresh directory is created private, like the hub's own.
	if _, err := AddAgent(t.Context(), StoreLocation{DataDir: t.TempDir() + "/new/hub", Database: testDatabase(t)}, "printer-1"); err != nil {
		t.Errorf("new data directory: %v", err)
	}
}
